"""The per-sender rate limiter: no one-second window over the rate, measured with a fake clock.

Slot times are compared exactly (as fractions), so float rounding cannot hide a slot too many.
The clock starts at a realistic Unix time: the engine feeds the limiter `time.time()`.
"""

import heapq
import math
import random
from bisect import bisect_left
from collections.abc import Callable
from fractions import Fraction

import pytest

from campaigns.models import RateSlot
from campaigns.sending.ratelimit import (
    LATENESS_ALLOWANCE,
    DatabaseSlotStore,
    MemorySlotStore,
    RateLimiter,
    RedisSlotStore,
    shared_limiter,
)

START = 1_760_000_000.123456  # a Unix time in 2025: floats there have ~0.24 µs of resolution


class FakeClock:
    def __init__(self, now: float = START):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep_until(self, when: float):
        self.now = max(self.now, when)


def simulate(
    limiters: list[RateLimiter],
    clock: FakeClock,
    *,
    sends: int,
    workers: int = 64,
    latency: float = 0.05,
    lateness: Callable[[float], float] | None = None,
    recheck: bool = True,
) -> list[list[float]]:
    """Each limiter is one process with `workers` senders, run as the engine runs them. A free
    sender asks for a slot and sleeps until it, waking `lateness(slot)` late; if the limiter
    says it woke too late (and `recheck`), it takes the next slot, once, as the engine does;
    then it sends, and is free again once the answer arrives `latency` later. Returns each
    process's send times."""
    events = [(clock.now, n, w, None, False) for n in range(len(limiters)) for w in range(workers)]
    heapq.heapify(events)
    sent: list[list[float]] = [[] for _ in limiters]
    for _ in range(20 * sends):  # a livelock fails the test instead of hanging it
        if sum(map(len, sent)) == sends:
            return sent
        clock.now, n, worker, slot, rechecked = heapq.heappop(events)  # in time order
        limiter = limiters[n]
        if slot is None or (recheck and not rechecked and limiter.late(slot)):
            again = slot is not None
            slot = limiter.next_slot()
            wake = max(clock.now, slot)
            wake += lateness(wake) if lateness else 0.0
            heapq.heappush(events, (wake, n, worker, slot, again))
        else:
            sent[n].append(clock.now)
            heapq.heappush(events, (clock.now + latency, n, worker, None, False))
    pytest.fail(f"only {sum(map(len, sent))} of {sends} sends")


def stall(start: float, length: float) -> Callable[[float], float]:
    """The event loop is busy from `start` for `length` seconds: who wakes then, waits."""
    return lambda t: start + length - t if start <= t < start + length else 0.0


def busiest_second(times: list[float]) -> int:
    """The most sends in any half-open window [t, t + 1), computed exactly.

    A busiest window can always be slid right until it starts at a send, so checking the
    windows that start at each send covers every window."""
    exact = sorted(Fraction(t) for t in times)
    return max(bisect_left(exact, t + 1) - i for i, t in enumerate(exact))


def average_rate(times: list[float]) -> float:
    exact = sorted(Fraction(t) for t in times)
    return float((len(exact) - 1) / (exact[-1] - exact[0]))


def test_busiest_second_counts_a_half_open_window():
    assert busiest_second([0.0, 0.5, 0.999, 1.0]) == 3
    assert busiest_second([0.0, 1.0, 2.0]) == 1
    assert busiest_second([5.0, 5.0]) == 2


RATES = [80, 1000, 7]


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("workers", [1, 64])
def test_without_allowance_no_second_holds_more_than_the_rate_and_the_average_is_the_rate(
    rate, workers
):
    clock = FakeClock()
    limiter = RateLimiter(rate, MemorySlotStore(), clock=clock, allowance=0)

    [sent] = simulate([limiter], clock, sends=3000, workers=workers, latency=0)

    assert busiest_second(sent) == rate
    assert average_rate(sent) == pytest.approx(rate, rel=2e-5)  # MIN_STRETCH: 0.001 %
    assert sent[0] == START  # the first send does not wait


