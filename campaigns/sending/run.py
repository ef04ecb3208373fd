"""The one send pipeline: every send, from the command, the admin, the composer, a worker or a
test send, runs here.

claim a batch in the database → build each request body → post (many in flight, paced by the
sender's rate limit) → parse the answer into a value → record answers in grouped commits →
transition each Message (and, on an account-wide answer, the campaign). The database is never
touched from the event loop; HTTP never runs inside a transaction.
"""

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import close_old_connections, connection, transaction
from django.db.models import Count, Min
from django.utils import timezone

from campaigns.kaleyra import KaleyraConfig, SendResult
from campaigns.localtime import sending_hours, zones_of
from campaigns.models import Campaign, Message, WorkerHeartbeat
from campaigns.models.tallies import tallies_compact
from campaigns.payload import MpmContent, serialize
from campaigns.sending.bodies import RequestEncoder, request_body
from campaigns.sending.claims import Answer, Claimed
from campaigns.sending.journal import Journal, read_dead_journals
from campaigns.sending.pacing import current_pacing_factor
from campaigns.sending.policy import SINGLE_EXCHANGE, Decision, RetryPolicy
from campaigns.sending.ratelimit import shared_limiter
from campaigns.sending.recorder import Recorder, record, retry_policy
from campaigns.sending.sender import Sender
from campaigns.sending.sql import claim_messages
from campaigns.sending.workers import HOST, Heartbeat, lease_start

logger = logging.getLogger(__name__)

STATE_CHECK_INTERVAL = 0.5
# An always-on campaign's run looks for newly queued Messages this often while idle.
TRIGGER_POLL_INTERVAL = 0.05
# Its sends run on their own task queue (`db_worker --queue-name triggered`): a run that stays
# open never holds up the worker that checks uploads and sends batch campaigns.
TRIGGERED_QUEUE = "triggered"
# PostgreSQL's counter deltas (`models.tallies`) of the campaign are folded in this often.
FOLD_INTERVAL = 10.0
IN_FLIGHT_DETAIL = (
    "The sending process stopped while this request was in flight: it may have been sent. "
    "Resend it only after checking Kaleyra's reports."
)


@dataclass
class SendSummary:
    """What one run did so far: for progress bars, pages and the closing summary line."""

    total: int = 0
    accepted: int = 0
    failed: int = 0
    unknown: int = 0
    retrying: int = 0
    skipped: int = 0
    codes: Counter = field(default_factory=Counter)
    started_at: float = field(default_factory=time.monotonic)
    rate_limit: float = 0
    paused_reason: str = ""
    waiting_until: str = ""
    last_result: SendResult | None = None  # the latest answer (what a test send shows)
    # At the end of a run: messages still queued for a retry, and when the first is due.
    waiting: int = 0
    waiting_codes: Counter = field(default_factory=Counter)  # their last answers
    next_attempt_at: datetime | None = None

    @property
    def done(self) -> int:
        return self.accepted + self.failed + self.unknown

    def line(self) -> str:
        parts = [f"accepted {self.accepted}", f"failed {self.failed}", f"skipped {self.skipped}"]
        if self.unknown:
            parts.append(f"unknown {self.unknown}")
        if self.waiting:
            parts.append(f"waiting for a retry {self.waiting} ({self.waiting_line()})")
        if self.paused_reason:
            parts.append(f"paused: {self.paused_reason}")
        return ", ".join(parts)

    def waiting_line(self) -> str:
        """Why the waiting messages wait, by answer, and when the next one goes."""
        reasons = "; ".join(
            f"{code or 'no answer'}: {n}" for code, n in self.waiting_codes.most_common()
        )
        when = (
            f"next attempt at {timezone.localtime(self.next_attempt_at):%Y-%m-%d %H:%M:%S}"
            if self.next_attempt_at
            else "no attempt scheduled"
        )
        return f"{reasons}; {when}" if reasons else when

    @property
    def per_second(self) -> float:
        elapsed = time.monotonic() - self.started_at
        return (self.done + self.retrying) / elapsed if elapsed > 0 else 0.0

    def count(self, answers: list[Answer], decisions: list[Decision]):
        for answer, decision in zip(answers, decisions, strict=True):
            self.last_result = answer.result
            if decision.state == Message.State.ACCEPTED:
                self.accepted += 1
                continue
            self.codes[answer.result.result_code or f"HTTP {answer.result.http_status}"] += 1
            if decision.state == Message.State.FAILED:
                self.failed += 1
            elif decision.state == Message.State.UNKNOWN:
                self.unknown += 1
            else:
                self.retrying += 1
            if decision.pause_reason:
                self.paused_reason = decision.pause_reason


