"""Contact imports as the pages run them: the file stored through Django's storage (any web
server or worker reads it), a dry run with progress, a confirmation, the import in chunks with
progress, and a worker's death healed (a dry run starts again; an import goes on after the last
chunk it committed, since that chunk's progress was written in the same transaction)."""

import dataclasses
from datetime import timedelta
from functools import partial

from django.db import transaction
from django.utils import timezone
from django_tasks.base import Task

from campaigns import conf, jsonsafe
from campaigns.audiences.consent import Provenance
from campaigns.audiences.imports import ContactCsv, ContactFileError, contacts_import
from campaigns.models import ConsentEvent, ContactImport

# A step with no progress written for this long lost its worker (killed, machine gone).
STALL_AFTER = timedelta(seconds=60)


def stalled_before():
    return timezone.now() - STALL_AFTER


def contact_import_store(*, owner, uploaded, mode: str) -> ContactImport:
    """Keep an uploaded file (streamed to storage) and read its header line at once: a file
    that cannot be imported at all raises `ContactFileError` and nothing is kept. Checked
    imports left unconfirmed are purged first."""
    contact_imports_purge()
    contact_import = ContactImport.objects.create(
        owner=owner,
        mode=mode,
        file=uploaded,
        original_name=uploaded.name[: ContactImport._meta.get_field("original_name").max_length],
        size=uploaded.size,
    )
    try:
        csv_of(contact_import)
    except ContactFileError:
        contact_import.file.delete(save=False)
        contact_import.delete()
        raise
    return contact_import


def contact_imports_purge(*, now=None) -> int:
    """Remove the dry runs never confirmed within MPM_UPLOAD_LIFETIME_HOURS, rows and files
    (imports done or failed stay, as a record, their files gone already). Returns how many."""
    moment = (now or timezone.now()) - timedelta(hours=conf.MPM_UPLOAD_LIFETIME_HOURS)
    removed = 0
    for stale in ContactImport.objects.filter(
        state=ContactImport.State.CHECKED, created_at__lt=moment
    ).only("pk", "file"):
        # Conditional, so an import confirmed in the meantime is kept.
        if ContactImport.objects.filter(pk=stale.pk, state=ContactImport.State.CHECKED).delete()[0]:
            removed += 1
            stale.file.delete(save=False)
    return removed


def csv_of(contact_import: ContactImport) -> ContactCsv:
    return ContactCsv(
        contact_import.file.name,
        storage=contact_import.file.storage,
        shown_as=contact_import.original_name,
    )


def provenance_of(contact_import: ContactImport) -> Provenance:
    return Provenance(
        ConsentEvent.Source.IMPORT,
        ref=f"{contact_import.original_name} (import {contact_import.pk})",
        actor=contact_import.owner,
    )


def fail(row, contact_import: ContactImport, problem: str) -> str:
    row.update(state=ContactImport.State.FAILED, detail=problem, finished_at=timezone.now())
    contact_import.file.delete(save=False)
    return problem


def contact_import_check(*, import_id: int) -> str:
    """The dry run: count what the import would do and keep the preview; progress (rows
    handled) is written with every chunk."""
    row = ContactImport.objects.filter(pk=import_id)
    if not row.start_check(stalled_before=stalled_before()):
        return f"Import {import_id} is gone, being checked or already checked."
    contact_import = row.get()
    try:
        report = contacts_import(
            csv_of(contact_import),
            mode=contact_import.mode,
            provenance=provenance_of(contact_import),
            dry_run=True,
            chunk_done=lambda report, line: row.update(touched_at=timezone.now(), rows_read=line),
        )
    except ContactFileError as exc:
        return fail(row, contact_import, str(exc))
    row.update(
        state=ContactImport.State.CHECKED,
        # Error lines quote the file, NUL characters and all: kept as shown, not as stored.
        preview=jsonsafe.storable(dataclasses.asdict(report)),
        rows_read=report.rows,
        touched_at=timezone.now(),
    )
    return f"{contact_import.original_name}: {report.rows} rows, {report.errors} errors."


def contact_import_confirm(contact_import: ContactImport) -> bool:
    """False when it was confirmed already (a double click) or is not checked."""
    return bool(ContactImport.objects.filter(pk=contact_import.pk).confirm())


def contact_import_run(*, import_id: int) -> str:
    """Import a confirmed file in chunks, each committed with its progress; a resumed run
    goes on after the last committed line."""
    row = ContactImport.objects.filter(pk=import_id)
    if not row.start_import(stalled_before=stalled_before()):
        return f"Import {import_id} is gone or being imported by another worker."
    contact_import = row.get()

    def chunk_done(report, line):
        row.update(
            touched_at=timezone.now(),
            lines_done=line,
            counts={**report.done_counts(), "rows": line},
        )

    try:
        report = contacts_import(
            csv_of(contact_import),
            mode=contact_import.mode,
            provenance=provenance_of(contact_import),
            dry_run=False,
            after_line=contact_import.lines_done,
            done={k: v for k, v in contact_import.counts.items() if k != "rows"},
            chunk_done=chunk_done,
        )
    except ContactFileError as exc:
        return fail(row, contact_import, str(exc))
    row.update(
        state=ContactImport.State.IMPORTED,
        counts={**report.done_counts(), "rows": report.rows},
        finished_at=timezone.now(),
    )
    contact_import.file.delete(save=False)
    return f"{contact_import.original_name}: {report.new} new, {report.updated} updated."


def contact_imports_heal(*, check_task: Task, run_task: Task, import_id: int | None = None) -> int:
    """Start again the dry runs and imports whose worker died (no progress for STALL_AFTER);
    returns how many."""
    stalled = ContactImport.objects.stalled(stalled_before())
    if import_id is not None:
        stalled = stalled.filter(pk=import_id)
    restarted = list(stalled.values_list("pk", "state"))
    for pk, state in restarted:
        task = check_task if state == ContactImport.State.CHECKING else run_task
        transaction.on_commit(partial(task.enqueue, pk))
    return len(restarted)