@pytest.mark.parametrize("rate", RATES)
def test_sends_up_to_the_allowance_late_never_put_more_than_the_rate_in_a_second(rate):
    clock = FakeClock()
    limiter = RateLimiter(rate, MemorySlotStore(), clock=clock)
    rng = random.Random(rate)

    def lateness(_):
        return rng.uniform(0, 0.99 * limiter.tolerance)

    [sent] = simulate([limiter], clock, sends=3000, lateness=lateness)

    assert busiest_second(sent) <= rate
    # The rate less the allowance (3 %), give or take one lateness over the ≥ 3 s run.
    assert average_rate(sent) == pytest.approx(rate / (1 + LATENESS_ALLOWANCE), rel=0.004)


@pytest.mark.parametrize("rate", [80, 1000])
@pytest.mark.parametrize("length", [0.02, 0.2])
def test_senders_woken_late_by_a_busy_loop_take_the_next_slot_and_keep_the_rate(rate, length):
    clock = FakeClock()
    limiter = RateLimiter(rate, MemorySlotStore(), clock=clock)
    busy = stall(START + 1.5, length)

    [sent] = simulate([limiter], clock, sends=4 * rate, lateness=busy)

    assert busiest_second(sent) <= rate


@pytest.mark.parametrize("rate", [80, 1000])
def test_without_the_recheck_a_busy_loop_bunches_sends_over_the_rate(rate):
    """Why the engine asks `late()`: a slot keeps the rate only if the send leaves on time.
    (A 1 % allowance, so that one 50 ms stall is enough to show it.)"""
    clock = FakeClock()
    limiter = RateLimiter(rate, MemorySlotStore(), clock=clock, allowance=0.01)
    busy = stall(START + 1.5, 0.05)

    [sent] = simulate([limiter], clock, sends=4 * rate, lateness=busy, recheck=False)

    assert busiest_second(sent) > rate
    clock = FakeClock()  # the same stall, with the recheck
    limiter = RateLimiter(rate, MemorySlotStore(), clock=clock, allowance=0.01)
    [sent] = simulate([limiter], clock, sends=4 * rate, lateness=busy)
    assert busiest_second(sent) <= rate


@pytest.mark.parametrize("rate", [80, 1000])
def test_a_machine_too_busy_to_wake_on_time_still_sends(rate):
    """Every wake 8 ms late (past the 5 ms tolerance): one new slot each, then sent anyway."""
    clock = FakeClock()
    limiter = RateLimiter(rate, MemorySlotStore(), clock=clock)

    [sent] = simulate([limiter], clock, sends=3 * rate, lateness=lambda _: 0.008)

    assert len(sent) == 3 * rate
    assert busiest_second(sent) <= rate


def test_late_means_past_half_the_allowance():
    clock = FakeClock()
    limiter = RateLimiter(80, MemorySlotStore(), clock=clock)
    slot = limiter.next_slot()
    clock.now = slot + LATENESS_ALLOWANCE / 2 - 1e-6
    assert not limiter.late(slot)
    clock.now += 2e-6
    assert limiter.late(slot)
    assert not RateLimiter(0, clock=clock).late(slot)  # no limit: never late
    assert not RateLimiter(80, clock=clock, allowance=0).late(slot)


@pytest.mark.parametrize("rate", RATES)
def test_on_time_the_average_is_the_rate_less_the_allowance_exactly(rate):
    clock = FakeClock()
    limiter = RateLimiter(rate, MemorySlotStore(), clock=clock)

    [sent] = simulate([limiter], clock, sends=3000)

    # Slots are (1 + allowance) / rate apart: a second holds ceil(rate / (1 + allowance)).
    assert busiest_second(sent) == math.ceil(rate / (1 + LATENESS_ALLOWANCE))
    # Exactly, up to the rounding of float Unix times (~2e-6 over 3,000 slots).
    assert average_rate(sent) == pytest.approx(rate / (1 + LATENESS_ALLOWANCE), rel=1e-5)


