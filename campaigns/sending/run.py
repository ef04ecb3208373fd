"""The send engine: every campaign send, from the command, the admin or a worker, runs here.

One pipeline: claim a batch in the database → build each request body → post (many in flight,
paced by the sender's rate limit) → journal each answer → record answers in grouped commits.
The database is never touched from the event loop; HTTP never runs inside a transaction.
"""

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Min
from django.utils import timezone

from campaigns.kaleyra import KaleyraClient, KaleyraConfig
from campaigns.kaleyra.concurrent import ConcurrentKaleyraClient
from campaigns.models import Campaign, Message
from campaigns.payload import BodyTemplate, MpmContent, build_request, serialize
from campaigns.sending.pacing import current_pacing_factor
from campaigns.sending.policy import pauses_campaign
from campaigns.sending.ratelimit import RateLimiter, machine_limiter
from campaigns.sending.recorder import (
    HOST,
    Answer,
    Claimed,
    Journal,
    new_worker_id,
    read_dead_journals,
    record,
    retry_policy,
    stale_before,
    worker_alive,
    worker_finished,
)
from campaigns.sending.sql import claim_messages

logger = logging.getLogger(__name__)

RECORD_BATCH = 1000
RECORD_INTERVAL = 0.2  # seconds: answers are committed well within a second of arriving
STATE_CHECK_INTERVAL = 0.5


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

    @property
    def done(self) -> int:
        return self.accepted + self.failed + self.unknown

    def line(self) -> str:
        parts = [f"accepted {self.accepted}", f"failed {self.failed}", f"skipped {self.skipped}"]
        if self.unknown:
            parts.append(f"unknown {self.unknown}")
        if self.paused_reason:
            parts.append(f"paused: {self.paused_reason}")
        return ", ".join(parts)

    @property
    def per_second(self) -> float:
        elapsed = time.monotonic() - self.started_at
        return (self.done + self.retrying) / elapsed if elapsed > 0 else 0.0


ProgressCallback = Callable[[SendSummary], None]


# --- claiming -----------------------------------------------------------------------------------


def claim(campaign_id: int, size: int, worker_id: str) -> list[Claimed]:
    """Flip up to `size` ready Messages to `sending` in one short transaction; no two workers
    ever claim the same one (`fastsql.claim_messages`)."""
    with transaction.atomic(), connection.cursor() as cursor:
        rows = claim_messages(
            cursor, campaign_id=campaign_id, size=size, worker_id=worker_id, now=timezone.now()
        )
    return [Claimed(*row) for row in rows]


def unclaim(ids: list[int]):
    """Put claimed Messages that never left back in the queue."""
    if ids:
        Message.objects.filter(id__in=ids, state=Message.State.SENDING).update(
            state=Message.State.QUEUED, claimed_by="", updated_at=timezone.now()
        )


def own_ref(message: Claimed) -> str:
    return f"mpm-{message.id}"


def request_body(content: MpmContent, message: Claimed) -> dict:
    """A Message's body; when the campaign leaves `ref` free it carries the Message's own id,
    so a callback can always be matched to its row (Kaleyra has no idempotency key)."""
    overrides = dict(message.overrides)
    if not overrides.get("ref") and not content.extra_info.get("ref"):
        overrides["ref"] = own_ref(message)
    return build_request(content, message.to, overrides)


class RequestEncoder:
    """The bytes of each Message's request: recipients without their own values share one
    `BodyTemplate` (the common case in a big send); the others are built in full."""

    def __init__(self, content: MpmContent):
        self.content = content
        self.with_own_ref = not content.extra_info.get("ref")
        self.template = BodyTemplate(content, with_ref=self.with_own_ref)

    def encode(self, message: Claimed) -> bytes:
        if message.overrides:
            return serialize(request_body(self.content, message))
        return self.template.render(message.to, own_ref(message) if self.with_own_ref else "")


# --- crash recovery -----------------------------------------------------------------------------


