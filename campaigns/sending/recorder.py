"""Writes send results to the database in grouped commits, and journals them first.

The two statements per answer (a SendAttempt insert, a Message update) are `fastsql`'s.

Each answer is appended to a journal file (one `write` per line, so it survives `kill -9`)
before it is committed; after a crash, `replay_journals` records what the dead process heard.
"""

import json
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from campaigns.kaleyra import Outcome, SendResult
from campaigns.models import Campaign, Message, SendAttempt
from campaigns.models.rawsql import adapt_datetime
from campaigns.sending.policy import Decision, RetryPolicy, decide
from campaigns.sending.sql import insert_attempts, update_answered_messages


@dataclass(frozen=True)
class Claimed:
    """A Message claimed for sending, with what the sender needs and nothing more."""

    id: int
    to: str
    overrides: dict
    attempts: int


@dataclass(frozen=True)
class Answer:
    """One answer to record: the claimed Message, the request body and the result."""

    message: Claimed
    body: str
    result: SendResult


def retry_policy() -> RetryPolicy:
    return RetryPolicy(
        wa500_delays=tuple(settings.KALEYRA_WA500_RETRY_DELAYS),
        connect_base_delay=settings.MPM_CONNECT_RETRY_BASE_DELAY,
        connect_max_retries=settings.MPM_CONNECT_MAX_RETRIES,
    )


# Kaleyra's codes and message ids are short. One that is not is cut to its column here, where it
# is recorded (the raw answer keeps it whole), so it can never fail a whole grouped commit.
CODE_WIDTH = min(
    Message._meta.get_field("last_code").max_length,
    SendAttempt._meta.get_field("code").max_length,
)
ID_WIDTH = min(
    Message._meta.get_field("message_id").max_length,
    SendAttempt._meta.get_field("provider_message_id").max_length,
)


def record(outcomes: list[Answer], *, campaign_id: int, policy: RetryPolicy) -> list[Decision]:
    """Record a group of answers in one transaction; returns the decision for each."""
    now = timezone.now()
    stamp = adapt_datetime(now)
    attempt_rows, message_rows, decisions = [], [], []
    for item in outcomes:
        result, message = item.result, item.message
        code, provider_id = result.result_code[:CODE_WIDTH], result.message_id[:ID_WIDTH]
        attempts = message.attempts + 1
        decision = decide(result, attempts=attempts, now=now, policy=policy)
        decisions.append(decision)
        attempt_rows.append(
            (
                message.id,
                item.body,
                result.http_status,
                code,
                result.message,
                json.dumps(result.error),
                result.response_body,
                provider_id,
                result.duration_ms,
                stamp,
            )
        )
        message_rows.append(
            (
                decision.state,
                provider_id,
                code,
                decision.detail,
                attempts,
                adapt_datetime(decision.next_attempt_at),
                stamp,
                message.id,
            )
        )
    pause = next((d.pause_reason for d in decisions if d.pause_reason), "")
    with transaction.atomic(), connection.cursor() as cursor:
        insert_attempts(cursor, attempt_rows)
        update_answered_messages(cursor, message_rows)
        if pause:
            Campaign.objects.filter(pk=campaign_id, state=Campaign.State.SENDING).update(
                state=Campaign.State.PAUSED, paused_reason=pause[:300], updated_at=now
            )
    return decisions


# --- who is sending ------------------------------------------------------------------------------

HOST = socket.gethostname()
_active_runs: set[str] = set()  # this process's engine runs that are still going


def new_worker_id() -> str:
    """`host:pid:run`: written on each claimed Message, so a crash can be told from a slow run."""
    run = uuid.uuid4().hex[:12]
    _active_runs.add(run)
    return f"{HOST}:{os.getpid()}:{run}"


def worker_finished(worker_id: str):
    _active_runs.discard(worker_id.rpartition(":")[2])


def worker_alive(worker_id: str) -> bool:
    """False only when we know the worker is gone: a run of this process that ended, or a
    process of this machine that no longer exists. Other machines' workers count as alive."""
    host, _, rest = worker_id.partition(":")
    pid_text, _, run = rest.partition(":")
    if host != HOST or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return run in _active_runs
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- the journal --------------------------------------------------------------------------------


def journal_dir() -> Path:
    return Path(settings.MPM_JOURNAL_DIR)


class Journal:
    """An append-only file of one run's sends and answers for one campaign.

    "S <id>" is written just before a request's bytes are written to its connection, "A …" or "R …" when its answer arrives: after
    a crash a claimed Message with no "S" line never left (safe to queue again), and one with an
    "S" but no "R" was in flight (its outcome is unknown).
    """

    def __init__(self, campaign_id: int, worker_id: str):
        directory = journal_dir()
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{campaign_id}@{worker_id.replace(':', '@')}.jsonl"
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def sending(self, message_id: int):
        os.write(self.fd, f"S {message_id}\n".encode())

    def answered(self, item: Answer):
        r = item.result
        if r.accepted:  # the common case, kept short: "A <id> <provider message id> <ms>"
            line = f"A {item.message.id} {r.message_id} {r.duration_ms}\n"
        else:
            fields = [r.outcome.value, r.http_status, r.code, r.message, r.error, r.message_id]
            line = f"R {item.message.id} {json.dumps([*fields, r.response_body, r.duration_ms])}\n"
        os.write(self.fd, line.encode())

    def close(self, *, remove: bool):
        os.close(self.fd)
        if remove:
            self.path.unlink(missing_ok=True)


@dataclass
class JournalReplay:
    answered: dict[int, SendResult]
    sent: set[int]
    files: list[Path]


def read_dead_journals(campaign_id: int) -> JournalReplay:
    """What the finished or dead runs of this machine sent and heard for this campaign."""
    replay = JournalReplay({}, set(), [])
    directory = journal_dir()
    if not directory.is_dir():
        return replay
    for path in sorted(directory.glob(f"{campaign_id}@*.jsonl")):
        worker_id = path.stem.partition("@")[2].replace("@", ":")
        if worker_alive(worker_id):
            continue
        replay.files.append(path)
        for line in path.read_text(errors="replace").splitlines():
            kind, _, rest = line.partition(" ")
            try:
                if kind == "S":
                    replay.sent.add(int(rest))
                elif kind == "A":
                    mid, provider_id, ms = rest.split(" ")
                    replay.answered[int(mid)] = SendResult(
                        Outcome.ACCEPTED, 202, "WA202", message_id=provider_id, duration_ms=int(ms)
                    )
                elif kind == "R":
                    mid, _, data = rest.partition(" ")
                    outcome, status, code, text, error, pmid, body, ms = json.loads(data)
                    replay.answered[int(mid)] = SendResult(
                        Outcome(outcome), status, code, text, error, pmid, body, ms
                    )
            except (ValueError, TypeError):
                continue  # a line cut short by the crash: its Message counts as in flight
    return replay


def stale_before(now: datetime | None = None) -> datetime:
    """Claims older than this belong to a worker that is gone (no answer can still arrive)."""
    lease = (
        settings.KALEYRA_CONNECT_TIMEOUT + settings.KALEYRA_READ_TIMEOUT + settings.MPM_CLAIM_LEASE
    )
    return (now or timezone.now()) - timedelta(seconds=lease)
