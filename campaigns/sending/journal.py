"""An append-only file per run and campaign: each send and each answer is written (one `write` per
line, so it survives `kill -9`) before the answer is committed; after a crash the next run
records what the dead one heard."""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from campaigns import conf
from campaigns.kaleyra import Outcome, SendResult
from campaigns.sending.claims import Answer


def journal_dir() -> Path:
    return Path(conf.MPM_JOURNAL_DIR)


class Journal:
    """An append-only file of one run's sends and answers for one campaign.

    "S <id>" is written just before a request's bytes are written to its connection, "A …" or
    "R …" when its answer arrives: after a crash a claimed Message with no "S" line never left
    (safe to queue again), and one with an "S" but no answer was in flight (its outcome is
    unknown).
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


def read_dead_journals(campaign_id: int, live: set[str]) -> JournalReplay:
    """What the finished or dead runs of this machine sent and heard for this campaign (`live`:
    the ids of the runs still going)."""
    replay = JournalReplay({}, set(), [])
    directory = journal_dir()
    if not directory.is_dir():
        return replay
    for path in sorted(directory.glob(f"{campaign_id}@*.jsonl")):
        worker_id = path.stem.partition("@")[2].replace("@", ":")
        if worker_id in live:
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
