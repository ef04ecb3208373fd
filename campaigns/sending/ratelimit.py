"""A per-sender send rate shared by every process on every machine, through the database (or
Redis, when `MPM_RATE_REDIS_URL` is set).

Each send takes the next free time slot, slots spaced a little over 1/rate seconds apart, so no
one-second window (half-open) ever holds more than `rate` sends, even sends a little late. The
"next free slot" of each sender is one `RateSlot` row (or one Redis key), advanced by one
statement per block of slots (about 50 ms' worth), so the store sees ~20 statements a second per
process however high the rate, and none at all without a limit.

Why our own slots rather than the `limits` library: its windows count what was already sent
and answer yes or no, so the callers poll and a whole window's sends can leave in its first
millisecond (a burst Meta sees as over the rate); a slot says *when* to send, evenly spaced.
"""

import time
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connections

from campaigns import conf
from campaigns.models import RateSlot
from campaigns.sending.pacing import sender_key

TABLE = RateSlot._meta.db_table
# PostgreSQL: the server's clock, so machines whose clocks disagree still share one timeline.
# SQLite: the caller's clock (a SQLite file is only ever shared by processes on one machine).
SERVER_NOW = "extract(epoch FROM clock_timestamp())::float8"
RESERVE_SQL = {
    "postgresql": f"UPDATE {TABLE} SET next_free = greatest(next_free, {SERVER_NOW}) + %s"
    " WHERE sender = %s RETURNING next_free",
    "sqlite": f"UPDATE {TABLE} SET next_free = %s WHERE sender = %s",
}


class DatabaseSlotStore:
    """One sender's next free slot in the `RateSlot` table.

    It holds a connection of its own, in autocommit: the sender reserves from a thread of its
    own, and a reservation must neither wait for nor join the recorder's transactions."""

    def __init__(self, sender: str):
        self.sender = sender_key(sender)
        self.db = connections.create_connection(DEFAULT_DB_ALIAS)
        self.db.inc_thread_sharing()  # made here, used by the sender's thread, closed here
        with self.db.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (sender, next_free) VALUES (%s, 0)"
                " ON CONFLICT (sender) DO NOTHING",
                [self.sender],
            )
        self.sql = RESERVE_SQL[self.db.vendor]
        self.offset = clock_offset(self._server_now) if self.db.vendor == "postgresql" else 0.0

    def reserve(self, clock: Callable[[], float], count: int, interval: float) -> float:
        """Claim `count` consecutive slots starting no earlier than now; returns the first."""
        span = count * interval
        with self.db.cursor() as cursor:
            if self.db.vendor == "sqlite":
                return self._reserve_sqlite(cursor, clock, span)
            cursor.execute(self.sql, [span, self.sender])
            return cursor.fetchone()[0] - span - self.offset

    def _server_now(self) -> float:
        with self.db.cursor() as cursor:
            cursor.execute(f"SELECT {SERVER_NOW}")
            return cursor.fetchone()[0]

    def _reserve_sqlite(self, cursor, clock: Callable[[], float], span: float) -> float:
        # "Now" is read once the write lock is held: read before, a wait behind the recorder's
        # commit would hand out slots already past, which then bunch.
        cursor.execute("BEGIN IMMEDIATE")
        try:
            cursor.execute(f"SELECT next_free FROM {TABLE} WHERE sender = %s", [self.sender])
            start = max(clock(), cursor.fetchone()[0])
            cursor.execute(self.sql, [start + span, self.sender])
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")
        return start

    def close(self):
        self.db.close()


def clock_offset(server_now: Callable[[], float]) -> float:
    """The server's clock less ours, from the quickest of a few round trips (off by at most half
    of it). Measured once: read afresh at each reservation, the delay before this thread reads
    its own clock (the GIL, a busy machine) shifted blocks unevenly, and PostgreSQL runs put 84
    sends in one second at 80/s."""
    samples = []
    for _ in range(5):
        before = time.time()
        now = server_now()
        after = time.time()
        samples.append((after - before, now - (before + after) / 2))
    return min(samples)[1]


