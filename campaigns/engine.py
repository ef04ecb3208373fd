"""The send engine: every campaign send, from the command, the admin or a worker, runs here.

One pipeline: claim a batch in the database → build each request body → post (many in flight,
paced by the sender's rate limit) → journal each answer → record answers in grouped commits.
The database is never touched from the event loop; HTTP never runs inside a transaction.
"""

import asyncio
import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from .kaleyra import (
    KaleyraClient,
    KaleyraConfig,
    Outcome,
    SendResult,
    parse_answer,
    request_headers,
)
from .models import Campaign, Message
from .payload import MpmContent, build_request, serialize
from .ratelimit import RateLimiter, machine_limiter
from .recorder import (
    Answer,
    Claimed,
    Journal,
    read_dead_journals,
    record,
    retry_policy,
    stale_before,
)

logger = logging.getLogger(__name__)

WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"
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


def ready_filter(now) -> Q:
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)


def claim(campaign_id: int, size: int) -> list[Claimed]:
    """Flip up to `size` ready Messages to `sending` in one short transaction.

    `skip_locked` lets workers share a campaign on PostgreSQL without ever claiming the same
    row; SQLite serialises writers (IMMEDIATE transactions), which gives the same guarantee.
    """
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(ready_filter(now), campaign_id=campaign_id, is_test=False, state="queued")
            .order_by("id")
            .values_list("id", "to", "overrides", "attempts")[:size]
        )
        if rows:
            Message.objects.filter(id__in=[row[0] for row in rows]).update(
                state=Message.State.SENDING, claimed_by=WORKER_NAME, claimed_at=now, updated_at=now
            )
    return [Claimed(*row) for row in rows]


def unclaim(ids: list[int]):
    """Put claimed Messages that never left back in the queue."""
    if ids:
        Message.objects.filter(id__in=ids, state=Message.State.SENDING).update(
            state=Message.State.QUEUED, claimed_by="", updated_at=timezone.now()
        )


def request_body(content: MpmContent, message: Claimed) -> dict:
    """A Message's body; when the campaign leaves `ref` free it carries the Message's own id,
    so a callback can always be matched to its row (Kaleyra has no idempotency key)."""
    overrides = dict(message.overrides)
    if not overrides.get("ref") and not content.extra_info.get("ref"):
        overrides["ref"] = f"mpm-{message.id}"
    return build_request(content, message.to, overrides)


# --- crash recovery -----------------------------------------------------------------------------


