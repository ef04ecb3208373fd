"""A per-sender send rate shared by every process on one machine.

Each send takes the next free time slot, slots spaced a little over 1/rate seconds apart, so no
one-second window (half-open) ever holds more than `rate` sends, even sends a little late. The
"next free slot" lives in a small file under an exclusive `flock`, so workers and commands on
one machine share one budget. Processes reserve slots in small blocks to keep lock traffic low
at high rates.
"""

import fcntl
import os
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from campaigns import conf

_SLOT = struct.Struct("d")


class FileSlotStore:
    """The next free slot time (a double) in a file, read and advanced under an exclusive lock."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def reserve(self, now: float, count: int, interval: float) -> float:
        """Claim `count` consecutive slots starting no earlier than `now`; returns the first."""
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            raw = os.pread(self.fd, _SLOT.size, 0)
            next_free = _SLOT.unpack(raw)[0] if len(raw) == _SLOT.size else 0.0
            start = max(now, next_free)
            os.pwrite(self.fd, _SLOT.pack(start + count * interval), 0)
            return start
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self):
        os.close(self.fd)


class MemorySlotStore:
    """The same contract in memory, for one process (and tests with a fake clock)."""

    def __init__(self):
        self.next_free = 0.0

    def reserve(self, now: float, count: int, interval: float) -> float:
        start = max(now, self.next_free)
        self.next_free = start + count * interval
        return start

    def close(self):
        pass


# Sends leave (and reach Kaleyra) a little after their slot: the event loop wakes late, the
# request is written, the network adds its share. Slots are spread so that `rate` of them span
# one second plus this allowance, so sends up to 10 ms late still never put rate + 1 in one
# second. Measured on the 2-core test machine: 1.5-3.7 ms late at the stand-in
# (tests/test_engine.py). It costs 1 % of the rate (80/s paces at 79.2/s).
LATENESS_ALLOWANCE = 0.010
# Float times near 1.8e9 (Unix time) resolve only ~0.24 µs, and one second's slots go through
# up to ~40 roundings: with less stretch than this (1 ns per slot was tried) rate + 1 slots fit
# in one second.
MIN_STRETCH = 1e-5


class RateLimiter:
    """Hands out send times at most `rate` per second; `rate` 0 means no limit."""

    def __init__(
        self,
        rate: float,
        store: FileSlotStore | MemorySlotStore | None = None,
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
        # Reserve about 50 ms of slots at a time: few lock round-trips, little unfairness.
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
            start = self.store.reserve(now, self.block, self.interval)
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


def machine_limiter(sender: str, rate: float) -> RateLimiter:
    """The limiter every process on this machine shares for one sender number."""
    if not rate:
        return RateLimiter(0)
    base = Path(conf.MPM_RATE_LIMIT_DIR or tempfile.gettempdir()) / "mpm-rate"
    name = "".join(ch for ch in sender if ch.isalnum()) or "default"
    return RateLimiter(rate, FileSlotStore(base / f"{name}.slot"))
