"""The per-token rate of the API: MPM_API_RATE calls a second on average, MPM_API_BURST at once.

A generic cell rate algorithm (the token bucket written as one timestamp per token): each call
moves the token's "theoretical arrival time" on by 1/rate, and a call that would put it more
than (burst - 1)/rate ahead of now is refused with the seconds to wait (ninja answers 429 with
Retry-After). The timestamp lives in Django's cache: per process with the default local-memory
cache, shared by every worker and machine when DJANGO_CACHE_URL names Redis. Read and write are
two cache calls, so calls racing on one token may pass a few over the burst: the rate guards
against runaway clients; it is not an exact quota.
"""

import threading
import time

from django.core.cache import cache
from ninja.throttling import BaseThrottle

from campaigns import conf


class TokenRateThrottle(BaseThrottle):
    """One instance serves every request of an operation, so the wait of a refused call is kept
    per thread, between ninja's `allow_request` and `wait` calls."""

    def __init__(self):
        self.refused = threading.local()

    def allow_request(self, request) -> bool:
        self.refused.wait = None
        token = getattr(request, "auth", None)
        if token is None:  # refused by the authentication already
            return True
        interval = 1 / conf.MPM_API_RATE
        tolerance = interval * (conf.MPM_API_BURST - 1)
        key = f"mpm-api-rate:{token.pk}"
        now = time.time()
        arrival = max(cache.get(key, now), now)
        if arrival - now > tolerance:
            self.refused.wait = arrival - now - tolerance
            return False
        cache.set(key, arrival + interval, timeout=int(tolerance + interval) + 1)
        return True

    def wait(self) -> float | None:
        return getattr(self.refused, "wait", None)