ProgressCallback = Callable[[SendSummary], None]


@dataclass(frozen=True)
class RunOptions:
    concurrency: int = 256
    # Messages per second from the run's sender number (0: no limit); None until the service
    # fills in the sender's own rate (`services.campaign_send`).
    rate: float | None = 80
    wait_for_retries: bool = True
    # An always-on campaign's run stays open this many seconds with nothing to send (0: it ends
    # when nothing is left, as a batch campaign's does).
    stay_open: float = 0


@dataclass(frozen=True)
class Scope:
    """What a run sends: a campaign's queued recipients, or one test Message (one exchange, no
    retries, the campaign's state neither checked nor changed)."""

    campaign_id: int
    test_message_id: int | None = None

    @property
    def is_test(self) -> bool:
        return self.test_message_id is not None


# --- claiming -----------------------------------------------------------------------------------


def claim(scope: Scope, size: int, worker_id: str) -> list[Claimed]:
    """Flip up to `size` ready Messages to `sending` in one short transaction; no two workers
    ever claim the same one (`sql.claim_messages`)."""
    with transaction.atomic(), connection.cursor() as cursor:
        rows = claim_messages(
            cursor,
            campaign_id=scope.campaign_id,
            message_id=scope.test_message_id,
            size=size,
            worker_id=worker_id,
            now=timezone.now(),
        )
    return [Claimed(*row) for row in rows]


# --- crash recovery -----------------------------------------------------------------------------


def recover(campaign_id: int, content: MpmContent) -> dict[str, int]:
    """Settle Messages left in `sending` by runs that died, before sending anything new.

    A run is dead when its heartbeat is older than the lease (it stopped sending at half of it).
    From this machine's journals: an answer that arrived is recorded; a request that left with
    no answer becomes `unknown` (it may have been sent); a claim that never left is queued
    again. Another machine's dead run left no journal here: its claims become `unknown`.
    Every change is conditional on the dead run still holding the claim, and the campaign's row
    is locked (PostgreSQL) so that two recoveries never record one answer twice.
    """
    with transaction.atomic():
        list(Campaign.objects.select_for_update().filter(pk=campaign_id).values_list("pk"))
        since = lease_start()
        live = set(WorkerHeartbeat.objects.live(since).values_list("worker_id", flat=True))
        replay = read_dead_journals(campaign_id, live)
        stuck = Message.objects.filter(
            campaign_id=campaign_id, state=Message.State.SENDING
        ).exclude(claimed_by__in=live)
        to_record, unknown, requeue = [], [], []
        rows = stuck.filter(claimed_by__startswith=f"{HOST}:").values_list(
            "id", "to", "overrides", "attempts", "is_test"
        )
        tests = set()
        for mid, to, overrides, attempts, is_test in rows:
            if is_test:
                tests.add(mid)
            if mid in replay.answered:
                claimed = Claimed(mid, to, overrides, attempts)
                body = serialize(request_body(content, claimed)).decode()
                to_record.append(Answer(claimed, body, replay.answered[mid]))
            elif mid in replay.sent:
                unknown.append(mid)
            else:
                requeue.append(mid)
        for policy, answers in (
            (retry_policy(), [a for a in to_record if a.message.id not in tests]),
            (SINGLE_EXCHANGE, [a for a in to_record if a.message.id in tests]),
        ):
            if answers:
                record(answers, campaign_id=campaign_id, policy=policy)
        unknown += list(
            stuck.exclude(claimed_by__startswith=f"{HOST}:").values_list("id", flat=True)
        )
        stuck.mark_unknown(unknown, IN_FLIGHT_DETAIL)
        # A test send that never left is not sent later, out of the user's sight.
        stuck.mark_failed(
            [m for m in requeue if m in tests], "The test send was interrupted before it left."
        )
        stuck.requeue_unsent([m for m in requeue if m not in tests])
        # The settled runs are gone for good: a stalled one that wakes finds no row to beat.
        WorkerHeartbeat.objects.dead(since).delete()
    for path in replay.files:
        path.unlink(missing_ok=True)
    counts = {"recorded": len(to_record), "unknown": len(unknown), "requeued": len(requeue)}
    if any(counts.values()):
        logger.warning("Campaign %s recovered after a crash: %s", campaign_id, counts)
    return counts


