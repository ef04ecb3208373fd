"""Files imported in the background, whatever they hold (contacts, catalog feeds): the file stored
through Django's storage (any web server or worker reads it), a dry run with progress, a
confirmation, the import in chunks with progress, and a worker's death healed (a dry run starts
again; an import goes on after the last chunk it committed, since that chunk's progress was
written in the same transaction).

A kind of file is a `FileImportKind`: its model, how its file is opened, how it is imported."""

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_tasks.base import Task

from campaigns import conf, jsonsafe
from campaigns.models.file_imports import FileImport

# A step with no progress written for this long lost its worker (killed, machine gone).
STALL_AFTER = timedelta(seconds=60)


def stalled_before():
    return timezone.now() - STALL_AFTER


@dataclasses.dataclass(frozen=True)
class FileImportKind:
    """`opened(job)` reads the stored file's header (raising `file_error` when it cannot be
    imported at all); `imported(opened, job, dry_run=…, after_line=…, done=…, chunk_done=…)`
    returns a report with `rows`, `errors`, `done_counts()` and `line()`."""

    model: type[FileImport]
    file_error: type[Exception]
    opened: Callable[[FileImport], Any]
    imported: Callable[..., Any]

    def store(self, *, owner, uploaded, **fields) -> FileImport:
        """Keep an uploaded file (streamed to storage) and read its header at once: a file that
        cannot be imported at all raises `file_error` and nothing is kept. Checked imports left
        unconfirmed are purged first."""
        self.purge()
        name_length = self.model._meta.get_field("original_name").max_length
        job = self.model.objects.create(
            owner=owner,
            file=uploaded,
            original_name=uploaded.name[:name_length],
            size=uploaded.size,
            **fields,
        )
        try:
            self.opened(job)
        except self.file_error:
            job.file.delete(save=False)
            job.delete()
            raise
        return job

    def purge(self, *, now=None) -> int:
        """Remove the dry runs never confirmed within MPM_UPLOAD_LIFETIME_HOURS, rows and files
        (imports done or failed stay, as a record, their files gone already). Returns how many."""
        moment = (now or timezone.now()) - timedelta(hours=conf.MPM_UPLOAD_LIFETIME_HOURS)
        checked = self.model.objects.filter(state=FileImport.State.CHECKED)
        removed = 0
        for stale in checked.filter(created_at__lt=moment).only("pk", "file"):
            # Conditional, so an import confirmed in the meantime is kept.
            if checked.filter(pk=stale.pk).delete()[0]:
                removed += 1
                stale.file.delete(save=False)
        return removed

    def fail(self, row, job: FileImport, problem: str) -> str:
        row.update(state=FileImport.State.FAILED, detail=problem, finished_at=timezone.now())
        job.file.delete(save=False)
        return problem

    def check(self, *, import_id: int) -> str:
        """The dry run: count what the import would do and keep the preview; progress (rows
        handled) is written with every chunk."""
        row = self.model.objects.filter(pk=import_id)
        if not row.start_check(stalled_before=stalled_before()):
            return f"Import {import_id} is gone, being checked or already checked."
        job = row.get()
        try:
            report = self.imported(
                self.opened(job),
                job,
                dry_run=True,
                chunk_done=lambda report, line: row.update(
                    touched_at=timezone.now(), rows_read=line
                ),
            )
        except self.file_error as exc:
            return self.fail(row, job, str(exc))
        row.update(
            state=FileImport.State.CHECKED,
            # Error lines quote the file, NUL characters and all: kept as shown, not as stored.
            preview=jsonsafe.storable(dataclasses.asdict(report)),
            rows_read=report.rows,
            touched_at=timezone.now(),
        )
        return f"{job.original_name}: {report.rows} rows, {report.errors} errors."

    def confirm(self, job: FileImport) -> bool:
        """False when it was confirmed already (a double click) or is not checked."""
        return bool(self.model.objects.filter(pk=job.pk).confirm())

    def run(self, *, import_id: int) -> str:
        """Import a confirmed file in chunks, each committed with its progress; a resumed run
        goes on after the last committed line."""
        row = self.model.objects.filter(pk=import_id)
        if not row.start_import(stalled_before=stalled_before()):
            return f"Import {import_id} is gone or being imported by another worker."
        job = row.get()

        def chunk_done(report, line):
            row.update(
                touched_at=timezone.now(),
                lines_done=line,
                counts={**report.done_counts(), "rows": line},
            )

        try:
            report = self.imported(
                self.opened(job),
                job,
                dry_run=False,
                after_line=job.lines_done,
                done={k: v for k, v in job.counts.items() if k != "rows"},
                chunk_done=chunk_done,
            )
        except self.file_error as exc:
            return self.fail(row, job, str(exc))
        row.update(
            state=FileImport.State.IMPORTED,
            counts={**report.done_counts(), "rows": report.rows},
            finished_at=timezone.now(),
        )
        job.file.delete(save=False)
        return f"{job.original_name}: {report.line()}"

    def heal(self, *, check_task: Task, run_task: Task, import_id: int | None = None) -> int:
        """Start again the dry runs and imports whose worker died (no progress for
        STALL_AFTER); returns how many."""
        stalled = self.model.objects.stalled(stalled_before())
        if import_id is not None:
            stalled = stalled.filter(pk=import_id)
        restarted = list(stalled.values_list("pk", "state"))
        for pk, state in restarted:
            task = check_task if state == FileImport.State.CHECKING else run_task
            transaction.on_commit(partial(task.enqueue, pk))
        return len(restarted)