# One sender's next free slot in Redis, advanced by Redis's own clock (so machines whose clocks
# disagree share one timeline, as with PostgreSQL). Times travel as text with microseconds: a
# Lua number printed plainly keeps 14 digits, a tenth of a millisecond at Unix times.
RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local start = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
redis.call('SET', KEYS[1], string.format('%.6f', start + tonumber(ARGV[1])), 'EX', 86400)
return string.format('%.6f', start)
"""
REDIS_KEY = "mpm:rate-slot:{}"


class RedisSlotStore:
    """The same contract as `DatabaseSlotStore`, through one Redis key per sender: for teams whose
    workers share a Redis but should not add ~20 writes a second per process to the database."""

    def __init__(self, sender: str, url: str):
        import redis  # only where it is configured

        self.key = REDIS_KEY.format(sender_key(sender))
        self.redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.script = self.redis.register_script(RESERVE_LUA)
        self.offset = clock_offset(self._server_now)

    def _server_now(self) -> float:
        seconds, micros = self.redis.time()
        return seconds + micros / 1e6

    def reserve(self, clock: Callable[[], float], count: int, interval: float) -> float:
        start = self.script(keys=[self.key], args=[f"{count * interval:.9f}"])
        return float(start) - self.offset

    def close(self):
        self.redis.close()


class MemorySlotStore:
    """The same contract in memory, for one process (and tests with a fake clock)."""

    def __init__(self):
        self.next_free = 0.0

    def reserve(self, clock: Callable[[], float], count: int, interval: float) -> float:
        start = max(clock(), self.next_free)
        self.next_free = start + count * interval
        return start

    def close(self):
        pass


# Sends leave (and reach Kaleyra) a little after their slot: the event loop wakes late, the
# request is written, the network adds its share. Slots are spread so that `rate` of them span
# one second plus this allowance, so sends up to 30 ms late still never put rate + 1 in one
# second. Measured on the 2-core test machine: 1.5-3.7 ms late at the stand-in as a rule, but
# about 10 ms for a process's first request (it opens the connection) and more on a loaded
# machine, where 10 ms of allowance let one second in two runs hold rate + 1. It costs 3 % of
# the rate (80/s paces at 77.7/s).
LATENESS_ALLOWANCE = 0.030
# Float times near 1.8e9 (Unix time) resolve only ~0.24 µs, and one second's slots go through
# up to ~40 roundings: with less stretch than this (1 ns per slot was tried) rate + 1 slots fit
# in one second.
MIN_STRETCH = 1e-5


class RateLimiter:
    """Hands out send times at most `rate` per second; `rate` 0 means no limit."""

    def __init__(
        self,
        rate: float,
        store: DatabaseSlotStore | RedisSlotStore | MemorySlotStore | None = None,
        *,
        clock: Callable[[], float] = time.time,
        block: int | None = None,
        allowance: float = LATENESS_ALLOWANCE,
    ):
        self.clock = clock
        self.store = store or MemorySlotStore()
        self.allowance = allowance
        # How late a send may leave on its slot; half the allowance, the rest is the network's.
        self.tolerance = allowance / 2
        self.set_rate(rate, block=block)

    def set_rate(self, rate: float, *, block: int | None = None):
        """Change the pace (e.g. slower after Meta's 130429); slots already reserved are dropped."""
        self.rate = rate
        self.interval = (1.0 + max(self.allowance, MIN_STRETCH)) / rate if rate else 0.0
        # Reserve about 50 ms of slots at a time: few round trips, little unfairness.
        self.block = block or max(1, int(rate / 20))
        self._slots: list[float] = []

    def next_slot(self) -> float:
        """The (wall clock) time at which the caller may send; now when there is no limit."""
        now = self.clock()
        if not self.rate:
            return now
        # A slot already past is dropped, not used late: used now, it would join the sends of
        # the slots that follow it (after an idle spell, a whole block at once).
        while self._slots and self._slots[-1] < now:
            self._slots.pop()
        if not self._slots:
            start = self.store.reserve(self.clock, self.block, self.interval)
            self._slots = [start + i * self.interval for i in range(self.block)][::-1]
        return self._slots.pop()

    def late(self, slot: float) -> bool:
        """Whether a send meant for `slot` would now leave too late. A sender that woke up late
        (a busy event loop, a thread that waited for the GIL) takes the next slot instead: sent
        now, it would bunch with the sends of the slots after it. Only once per send, so that
        a machine too busy to wake on time still sends (late) rather than never."""
        return bool(self.rate and self.tolerance) and self.clock() - slot > self.tolerance

    def close(self):
        self.store.close()


def shared_limiter(sender: str, rate: float) -> RateLimiter:
    """The limiter every process on every machine shares for one sender number."""
    if not rate:
        return RateLimiter(0)
    if conf.MPM_RATE_REDIS_URL:
        return RateLimiter(rate, RedisSlotStore(sender, conf.MPM_RATE_REDIS_URL))
    return RateLimiter(rate, DatabaseSlotStore(sender))