def recover(campaign_id: int, content: MpmContent) -> dict[str, int]:
    """Settle Messages left in `sending` by workers that died, before sending anything new.

    From this machine's journals: an answer that arrived is recorded; a request that left with
    no answer becomes `unknown` (it may have been sent); a claim that never left is queued
    again. Claims of other machines older than the lease also become `unknown`.
    """
    replay = read_dead_journals(campaign_id)
    answered = {mid: (attempts, result) for mid, attempts, result in replay.answered}
    counts = {"recorded": 0, "unknown": 0, "requeued": 0}
    host = socket.gethostname()
    stuck = Message.objects.filter(campaign_id=campaign_id, state=Message.State.SENDING)
    local_dead = [
        row
        for row in stuck.filter(claimed_by__startswith=f"{host}:").values_list(
            "id", "to", "overrides", "attempts", "claimed_by"
        )
        if row[4] == WORKER_NAME or not _alive(row[4])
    ]
    to_record, unknown, requeue = [], [], []
    for mid, to, overrides, attempts, _ in local_dead:
        if mid in answered:
            claimed = Claimed(mid, to, overrides, attempts)
            body = serialize(request_body(content, claimed)).decode()
            to_record.append(Answer(claimed, body, answered[mid][1]))
        elif mid in replay.sent:
            unknown.append(mid)
        else:
            requeue.append(mid)
    if to_record:
        record(to_record, campaign_id=campaign_id, policy=retry_policy())
    unknown += list(
        stuck.exclude(claimed_by__startswith=f"{host}:")
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
    counts.update(recorded=len(to_record), unknown=len(unknown), requeued=len(requeue))
    if any(counts.values()):
        logger.warning("Campaign %s recovered after a crash: %s", campaign_id, counts)
    return counts


def _alive(worker: str) -> bool:
    pid = int(worker.rpartition(":")[2] or 0)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


# --- recording ----------------------------------------------------------------------------------


class Recorder:
    """Collects answers and commits them in groups; counts what happened for progress."""

    def __init__(self, campaign_id: int, journal: Journal, progress: SendSummary):
        self.campaign_id = campaign_id
        self.journal = journal
        self.progress = progress
        self.policy = retry_policy()
        self.pending: list[Answer] = []
        self.lock = threading.Lock()

    def put(self, answer: Answer):
        self.journal.answered(answer)
        with self.lock:
            self.pending.append(answer)

    def flush(self):
        with self.lock:
            batch, self.pending = self.pending[:RECORD_BATCH], self.pending[RECORD_BATCH:]
        if not batch:
            return
        decisions = record(batch, campaign_id=self.campaign_id, policy=self.policy)
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
        with self.lock:
            return len(self.pending)


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


# --- senders ------------------------------------------------------------------------------------


class AsyncSender:
    """Many requests in flight over one pooled aiohttp session, in an event loop thread."""

    def __init__(
        self, config: KaleyraConfig, *, concurrency: int, limiter: RateLimiter, on_send, on_answer
    ):
        self.config = config
        self.concurrency = concurrency
        self.limiter = limiter
        self.on_send = on_send
        self.on_answer = on_answer
        self.submitted = 0  # counted on the caller's thread
        self.finished = 0  # counted on the loop's thread
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.stopping = False
        self.unsent: list[int] = []
        self.thread = threading.Thread(target=self._run, name="mpm-sender", daemon=True)
        self.ready = threading.Event()
        self.thread.start()
        self.ready.wait()

    @property
    def pending(self) -> int:
        return self.submitted - self.finished

    def submit(self, items: list[tuple[Claimed, bytes]]):
        self.submitted += len(items)
        self.loop.call_soon_threadsafe(self._enqueue, items)

    def _enqueue(self, items):
        for item in items:
            self.queue.put_nowait(item)

    def stop(self) -> list[int]:
        """Stop taking new work, let requests in flight finish; returns ids never sent."""
        self.loop.call_soon_threadsafe(self._stop)
        self.thread.join()
        return self.unsent

    def drain(self):
        """Wait until everything submitted has been answered."""
        future = asyncio.run_coroutine_threadsafe(self.queue.join(), self.loop)
        future.result()

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
        self.loop.run_until_complete(self._main())
        self.loop.close()

    async def _main(self):
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self.config.connect_timeout, sock_read=self.config.read_timeout
        )
        connector = aiohttp.TCPConnector(limit=self.concurrency, ttl_dns_cache=300)
        async with aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            headers=request_headers(self.config.api_key),
            skip_auto_headers=("Accept-Encoding",),
        ) as session:
            self.ready.set()
            workers = [asyncio.create_task(self._worker(session)) for _ in range(self.concurrency)]
            await asyncio.gather(*workers)

    async def _worker(self, session: aiohttp.ClientSession):
        url = self.config.messages_url
        while True:
            item = await self.queue.get()
            if item is None:
                return
            message, body = item
            if self.stopping:
                self.unsent.append(message.id)
                self.finished += 1
                self.queue.task_done()
                continue
            try:
                delay = self.limiter.next_slot() - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.on_send(message)
                result = await post(session, url, body)
                self.on_answer(Answer(message, body.decode(), result))
            finally:
                self.finished += 1
                self.queue.task_done()