# --- the run ------------------------------------------------------------------------------------


def run(
    campaign: Campaign,
    content: MpmContent,
    config: KaleyraConfig,
    options: RunOptions,
    *,
    progress_callback: ProgressCallback | None = None,
) -> SendSummary:
    """Send every ready Message of a campaign that is in the `sending` state."""
    recovered = recover(campaign.pk, content)
    scope = Scope(campaign.pk)
    summary = CampaignRun(scope, content, config, options, progress_callback).run()
    if recovered["unknown"]:  # in flight when an earlier run died: say so
        summary.unknown += recovered["unknown"]
        summary.codes["in flight when an earlier run stopped"] += recovered["unknown"]
    return summary


def send_test(message: Message, content: MpmContent, config: KaleyraConfig) -> SendResult:
    """Send one queued test Message through the same pipeline: one exchange, no retries, no
    pause, and no rate slot taken from the campaigns that are sending."""
    options = RunOptions(concurrency=1, rate=0, wait_for_retries=False)
    scope = Scope(message.campaign_id, test_message_id=message.pk)
    summary = CampaignRun(scope, content, config, options, None).run()
    if summary.last_result is None:
        raise RuntimeError(f"Test Message {message.pk} was not sent (was it queued?)")
    return summary.last_result


class LeaseLost(RuntimeError):
    """A run that could not beat its heartbeat in time: others may have settled its claims."""


