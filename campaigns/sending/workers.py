"""Who is sending: each engine run has an id (`host:pid:run`, written on the Messages it claims and
naming its journal) and a heartbeat row in the database that it beats from its own thread.

A run whose beats stop (stuck, cut off from the database, or its row removed by recovery) stops
sending at half the lease, so by the time anyone counts it dead (the whole lease) nothing new can
leave it: what its journal says never left may then be queued again without a duplicate."""

import os
import socket
import time
import uuid
from datetime import datetime, timedelta

from django.utils import timezone

from campaigns import conf
from campaigns.models import WorkerHeartbeat

HOST = socket.gethostname()


def lease_start(now: datetime | None = None) -> datetime:
    """A run whose last beat is older than this is dead."""
    return (now or timezone.now()) - timedelta(seconds=conf.MPM_HEARTBEAT_LEASE)


class Heartbeat:
    """One run's liveness: `beat()` is called often and writes only when a beat is due;
    `valid()` (a clock read) is what the senders check before each request leaves."""

    def __init__(self, campaign_id: int | None):
        self.worker_id = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.interval = conf.MPM_HEARTBEAT_LEASE / 4
        self.fence = conf.MPM_HEARTBEAT_LEASE / 2
        self.last = time.monotonic()
        self.lost = False
        now = timezone.now()
        WorkerHeartbeat.objects.create(
            worker_id=self.worker_id,
            host=HOST,
            pid=os.getpid(),
            campaign_id=campaign_id,
            started_at=now,
            beat_at=now,
        )

    def beat(self):
        started = time.monotonic()  # before the write: the lease is never longer than it seems
        if self.lost or started - self.last < self.interval:
            return
        if started - self.last >= self.fence:
            # Stalled past the fence (a lock wait, a pause of the process): others may already
            # count this run dead and requeue its claims, so it never comes back to life.
            self.lost = True
            return
        row = WorkerHeartbeat.objects.filter(worker_id=self.worker_id)
        if row.live(lease_start()).beat(timezone.now()):
            self.last = started
        else:
            self.lost = True

    def valid(self) -> bool:
        """False from half the lease without a beat: nothing leaves a run others may soon count
        dead. (Machines' clocks must agree to well within the lease: keep them on NTP.)"""
        return not self.lost and time.monotonic() - self.last < self.fence

    def end(self):
        WorkerHeartbeat.objects.filter(worker_id=self.worker_id).delete()
