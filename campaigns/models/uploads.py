"""Recipient files uploaded in the composer: kept through Django's storage API (so every web
server and worker sees the same files), checked in the background, confirmed, then queued."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from campaigns.models.campaigns import Campaign

UPLOAD_PREFIX = "uploads/"


def upload_name(instance, filename: str) -> str:
    """A name nobody can guess or steer (the user's file name is kept apart, for display)."""
    return f"{UPLOAD_PREFIX}{secrets.token_hex(16)}.csv"


class RecipientUploadQuerySet(models.QuerySet):
    """Each state change one conditional UPDATE, so two workers (or a double click) never check
    or queue the same upload twice; each returns how many rows moved."""

    def start_check(self, *, stalled_before=None) -> int:
        """Pending, or being checked by a worker that stopped writing progress before
        `stalled_before` (killed: the check only reads, so it simply starts again)."""
        waiting = Q(state=RecipientUpload.State.PENDING)
        if stalled_before is not None:
            waiting |= Q(state=RecipientUpload.State.CHECKING, touched_at__lt=stalled_before)
        return self.filter(waiting).update(
            state=RecipientUpload.State.CHECKING, touched_at=timezone.now()
        )

    def stalled(self, before) -> "RecipientUploadQuerySet":
        """Being checked or queued by a worker that has written no progress since `before`."""
        return self.filter(
            state__in=(RecipientUpload.State.CHECKING, RecipientUpload.State.QUEUEING),
            touched_at__lt=before,
        )

    def confirm(self, *, valid_only: bool = False, scheduled: bool = False) -> int:
        return self.filter(state=RecipientUpload.State.CHECKED).update(
            state=RecipientUpload.State.QUEUEING,
            valid_only=valid_only,
            scheduled=scheduled,
            touched_at=None,
        )

    def start_queueing(self, *, stalled_before) -> int:
        """Confirmed and not yet taken by a worker, or taken by one that stopped writing progress
        before `stalled_before` (killed: queueing again sends nothing twice, see
        `recipients.campaign_queue_recipients`)."""
        waiting = Q(touched_at=None) | Q(touched_at__lt=stalled_before)
        return self.filter(waiting, state=RecipientUpload.State.QUEUEING).update(
            touched_at=timezone.now()
        )

    def older_than(self, moment) -> "RecipientUploadQuerySet":
        """Uploads to purge: made before `moment` and not being queued right now."""
        return self.filter(created_at__lt=moment).exclude(state=RecipientUpload.State.QUEUEING)


class RecipientUpload(models.Model):
    """One uploaded recipients CSV: its stored file, how far its check has got, and what a
    send to it would do (`plan`: the first problems by line, skipped numbers, counts)."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        CHECKING = "checking", "Checking"
        CHECKED = "checked", "Checked"
        FAILED = "failed", "Cannot be used"
        QUEUEING = "queueing", "Queueing"
        QUEUED = "queued", "Queued"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="uploads")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    file = models.FileField(upload_to=upload_name, max_length=200)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    rows_read = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    valid = models.PositiveIntegerField(default=0)
    plan = models.JSONField(default=dict, blank=True)
    detail = models.TextField(blank=True)  # why it failed, or what was queued
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    # The last progress write of the worker checking or queueing it (None: not taken yet).
    touched_at = models.DateTimeField(null=True, blank=True)
    valid_only = models.BooleanField(default=False)  # confirmed as "send to the valid ones"
    # Confirmed with "schedule it for later": queued now, its campaign starts at its time.
    scheduled = models.BooleanField(default=False)

    objects = RecipientUploadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.original_name} ({self.get_state_display().lower()})"

    @property
    def in_progress(self) -> bool:
        return self.state in (self.State.PENDING, self.State.CHECKING, self.State.QUEUEING)
