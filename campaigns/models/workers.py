"""Which engine runs are alive: each run beats its row every few seconds, so any machine can tell
a dead run's claims from a slow one's through the database alone (no host:pid, no shared files)."""

from django.db import models

from campaigns.models.campaigns import Campaign


class WorkerHeartbeatQuerySet(models.QuerySet):
    def live(self, since):
        """Runs that beat at or after `since` (the start of the lease window)."""
        return self.filter(beat_at__gte=since)

    def dead(self, since):
        return self.filter(beat_at__lt=since)

    def beat(self, at) -> int:
        """One cheap UPDATE; 0 when the row is gone (recovery counted the run dead)."""
        return self.update(beat_at=at)


class WorkerHeartbeat(models.Model):
    worker_id = models.CharField(max_length=100, unique=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    campaign = models.ForeignKey(Campaign, null=True, on_delete=models.CASCADE, related_name="+")
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField(db_index=True)

    objects = WorkerHeartbeatQuerySet.as_manager()

    def __str__(self):
        return self.worker_id