@pytest.mark.parametrize("rate", [80, 1000])
def test_a_burst_after_an_idle_spell_still_keeps_the_rate(rate):
    """Slots reserved and left unused while the sender idled are not all used at once later."""
    clock = FakeClock()
    limiter = RateLimiter(rate, MemorySlotStore(), clock=clock)
    assert limiter.block > 1
    [sent] = simulate([limiter], clock, sends=rate // 2 + 1)  # leaves most of a block unused
    clock.now = max(sent) + 0.7  # the sender had nothing to send for a while
    [burst] = simulate([limiter], clock, sends=2 * rate)

    assert busiest_second(sent + burst) <= rate


def assert_two_stores_keep_the_rate_together(make_store):
    """Two stores, each with its own connection (what two processes hold), on one sender's
    row or key, taking slots turn about with the real clock."""
    rate = 400
    first = RateLimiter(rate, make_store("+919000000001"))
    second = RateLimiter(rate, make_store("+91 90000 00001"))
    try:
        slots = [[first.next_slot(), second.next_slot()] for _ in range(300)]
    finally:
        first.close()
        second.close()
    everything = [slot for pair in slots for slot in pair]
    assert busiest_second(everything) <= rate
    assert average_rate(everything) == pytest.approx(rate / (1 + LATENESS_ALLOWANCE), rel=1e-2)


@pytest.mark.django_db(transaction=True)
def test_two_processes_sharing_the_slot_row_never_exceed_the_rate_together():
    """On PostgreSQL the slots come from the server's clock."""
    assert_two_stores_keep_the_rate_together(DatabaseSlotStore)
    assert RateSlot.objects.get().sender == "919000000001"  # one budget for one number


def test_two_processes_sharing_a_redis_key_never_exceed_the_rate_together(redis_url):
    """The same through Redis (MPM_RATE_REDIS_URL): slots by Redis's clock, one key per sender."""
    import redis

    assert_two_stores_keep_the_rate_together(lambda sender: RedisSlotStore(sender, redis_url))
    assert redis.Redis.from_url(redis_url).keys() == [b"mpm:rate-slot:919000000001"]


@pytest.mark.django_db
def test_with_a_redis_url_the_shared_limiter_uses_redis_not_the_database(settings, redis_url):
    settings.MPM_RATE_REDIS_URL = redis_url
    limiter = shared_limiter("+919000000001", 80)
    try:
        first, second = limiter.next_slot(), limiter.next_slot()
    finally:
        limiter.close()
    assert isinstance(limiter.store, RedisSlotStore)
    assert second - first == pytest.approx(limiter.interval, abs=1e-6)  # one block, spaced
    assert not RateSlot.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_on_sqlite_the_slot_row_keeps_the_rate_exactly_with_a_fake_clock():
    """SQLite takes the caller's clock (one machine), so the simulation runs through the row."""
    rate = 80
    clock = FakeClock()
    first = RateLimiter(rate, DatabaseSlotStore("+919000000001"), clock=clock)
    if first.store.db.vendor != "sqlite":
        first.close()
        pytest.skip("PostgreSQL reserves by the server's clock, not a fake one")
    second = RateLimiter(rate, DatabaseSlotStore("+919000000001"), clock=clock)
    try:
        sent = simulate([first, second], clock, sends=1000, workers=8, latency=0.15)
    finally:
        first.close()
        second.close()
    everything = sent[0] + sent[1]

    assert min(len(s) for s in sent) > 300  # both really sent
    assert len(set(everything)) == len(everything)  # never the same slot twice
    assert busiest_second(everything) <= rate
    assert average_rate(everything) == pytest.approx(rate / (1 + LATENESS_ALLOWANCE), rel=1e-3)


def test_rate_zero_never_waits():
    clock = FakeClock()
    limiter = RateLimiter(0, clock=clock)
    assert [limiter.next_slot() for _ in range(10_000)] == [START] * 10_000


@pytest.mark.django_db(transaction=True)
def test_shared_limiter_is_one_budget_per_sender():
    first = shared_limiter("+91 90000 00001", 80)
    again = shared_limiter("+919000000001", 80)
    other = shared_limiter("+919000000002", 80)
    try:
        assert first.rate == 80
        # The same sender shares one budget: the second takes the block after the first's.
        a, b = first.next_slot(), again.next_slot()
        assert b - a == pytest.approx(first.block * first.interval, abs=2e-3)
        # Another sender has its own budget, so it need not wait.
        assert other.next_slot() <= max(a, b)
        assert sorted(RateSlot.objects.values_list("sender", flat=True)) == [
            "919000000001",
            "919000000002",
        ]
    finally:
        for limiter in (first, again, other):
            limiter.close()


@pytest.mark.django_db
def test_shared_limiter_without_a_rate_never_touches_the_database():
    limiter = shared_limiter("+919000000001", 0)
    limiter.next_slot()
    assert limiter.rate == 0
    assert isinstance(limiter.store, MemorySlotStore)
    assert not RateSlot.objects.exists()