async def post(session: aiohttp.ClientSession, url: str, body: bytes) -> SendResult:
    """One POST, never retried here; every failure becomes a SendResult."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        async with session.post(url, data=body) as response:
            content = await response.read()
            return parse_answer(response.status, content, elapsed())
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
        return SendResult(Outcome.CONNECTION, duration_ms=elapsed())  # the request never left
    except (aiohttp.ClientError, TimeoutError):
        return SendResult(Outcome.TIMEOUT, duration_ms=elapsed())  # it may have reached Kaleyra


class SyncSender:
    """One request at a time with `requests`: for small sends and the `responses`-mocked tests."""

    def __init__(self, client: KaleyraClient, *, limiter: RateLimiter, on_send, on_answer):
        self.client = client
        self.limiter = limiter
        self.on_send = on_send
        self.on_answer = on_answer
        self.pending = 0
        self.concurrency = 1

    def submit(self, items: list[tuple[Claimed, bytes]]):
        for message, body in items:
            delay = self.limiter.next_slot() - time.time()
            if delay > 0:
                time.sleep(delay)
            self.on_send(message)
            self.on_answer(Answer(message, body.decode(), self.client.send(body)))

    def drain(self):
        pass

    def stop(self) -> list[int]:
        return []


# --- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOptions:
    concurrency: int = 256
    rate: float = 80
    wait_for_retries: bool = True
    transport: str = "aiohttp"  # or "requests"


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
    recover(campaign.pk, content)
    progress = SendSummary(
        total=campaign.messages.filter(
            is_test=False, state__in=[Message.State.QUEUED, Message.State.SENDING]
        ).count(),
        rate_limit=options.rate,
    )
    journal = Journal(campaign.pk)
    recorder = Recorder(campaign.pk, journal, progress)
    limiter = machine_limiter(config.sender, options.rate, settings.MPM_RATE_LIMIT_DIR)
    threaded = options.transport == "aiohttp"
    if threaded:
        recorder_thread = RecorderThread(recorder)
        recorder_thread.start()
        sender = AsyncSender(
            config,
            concurrency=options.concurrency,
            limiter=limiter,
            on_send=lambda m: journal.sending(m.id),
            on_answer=recorder.put,
        )
    else:
        sender = SyncSender(
            client or KaleyraClient(config),
            limiter=limiter,
            on_send=lambda m: journal.sending(m.id),
            on_answer=lambda answer: (recorder.put(answer), recorder.flush()),
        )
    claim_size = 1000 if not options.rate else max(10, min(1000, int(options.rate)))
    target = sender.concurrency + claim_size
    clean = False
    try:
        _loop(
            campaign.pk,
            content,
            sender,
            recorder,
            progress,
            options,
            claim_size,
            target,
            progress_callback,
        )
        sender.drain()
        clean = True
    finally:
        unclaim(sender.stop())
        if threaded:
            recorder_thread.close()
        journal.close(remove=clean)
        limiter.close()
    _finish(campaign.pk)
    if progress_callback:
        progress_callback(progress)
    return progress


def _loop(campaign_id, content, sender, recorder, progress, options, claim_size, target, callback):
    last_check = last_report = 0.0
    while True:
        now = time.monotonic()
        if progress.paused_reason:
            return
        if now - last_check >= STATE_CHECK_INTERVAL:
            last_check = now
            state = Campaign.objects.filter(pk=campaign_id).values_list("state", flat=True).first()
            if state != Campaign.State.SENDING:
                return
        if callback and now - last_report >= 0.25:
            last_report = now
            callback(progress)
        if sender.pending >= target:
            time.sleep(0.005)
            continue
        batch = claim(campaign_id, claim_size)
        if batch:
            sender.submit([(m, serialize(request_body(content, m))) for m in batch])
            continue
        if sender.pending or recorder.backlog():
            time.sleep(0.01)
            continue
        next_at = Message.objects.filter(
            campaign_id=campaign_id, is_test=False, state=Message.State.QUEUED
        ).aggregate(next_at=Min("next_attempt_at"))["next_at"]
        if next_at is None or not options.wait_for_retries:
            return
        progress.waiting_until = timezone.localtime(next_at).strftime("%H:%M:%S")
        time.sleep(min(1.0, max(0.0, (next_at - timezone.now()).total_seconds())))
        progress.waiting_until = ""
        close_old_connections()


def _finish(campaign_id: int):
    """A campaign with nothing left to send is completed; a paused or cancelled one stays so."""
    left = Message.objects.filter(
        campaign_id=campaign_id,
        is_test=False,
        state__in=[Message.State.QUEUED, Message.State.SENDING],
    ).exists()
    if not left:
        Campaign.objects.filter(pk=campaign_id, state=Campaign.State.SENDING).update(
            state=Campaign.State.COMPLETED, updated_at=timezone.now()
        )