class CampaignRun:
    """One process's run over one scope: its claims, sender, recorder and journal."""

    def __init__(self, scope: Scope, content, config, options, progress_callback):
        if options.rate is None:
            raise ValueError("RunOptions.rate must be set (the sender's rate, or 0: no limit).")
        self.scope = scope
        self.encoder = RequestEncoder(content)
        self.options = options
        self.callback = progress_callback
        self.policy: RetryPolicy = SINGLE_EXCHANGE if scope.is_test else retry_policy()
        self.heartbeat = Heartbeat(scope.campaign_id)
        self.worker_id = self.heartbeat.worker_id
        self.progress = SendSummary(total=self._total(), rate_limit=options.rate)
        self.journal = Journal(scope.campaign_id, self.worker_id)
        self.recorder = Recorder(scope.campaign_id, self.journal, self.progress, self.policy)
        self.limiter = shared_limiter(config.sender, options.rate)
        self.sender_number = config.sender
        self.pacing_factor = 1.0
        # A test send goes now; a campaign's messages only within its sending hours, if any.
        self.hours = (
            None if scope.is_test else sending_hours(Campaign.objects.get(pk=scope.campaign_id))
        )
        # Set when the operator pauses or cancels: the senders then leave what they hold and have
        # not sent (it is queued again), as they do after an account-wide answer.
        self.stopped = threading.Event()
        try:
            self.sender = Sender(
                config,
                concurrency=options.concurrency,
                limiter=self.limiter,
                on_send=self.journal_send,
                on_answer=self.recorder.put,
                should_stop=self.should_stop,
            )
        except BaseException:
            self._release(clean=True)
            raise
        # With a rate limit, claim about a second's worth at a time: claims stay fresh.
        self.claim_size = max(10, min(1000, int(options.rate))) if options.rate else 1000
        self.target_pending = self.sender.concurrency + self.claim_size
        self.idle_since: float | None = None

    def _total(self) -> int:
        if self.scope.is_test:
            return 1
        return Message.objects.real().waiting().filter(campaign_id=self.scope.campaign_id).count()

    def should_stop(self) -> bool:
        return (
            self.recorder.pause_heard.is_set()
            or self.stopped.is_set()
            or not self.heartbeat.valid()
        )

    def journal_send(self, message: Claimed):
        if not self.heartbeat.valid():  # recovery may count this run dead: nothing more leaves
            raise LeaseLost(f"Run {self.worker_id} missed its heartbeats; it stops sending.")
        self.journal.sending(message.id)

    def run(self) -> SendSummary:
        sent_all = clean = False
        try:
            self._loop()
            self._drain()
            sent_all = True
        finally:
            unsent = self.sender.stop()
            try:
                self.recorder.flush(time.monotonic())
                clean = sent_all  # every answer committed: the journal is no longer needed
            finally:
                Message.objects.filter(claimed_by=self.worker_id).requeue_unsent(unsent)
                self._release(clean=clean)
        if not self.scope.is_test:
            finish(self.scope.campaign_id)
            tallies_compact([self.scope.campaign_id])
            self.progress.next_attempt_at = next_retry_at(self.scope.campaign_id)
            waiting = (
                Message.objects.real()
                .filter(campaign_id=self.scope.campaign_id)
                .waiting_for_retry()
                .values_list("last_code")
                .annotate(n=Count("id"))
                .order_by()
            )
            self.progress.waiting_codes = Counter(dict(waiting))
            self.progress.waiting = sum(self.progress.waiting_codes.values())
        if self.callback:
            self.callback(self.progress)
        return self.progress

    def _release(self, *, clean: bool):
        self.journal.close(remove=clean)
        self.limiter.close()
        self.heartbeat.end()

    def _loop(self):
        last_check = last_report = last_fold = 0.0
        while not self.recorder.pause_heard.is_set():
            self.heartbeat.beat()
            if not self.heartbeat.valid():
                return
            now = time.monotonic()
            if not self.scope.is_test and now - last_check >= STATE_CHECK_INTERVAL:
                last_check = now
                if self._state() != Campaign.State.SENDING:
                    self.stopped.set()
                    return
                self._follow_meta_pacing()
                if now - last_fold >= FOLD_INTERVAL:
                    last_fold = now
                    tallies_compact([self.scope.campaign_id])
            if self.callback and now - last_report >= 0.25:
                last_report = now
                self.callback(self.progress)
            if self.recorder.due(now):
                self.recorder.flush(now)
            if self.sender.pending >= self.target_pending:
                time.sleep(0.005)
                continue
            batch = claim(self.scope, self.claim_size, self.worker_id)
            if batch and self.hours:
                batch = self._within_hours(batch)
                if not batch:
                    continue
            if batch:
                self.idle_since = None
                self.progress.total = max(self.progress.total, self.progress.done + len(batch))
                self.sender.submit([(m, self.encoder.encode(m)) for m in batch])
                continue
            if self.sender.pending:
                time.sleep(0.005)
                continue
            if self.recorder.backlog():
                self.recorder.flush(now)
                continue
            if not (self._wait_for_retry() or self._wait_for_trigger(now)):
                return

    def _within_hours(self, batch: list[Claimed]) -> list[Claimed]:
        """The claimed Messages whose recipients are within the sending hours now; the others
        go back in the queue until the hours open where they are (a retry due at night, a
        campaign resumed late)."""
        now = timezone.now()
        zones = zones_of([m.to for m in batch])
        ready, later = [], {}
        for message in batch:
            opens = self.hours.opens_at(now, zones[message.to])
            if opens > now:
                later.setdefault(opens, []).append(message.id)
            else:
                ready.append(message)
        for opens, ids in later.items():
            Message.objects.wait_until(ids, opens)
        return ready

    def _drain(self):
        """Wait until everything submitted has been answered, committing as answers come."""
        while self.sender.pending:
            self.heartbeat.beat()
            now = time.monotonic()
            if self.recorder.due(now):
                self.recorder.flush(now)
            time.sleep(0.005)

    def _follow_meta_pacing(self):
        """Slow down while Meta reports throughput limits (130429, 131056) for this sender."""
        if not self.options.rate:
            return
        factor = current_pacing_factor(self.sender_number)
        if factor != self.pacing_factor:
            self.pacing_factor = factor
            self.limiter.set_rate(self.options.rate * factor)
            self.progress.rate_limit = self.options.rate * factor

    def _state(self) -> str | None:
        return (
            Campaign.objects.filter(pk=self.scope.campaign_id)
            .values_list("state", flat=True)
            .first()
        )

    def _wait_for_trigger(self, now: float) -> bool:
        """An always-on campaign waits for what the API queues next; False once it has waited
        `stay_open` seconds for nothing."""
        if self.scope.is_test or not self.options.stay_open:
            return False
        if self.idle_since is None:
            self.idle_since = now
        elif now - self.idle_since >= self.options.stay_open:
            return False
        time.sleep(TRIGGER_POLL_INTERVAL)
        return True

    def _wait_for_retry(self) -> bool:
        """Sleep towards the next scheduled retry; False when there is none (or no waiting)."""
        if self.scope.is_test or not self.options.wait_for_retries:
            return False
        next_at = next_retry_at(self.scope.campaign_id)
        if next_at is None:
            return False
        self.progress.waiting_until = timezone.localtime(next_at).strftime("%H:%M:%S")
        if self.callback:
            self.callback(self.progress)
        # An always-on run looks for new triggers meanwhile; every run beats its heartbeat.
        longest = TRIGGER_POLL_INTERVAL if self.options.stay_open else 1.0
        longest = min(longest, self.heartbeat.interval)
        time.sleep(min(longest, max(0.0, (next_at - timezone.now()).total_seconds())))
        self.progress.waiting_until = ""
        # Refresh a long-idle connection, but never one the caller holds a transaction on
        # (closing it there breaks the caller's atomic block).
        if not connection.in_atomic_block:
            close_old_connections()
        return True


def next_retry_at(campaign_id: int):
    """When the earliest queued Message of a campaign may be sent (None: nothing queued)."""
    return (
        Message.objects.real()
        .filter(campaign_id=campaign_id, state=Message.State.QUEUED)
        .aggregate(next_at=Min("next_attempt_at"))["next_at"]
    )


CANCELLED_DETAIL = "The campaign was cancelled before this message was sent."


def skip_cancelled(campaign_id: int) -> int:
    """What is still queued in a cancelled campaign is skipped, never sent."""
    return Message.objects.real().filter(campaign_id=campaign_id).skip_queued(CANCELLED_DETAIL)


def finish(campaign_id: int):
    """A campaign with nothing left to send is completed (an always-on one stays open for the
    next trigger); a paused one stays so, and a cancelled one skips the claims its run handed
    back."""
    if Campaign.objects.filter(pk=campaign_id, state=Campaign.State.CANCELLED).exists():
        skip_cancelled(campaign_id)
        return
    if not Message.objects.real().waiting().filter(campaign_id=campaign_id).exists():
        Campaign.objects.filter(pk=campaign_id, triggered=False).complete()