def recover(campaign_id: int, content: MpmContent) -> dict[str, int]:
    """Settle Messages left in `sending` by runs that died, before sending anything new.

    From this machine's journals: an answer that arrived is recorded; a request that left with
    no answer becomes `unknown` (it may have been sent); a claim that never left is queued
    again. Claims of other machines older than the lease also become `unknown`.
    """
    replay = read_dead_journals(campaign_id)
    stuck = Message.objects.filter(campaign_id=campaign_id, state=Message.State.SENDING)
    to_record, unknown, requeue = [], [], []
    rows = stuck.filter(claimed_by__startswith=f"{HOST}:").values_list(
        "id", "to", "overrides", "attempts", "claimed_by"
    )
    for mid, to, overrides, attempts, worker_id in rows:
        if worker_alive(worker_id):
            continue
        if mid in replay.answered:
            claimed = Claimed(mid, to, overrides, attempts)
            body = serialize(request_body(content, claimed)).decode()
            to_record.append(Answer(claimed, body, replay.answered[mid]))
        elif mid in replay.sent:
            unknown.append(mid)
        else:
            requeue.append(mid)
    if to_record:
        record(to_record, campaign_id=campaign_id, policy=retry_policy())
    unknown += list(
        stuck.exclude(claimed_by__startswith=f"{HOST}:")
        .filter(claimed_at__lt=stale_before())
        .values_list("id", flat=True)
    )
    Message.objects.filter(id__in=unknown, state=Message.State.SENDING).update(
        state=Message.State.UNKNOWN,
        detail="The sending process stopped while this request was in flight: it may have "
        "been sent. Resend it only after checking Kaleyra's reports.",
        updated_at=timezone.now(),
    )
    unclaim(requeue)
    for path in replay.files:
        path.unlink(missing_ok=True)
    counts = {"recorded": len(to_record), "unknown": len(unknown), "requeued": len(requeue)}
    if any(counts.values()):
        logger.warning("Campaign %s recovered after a crash: %s", campaign_id, counts)
    return counts


# --- recording ----------------------------------------------------------------------------------


class Recorder:
    """Collects answers and commits them in groups; counts what happened for progress."""

    def __init__(self, campaign_id: int, journal: Journal, progress: SendSummary):
        self.campaign_id = campaign_id
        self.journal = journal
        self.progress = progress
        self.policy = retry_policy()
        self.pending: list[Answer] = []
        self.recording = 0  # answers taken from `pending` and not yet committed
        self.lock = threading.Lock()
        # Set the moment an account-wide answer arrives, so senders stop before the commit.
        self.pause_heard = threading.Event()

    def put(self, answer: Answer):
        self.journal.answered(answer)
        if pauses_campaign(answer.result, self.policy):
            self.pause_heard.set()
        with self.lock:
            self.pending.append(answer)

    def flush(self):
        with self.lock:
            batch, self.pending = self.pending[:RECORD_BATCH], self.pending[RECORD_BATCH:]
            self.recording = len(batch)
        if not batch:
            return
        try:
            decisions = record(batch, campaign_id=self.campaign_id, policy=self.policy)
        finally:
            with self.lock:
                self.recording = 0
        for answer, decision in zip(batch, decisions, strict=True):
            if decision.state != "accepted":
                self.progress.codes[
                    answer.result.result_code or f"HTTP {answer.result.http_status}"
                ] += 1
            if decision.state == "accepted":
                self.progress.accepted += 1
            elif decision.state == "failed":
                self.progress.failed += 1
            elif decision.state == "unknown":
                self.progress.unknown += 1
            else:
                self.progress.retrying += 1
            if decision.pause_reason:
                self.progress.paused_reason = decision.pause_reason

    def backlog(self) -> int:
        """Answers not yet committed. Those being committed count too: until they are, their
        Messages are neither `sending` nor queued again, and the run must not end early."""
        with self.lock:
            return len(self.pending) + self.recording


