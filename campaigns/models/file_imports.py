"""Files imported in the background (contacts, catalog feeds): the stored file, how far its dry
run or its import has got, and what the dry run found (`preview`), so a page can show progress
and a killed import can resume. Each kind is a concrete model on `FileImport`."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


def unguessable_name(prefix: str) -> str:
    """A stored file's name nobody can guess or steer (the user's name is kept apart)."""
    return f"{prefix}{secrets.token_hex(16)}.csv"


class FileImportQuerySet(models.QuerySet):
    """Each state change one conditional UPDATE, so two workers (or a double click) never run the
    same step twice; each returns how many rows moved."""

    def start_check(self, *, stalled_before) -> int:
        """Pending, or being checked by a worker that stopped writing progress (a dry run only
        reads, so it simply starts again)."""
        waiting = Q(state=FileImport.State.PENDING) | Q(
            state=FileImport.State.CHECKING, touched_at__lt=stalled_before
        )
        return self.filter(waiting).update(
            state=FileImport.State.CHECKING, touched_at=timezone.now()
        )

    def confirm(self) -> int:
        return self.filter(state=FileImport.State.CHECKED).update(
            state=FileImport.State.IMPORTING, touched_at=None
        )

    def start_import(self, *, stalled_before) -> int:
        """Confirmed and not taken yet, or taken by a worker that stopped writing progress: it
        goes on after the last chunk committed (`lines_done`)."""
        waiting = Q(touched_at=None) | Q(touched_at__lt=stalled_before)
        return self.filter(waiting, state=FileImport.State.IMPORTING).update(
            touched_at=timezone.now()
        )

    def stalled(self, before) -> "FileImportQuerySet":
        return self.filter(
            state__in=(FileImport.State.CHECKING, FileImport.State.IMPORTING),
            touched_at__lt=before,
        )


class FileImport(models.Model):
    """One file: checked (a dry run that counts what the import would do), confirmed, then
    imported in chunks; `counts` and `lines_done` are written with each chunk's rows."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        CHECKING = "checking", "Checking (dry run)"
        CHECKED = "checked", "Checked: waiting for your confirmation"
        FAILED = "failed", "Cannot be used"
        IMPORTING = "importing", "Importing"
        IMPORTED = "imported", "Imported"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    rows_read = models.PositiveIntegerField(default=0)
    # What the dry run found (counts, first errors by line, first rows, notes) …
    preview = models.JSONField(default=dict, blank=True)
    # … and what the import has done so far: the same counts, up to line `lines_done`.
    counts = models.JSONField(default=dict, blank=True)
    lines_done = models.PositiveIntegerField(default=0)
    detail = models.TextField(blank=True)  # why it failed
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The last progress write of the worker checking or importing it (None: not taken yet).
    touched_at = models.DateTimeField(null=True, blank=True)

    objects = FileImportQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.original_name} ({self.get_state_display().lower()})"

    @property
    def in_progress(self) -> bool:
        return self.state in (self.State.PENDING, self.State.CHECKING, self.State.IMPORTING)

    @property
    def percent(self) -> int:
        """How far the current step has got, by rows (the dry run's count is the whole)."""
        total = self.preview.get("rows", 0)
        if self.state == self.State.IMPORTING and total:
            return min(100, round(100 * self.counts.get("rows", 0) / total))
        return 100 if self.state in (self.State.CHECKED, self.State.IMPORTED) else 0
