"""The post step: many requests in flight from one event loop thread (uvloop where installed),
each leaving at its rate-limit slot. The loop never touches the database: answers go to the
recorder through `on_answer`, sends to the journal through `on_send`."""

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from campaigns.kaleyra import KaleyraClient, KaleyraConfig, NotSent
from campaigns.sending.claims import Answer, Claimed
from campaigns.sending.ratelimit import RateLimiter

logger = logging.getLogger(__name__)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (Linux, macOS): it serves many connections on less CPU."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


# A send starts connecting this long before its slot and writes at the slot: a new connection
# (TCP and TLS to Kaleyra, typically 50-300 ms) is open by then, a reused one waits idle at most
# this long. A connection slower than this only makes its send take a later slot, never bunch.
CONNECT_LEAD = 0.3


async def sleep_until(when: float):
    delay = when - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


class Sender:
    """`concurrency` tasks posting what `submit` hands them, each at its rate-limit slot."""

    def __init__(
        self,
        config: KaleyraConfig,
        *,
        concurrency: int,
        limiter: RateLimiter,
        on_send: Callable[[Claimed], None],
        on_answer: Callable[[Answer], None],
        should_stop: Callable[[], bool],
    ):
        self.config = config
        self.should_stop = should_stop
        self.concurrency = concurrency
        self.limiter = limiter
        self.on_send = on_send
        self.on_answer = on_answer
        self.submitted = 0  # counted on the caller's thread
        self.finished = 0  # counted on the loop's thread
        self.loop = new_event_loop()
        # Slots are reserved on a thread of their own: a reservation may wait on the database
        # (SQLite's write lock), and the requests in flight on the loop must not wait with it.
        self.reserver = ThreadPoolExecutor(1, thread_name_prefix="mpm-rate")
        self.queue: asyncio.Queue = asyncio.Queue()
        self.stopping = False
        self.unsent: list[int] = []
        self.error: BaseException | None = None  # what stopped the loop's thread, if anything
        self.thread = threading.Thread(target=self._run, name="mpm-sender", daemon=True)
        self.ready = threading.Event()
        self.thread.start()
        self.ready.wait()
        if self.error is not None:
            raise self.error

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

    def _stop(self):
        self.stopping = True
        while not self.queue.empty():
            message, _ = self.queue.get_nowait()
            self.unsent.append(message.id)
            self.finished += 1
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
            self.ready.set()
            self.loop.close()

    async def _main(self):
        client = KaleyraClient(self.config, concurrency=self.concurrency)
        self.ready.set()
        workers = [asyncio.create_task(self._worker(client)) for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            # One worker failed (say the journal cannot be written): the others stop too, and
            # what is still queued never left (`stop` hands it back).
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        finally:
            await client.close()
            self.reserver.shutdown()

    async def _next_slot(self) -> float:
        if not self.limiter.rate:  # no limit: no thread hop
            return self.limiter.next_slot()
        return await self.loop.run_in_executor(self.reserver, self.limiter.next_slot)

    async def _worker(self, client: KaleyraClient):
        while True:
            item = await self.queue.get()
            if item is None:
                return
            message, body = item
            try:
                if self.stopping or self.should_stop():
                    self.unsent.append(message.id)
                    continue
                slot = await self._next_slot()
                await sleep_until(slot - CONNECT_LEAD)
                try:
                    result = await client.send(
                        body,
                        before_write=partial(self._at_slot, slot),
                        on_write=partial(self.on_send, message),
                    )
                except NotSent:  # it stopped while this one waited
                    self.unsent.append(message.id)
                    continue
                self.on_answer(Answer(message, body.decode(), result))
            finally:
                self.finished += 1

    async def _at_slot(self, slot: float):
        """Connected (a new connection or a reused one): wait for the slot, then write."""
        await sleep_until(slot)
        if self.limiter.late(slot):  # opening took long or the loop was busy: the next slot, once
            await sleep_until(await self._next_slot())
        if self.stopping or self.should_stop():
            raise NotSent
