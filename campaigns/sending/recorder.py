"""The record and transition steps: answers written in grouped commits (a SendAttempt insert and a
Message update each, `sending.sql`), each Message moved to the state `policy` decides, and the
campaign paused when an answer says the whole account must stop.

Answers are journalled (`sending.journal`) the moment they arrive and committed here within a
fraction of a second, on the run's own thread (the sender's event loop never touches the
database).
"""

import json
import threading

from django.db import connection, transaction
from django.utils import timezone

from campaigns import conf
from campaigns.models import Campaign, Message, SendAttempt
from campaigns.models.rawsql import adapt_datetime
from campaigns.sending.claims import Answer
from campaigns.sending.journal import Journal
from campaigns.sending.policy import Decision, RetryPolicy, decide, pauses_campaign
from campaigns.sending.sql import insert_attempts, update_answered_messages

RECORD_BATCH = 1000
RECORD_INTERVAL = 0.2  # seconds: answers are committed well within a second of arriving


def retry_policy() -> RetryPolicy:
    return RetryPolicy(
        wa500_delays=tuple(conf.KALEYRA_WA500_RETRY_DELAYS),
        connect_base_delay=conf.MPM_CONNECT_RETRY_BASE_DELAY,
        connect_max_retries=conf.MPM_CONNECT_MAX_RETRIES,
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
            Campaign.objects.filter(pk=campaign_id).pause(pause)
    return decisions


class Recorder:
    """Collects answers from the sender's thread; the run's thread commits them in groups and
    counts what happened into its summary."""

    def __init__(self, campaign_id: int, journal: Journal, summary, policy: RetryPolicy):
        self.campaign_id = campaign_id
        self.journal = journal
        self.summary = summary
        self.policy = policy
        self.pending: list[Answer] = []
        self.lock = threading.Lock()
        self.last_flush = 0.0
        # Set the moment an account-wide answer arrives, so senders stop before the commit.
        self.pause_heard = threading.Event()
        self.early_failures_checked = not policy.pause_on_account_errors  # a test send: never

    def put(self, answer: Answer):
        """Called on the sender's thread for each answer: journalled at once, committed later."""
        self.journal.answered(answer)
        if pauses_campaign(answer.result, self.policy):
            self.pause_heard.set()
        with self.lock:
            self.pending.append(answer)

    def backlog(self) -> int:
        with self.lock:
            return len(self.pending)

    def due(self, now: float) -> bool:
        backlog = self.backlog()
        return backlog >= RECORD_BATCH or (backlog and now - self.last_flush >= RECORD_INTERVAL)

    def flush(self, now: float):
        """Commit everything collected so far, in groups of RECORD_BATCH."""
        self.last_flush = now
        while True:
            with self.lock:
                batch, self.pending = self.pending[:RECORD_BATCH], self.pending[RECORD_BATCH:]
            if not batch:
                return
            decisions = record(batch, campaign_id=self.campaign_id, policy=self.policy)
            self.summary.count(batch, decisions)
            self._pause_on_early_failures()

    def _pause_on_early_failures(self):
        """Once the run's first MPM_AUTO_PAUSE_SAMPLE answers are in, more than
        MPM_AUTO_PAUSE_SHARE of them failed: a cause common to all (a wrong value, a broken
        template) is likely, so the campaign is paused before the rest go the same way."""
        sample = conf.MPM_AUTO_PAUSE_SAMPLE
        answered = self.summary.accepted + self.summary.failed
        if self.early_failures_checked or not sample or answered < sample:
            return
        self.early_failures_checked = True
        share = conf.MPM_AUTO_PAUSE_SHARE
        if self.summary.failed <= share * answered:
            return
        common = ", ".join(f"{code} ({n})" for code, n in self.summary.codes.most_common(3))
        reason = (
            f"Paused automatically: {self.summary.failed} of the first {answered} messages "
            f"failed (over {share:.0%}). Most common: {common}. Fix the cause, then resume."
        )
        if Campaign.objects.filter(pk=self.campaign_id).pause(reason):
            self.pause_heard.set()