class RecorderThread(threading.Thread):
    """Runs a Recorder's flushes on its own database connection, every RECORD_INTERVAL."""

    def __init__(self, recorder: Recorder):
        super().__init__(name="mpm-recorder", daemon=True)
        self.recorder = recorder
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self):
        try:
            while not self.stopping.wait(RECORD_INTERVAL):
                self._flush_all()
            self._flush_all()
        except BaseException as exc:  # reported by the engine; the journal still holds the answers
            self.error = exc
        finally:
            connection.close()

    def _flush_all(self):
        while self.recorder.backlog():
            self.recorder.flush()

    def close(self):
        self.stopping.set()
        self.join()
        if self.error:
            raise self.error


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (Linux, macOS): it serves many connections on less CPU."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


# --- senders ------------------------------------------------------------------------------------


class AsyncSender:
    """Many requests in flight over keep-alive connections, in an event loop thread."""

    def __init__(
        self,
        client: ConcurrentKaleyraClient,
        *,
        concurrency: int,
        limiter: RateLimiter,
        on_send,
        on_answer,
        should_stop: Callable[[], bool],
    ):
        self.client = client
        self.should_stop = should_stop
        self.concurrency = concurrency
        self.limiter = limiter
        self.on_send = on_send
        self.on_answer = on_answer
        self.submitted = 0  # counted on the caller's thread
        self.finished = 0  # counted on the loop's thread
        self.loop = new_event_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.stopping = False
        self.unsent: list[int] = []
        self.error: BaseException | None = None  # what stopped the loop's thread, if anything
        self.thread = threading.Thread(target=self._run, name="mpm-sender", daemon=True)
        self.ready = threading.Event()
        self.thread.start()
        self.ready.wait()

    @property
    def pending(self) -> int:
        """Submitted and not yet answered; raises once the loop's thread has died, so that the
        run stops (its journal kept for the next run) instead of waiting for answers forever."""
        if self.error is not None:
            raise RuntimeError(f"The sending thread stopped: {self.error!r}") from self.error
        return self.submitted - self.finished

    def submit(self, items: list[tuple[Claimed, bytes]]):
        self.submitted += len(items)
        self.loop.call_soon_threadsafe(self._enqueue, items)

    def _enqueue(self, items):
        for item in items:
            self.queue.put_nowait(item)

    def stop(self) -> list[int]:
        """Stop taking new work, let requests in flight finish; returns ids never sent."""
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop)
            self.thread.join()
        else:  # it died: what it still held never left
            while not self.queue.empty():
                message, _ = self.queue.get_nowait()
                self.unsent.append(message.id)
        return self.unsent

    def drain(self):
        """Wait until everything submitted has been answered."""
        while self.pending:
            time.sleep(0.01)

    def _stop(self):
        self.stopping = True
        while not self.queue.empty():
            message, _ = self.queue.get_nowait()
            self.unsent.append(message.id)
            self.finished += 1
            self.queue.task_done()
        for _ in range(self.concurrency):
            self.queue.put_nowait(None)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:  # e.g. the journal could not be written: the run stops
            self.error = exc
            logger.exception("The sending thread stopped")
        finally:
            self.loop.close()

    async def _main(self):
        self.ready.set()
        workers = [asyncio.create_task(self._worker()) for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            self.client.close()

    async def _worker(self):
        while True:
            item = await self.queue.get()
            if item is None:
                return
            message, body = item
            if self.stopping or self.should_stop():
                self.unsent.append(message.id)
                self.finished += 1
                self.queue.task_done()
                continue
            try:
                slot = self.limiter.next_slot()
                await sleep_until(slot)
                if self.limiter.late(slot):  # the loop was busy: take the next slot, once only
                    await sleep_until(self.limiter.next_slot())
                if self.stopping or self.should_stop():  # it stopped while this one waited
                    self.unsent.append(message.id)
                    continue
                result = await self.client.send(body, on_write=partial(self.on_send, message))
                self.on_answer(Answer(message, body.decode(), result))
            finally:
                self.finished += 1
                self.queue.task_done()


async def sleep_until(when: float):
    delay = when - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


class SyncSender:
    """One request at a time with `requests`: for small sends and the `responses`-mocked tests."""

    def __init__(
        self, client: KaleyraClient, *, limiter: RateLimiter, on_send, on_answer, should_stop
    ):
        self.should_stop = should_stop
        self.unsent: list[int] = []
        self.client = client
        self.limiter = limiter
        self.on_send = on_send
        self.on_answer = on_answer
        self.pending = 0
        self.concurrency = 1

    def submit(self, items: list[tuple[Claimed, bytes]]):
        for message, body in items:
            if self.should_stop():
                self.unsent.append(message.id)
                continue
            slot = self.limiter.next_slot()
            time.sleep(max(0.0, slot - time.time()))
            if self.limiter.late(slot):  # woke too late for it: take the next slot, once only
                time.sleep(max(0.0, self.limiter.next_slot() - time.time()))
            if self.should_stop():
                self.unsent.append(message.id)
                continue
            self.on_send(message)
            self.on_answer(Answer(message, body.decode(), self.client.send(body)))

    def drain(self):
        pass

    def stop(self) -> list[int]:
        return self.unsent


# --- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOptions:
    concurrency: int = 256
    rate: float = 80
    wait_for_retries: bool = True
    transport: str = "async"  # or "requests"


def run(
    campaign: Campaign,
    content: MpmContent,
    config: KaleyraConfig,
    options: RunOptions,
    *,
    progress_callback: ProgressCallback | None = None,
    client: KaleyraClient | None = None,
) -> SendSummary:
    """Send every ready Message of a campaign that is in the `sending` state."""
    recovered = recover(campaign.pk, content)
    summary = CampaignRun(campaign.pk, content, config, options, progress_callback, client).run()
    if recovered["unknown"]:  # in flight when an earlier run died: say so
        summary.unknown += recovered["unknown"]
        summary.codes["in flight when an earlier run stopped"] += recovered["unknown"]
    return summary


class CampaignRun:
    """One process's run over one campaign: its claims, sender, recorder and journal."""

    def __init__(self, campaign_id, content, config, options, progress_callback, client):
        # First, so that a bad URL or key is refused before any file or thread is opened.
        if options.transport == "async":
            http = ConcurrentKaleyraClient(config)
        else:
            http = client or KaleyraClient(config)
        self.campaign_id = campaign_id
        self.encoder = RequestEncoder(content)
        self.options = options
        self.callback = progress_callback
        self.worker_id = new_worker_id()
        self.progress = SendSummary(
            total=Message.objects.filter(
                campaign_id=campaign_id,
                is_test=False,
                state__in=[Message.State.QUEUED, Message.State.SENDING],
            ).count(),
            rate_limit=options.rate,
        )
        self.journal = Journal(campaign_id, self.worker_id)
        self.recorder = Recorder(campaign_id, self.journal, self.progress)
        self.limiter = machine_limiter(config.sender, options.rate, settings.MPM_RATE_LIMIT_DIR)
        self.sender_number = config.sender
        self.pacing_factor = 1.0
        self.recorder_thread = None
        # Set when the operator pauses or cancels: the senders then leave what they hold and have
        # not sent (it is queued again), as they do after an account-wide answer.
        self.stopped = threading.Event()
        if options.transport == "async":
            self.recorder_thread = RecorderThread(self.recorder)
            self.recorder_thread.start()
            self.sender = AsyncSender(
                http,
                concurrency=options.concurrency,
                limiter=self.limiter,
                on_send=self.journal_send,
                on_answer=self.recorder.put,
                should_stop=self.should_stop,
            )
        else:
            self.sender = SyncSender(
                http,
                limiter=self.limiter,
                on_send=self.journal_send,
                on_answer=self.record_now,
                should_stop=self.should_stop,
            )
        # With a rate limit, claim about a second's worth at a time: claims stay fresh.
        self.claim_size = max(10, min(1000, int(options.rate))) if options.rate else 1000
        self.target_pending = self.sender.concurrency + self.claim_size

    def should_stop(self) -> bool:
        return self.recorder.pause_heard.is_set() or self.stopped.is_set()

    def journal_send(self, message: Claimed):
        self.journal.sending(message.id)

    def record_now(self, answer: Answer):
        self.recorder.put(answer)
        self.recorder.flush()

    def run(self) -> SendSummary:
        clean = False
        try:
            self._loop()
            self.sender.drain()
            clean = True
        finally:
            unclaim(self.sender.stop())
            if self.recorder_thread:
                self.recorder_thread.close()
            else:
                self.recorder.flush()
            self.journal.close(remove=clean)
            self.limiter.close()
            worker_finished(self.worker_id)
        _finish(self.campaign_id)
        if self.callback:
            self.callback(self.progress)
        return self.progress

    def _loop(self):
        last_check = last_report = 0.0
        while not self.recorder.pause_heard.is_set():
            now = time.monotonic()
            if now - last_check >= STATE_CHECK_INTERVAL:
                last_check = now
                if self._state() != Campaign.State.SENDING:
                    self.stopped.set()
                    return
                self._follow_meta_pacing()
            if self.callback and now - last_report >= 0.25:
                last_report = now
                self.callback(self.progress)
            if self.sender.pending >= self.target_pending:
                time.sleep(0.005)
                continue
            batch = claim(self.campaign_id, self.claim_size, self.worker_id)
            if batch:
                self.sender.submit([(m, self.encoder.encode(m)) for m in batch])
                continue
            if self.sender.pending or self.recorder.backlog():
                time.sleep(0.01)
                continue
            if not self._wait_for_retry():
                return

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
        return Campaign.objects.filter(pk=self.campaign_id).values_list("state", flat=True).first()

    def _wait_for_retry(self) -> bool:
        """Sleep towards the next scheduled retry; False when there is none (or no waiting)."""
        next_at = Message.objects.filter(
            campaign_id=self.campaign_id, is_test=False, state=Message.State.QUEUED
        ).aggregate(next_at=Min("next_attempt_at"))["next_at"]
        if next_at is None or not self.options.wait_for_retries:
            return False
        self.progress.waiting_until = timezone.localtime(next_at).strftime("%H:%M:%S")
        if self.callback:
            self.callback(self.progress)
        time.sleep(min(1.0, max(0.0, (next_at - timezone.now()).total_seconds())))
        self.progress.waiting_until = ""
        # Refresh a long-idle connection, but never one the caller holds a transaction on
        # (closing it there breaks the caller's atomic block).
        if not connection.in_atomic_block:
            close_old_connections()
        return True


def skip_cancelled(campaign_id: int) -> int:
    """What is still queued in a cancelled campaign is skipped, never sent."""
    return Message.objects.filter(
        campaign_id=campaign_id, is_test=False, state=Message.State.QUEUED
    ).update(
        state=Message.State.SKIPPED,
        detail="The campaign was cancelled before this message was sent.",
        updated_at=timezone.now(),
    )


def _finish(campaign_id: int):
    """A campaign with nothing left to send is completed; a paused one stays so, and a cancelled
    one skips the claims its run handed back."""
    if Campaign.objects.filter(pk=campaign_id, state=Campaign.State.CANCELLED).exists():
        skip_cancelled(campaign_id)
        return
    left = Message.objects.filter(
        campaign_id=campaign_id,
        is_test=False,
        state__in=[Message.State.QUEUED, Message.State.SENDING],
    ).exists()
    if not left:
        Campaign.objects.filter(pk=campaign_id, state=Campaign.State.SENDING).update(
            state=Campaign.State.COMPLETED, updated_at=timezone.now()
        )
