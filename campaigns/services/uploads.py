"""Recipient files uploaded in the composer: bounded, stored through Django's storage API,
checked with progress (on a worker when large), queued once confirmed, purged when left.

A million-row list takes longer to read than a web request may last, so checking and queueing
are tasks (`campaigns.tasks`, started by `services.background`); the page polls the upload's row
for progress. The file lives in `default_storage`, so any web server or worker can read it.
"""

import dataclasses
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction
from django.utils import timezone
from django_tasks.base import Task

from campaigns import conf, jsonsafe, recipients
from campaigns.models import Campaign, RecipientUpload
from campaigns.selectors import campaign_for_sending
from campaigns.services.campaigns import (
    SCHEDULE_CANCELLED,
    CampaignNotRunnable,
    campaign_queueable,
    campaign_start,
)

PROGRESS_EVERY = 20_000  # rows between two progress writes (about 0.3 s of checking)
# A check with no progress written for this long lost its worker (killed, machine gone).
STALL_AFTER = timedelta(seconds=60)
# SendPlan fields kept as columns (polled while checking); the rest of the plan goes to `plan`.
COUNTER_COLUMNS = {
    "rows_read": "rows_read",
    "invalid_count": "invalid",
    "duplicate_count": "duplicates",
    "valid_count": "valid",
}


def megabytes(size: int) -> str:
    """A size in MB, rounded up to 0.01 MB (so a file just over a limit never reads as equal)."""
    hundredths = -(-size // 10_000)
    return f"{hundredths / 100:,.2f}".rstrip("0").rstrip(".") + " MB"


def size_refusal(size: int, limit: int, *, what: str = "The file") -> str:
    """Why a file is refused for its size, in plain words ("The file is 61.2 MB; …")."""
    return (
        f"{what} is {megabytes(size)}; the limit is {megabytes(limit)}. "
        "Split the list into smaller files and send each."
    )


def upload_store(*, campaign: Campaign, owner, uploaded) -> RecipientUpload:
    """Keep an uploaded file (streamed to storage, never held in memory) until it is checked
    and confirmed; uploads left unconfirmed are purged first."""
    upload_purge()
    return RecipientUpload.objects.create(
        campaign=campaign,
        owner=owner,
        file=uploaded,
        original_name=uploaded.name[: RecipientUpload._meta.get_field("original_name").max_length],
        size=uploaded.size,
    )


def csv_of(upload: RecipientUpload) -> recipients.CsvRecipients:
    """The upload's rows, read from storage; problems name the file as its owner knows it."""
    return recipients.CsvRecipients(
        upload.file.name, storage=upload.file.storage, shown_as=upload.original_name
    )


def upload_check(*, upload_id: int) -> str:
    """Check every row of a pending upload and keep what a send would do; the counters are
    written every PROGRESS_EVERY rows so the page can show them."""
    row = RecipientUpload.objects.filter(pk=upload_id)
    if not row.start_check(stalled_before=stalled_before()):
        return f"Upload {upload_id} is gone, being checked or already checked."
    upload = RecipientUpload.objects.get(pk=upload_id)
    campaign = campaign_for_sending(upload.campaign_id)
    try:
        rows = csv_of(upload)
        plan = recipients.recipients_plan(
            campaign,
            rows,
            progress=lambda plan: row.update(touched_at=timezone.now(), **counters(plan)),
            progress_every=PROGRESS_EVERY,
        )
    except recipients.RecipientFileError as exc:
        row.update(state=RecipientUpload.State.FAILED, detail=str(exc), checked_at=timezone.now())
        upload.file.delete(save=False)
        return str(exc)
    plan.columns_note = rows.ignored_note
    row.update(
        state=RecipientUpload.State.CHECKED,
        # The invalid lines quote the file, NUL characters and all: kept shown, not as stored.
        plan=jsonsafe.storable(
            {k: v for k, v in dataclasses.asdict(plan).items() if k not in COUNTER_COLUMNS}
        ),
        checked_at=timezone.now(),
        **counters(plan),
    )
    return f"{upload.original_name}: {plan.rows_read} rows, {plan.invalid_count} invalid."


def stalled_before() -> datetime:
    return timezone.now() - STALL_AFTER


def counters(plan: recipients.SendPlan) -> dict[str, int]:
    return {column: getattr(plan, name) for name, column in COUNTER_COLUMNS.items()}


def upload_plan(upload: RecipientUpload) -> recipients.SendPlan:
    """What the check found, as the confirmation page shows it."""
    counts = {name: getattr(upload, column) for name, column in COUNTER_COLUMNS.items()}
    return recipients.SendPlan.from_stored(upload.plan, **counts)


def upload_queue(*, upload_id: int) -> Campaign | None:
    """Queue a confirmed upload's recipients (all or nothing, or the valid ones only, as it was
    confirmed; checked again as any send is) and start its campaign; the file goes once read.
    The campaign to send now, or None (the upload is then `failed`, saying why, or another
    worker is queueing it)."""
    row = RecipientUpload.objects.filter(pk=upload_id)
    if not row.start_queueing(stalled_before=stalled_before()):
        return None
    upload = row.get()
    campaign = campaign_for_sending(upload.campaign_id)
    try:
        campaign_queueable(campaign)
        report = recipients.campaign_queue_recipients(
            campaign,
            csv_of(upload),
            valid_only=upload.valid_only,
            progress=lambda: row.update(touched_at=timezone.now()),
            progress_every=PROGRESS_EVERY,
        )
        then = ""
        if not report.refused and upload.scheduled:
            then = _start_if_its_time_came(campaign)
        elif not report.refused:
            campaign_start(campaign)
        detail = queue_summary(report, then=then)
    except (recipients.RecipientFileError, CampaignNotRunnable) as exc:
        report, detail = None, f"Not sent: {exc}"
    sent = report is not None and not report.refused
    if upload.scheduled and not sent:  # nothing waits for that time: a draft again
        Campaign.objects.filter(pk=campaign.pk).unschedule()
    upload.file.delete(save=False)
    RecipientUpload.objects.filter(pk=upload_id).update(
        state=RecipientUpload.State.QUEUED if sent else RecipientUpload.State.FAILED,
        detail=detail,
    )
    return campaign if sent else None


def _start_if_its_time_came(campaign: Campaign) -> str:
    """A scheduled upload is queued before its time and its campaign's start then sends it.
    When that start came while the file was still being queued (the run may be over already),
    start again so nothing queued after it waits; when the schedule was cancelled (or the
    campaign edited) meanwhile, what was queued is skipped, as a cancel skips it."""
    state = Campaign.objects.filter(pk=campaign.pk).values_list("state", flat=True).get()
    campaign.state = state
    if state == Campaign.State.SCHEDULED:
        return "They go out at the scheduled time."
    if state == Campaign.State.DRAFT:
        campaign.messages.real().skip_queued(SCHEDULE_CANCELLED)
        return "The schedule was cancelled meanwhile: they were skipped."
    campaign_start(campaign)
    return "Its time had come: they are being sent."


def queue_summary(report: recipients.QueueReport, *, then: str = "") -> str:
    """What was queued, `then` what happens to it, then the notes (skips, duplicates)."""
    if report.refused:
        return (
            f"Nothing was sent: {report.invalid_count} recipient(s) are not valid any more. "
            "Upload the file again to see them."
        )
    queued = f"{report.queued} recipient(s) queued for sending."
    return " ".join([queued, *filter(None, [then]), *report.notes()])


def upload_purge(*, now=None) -> int:
    """Remove uploads older than MPM_UPLOAD_LIFETIME_HOURS (never one being queued): their
    rows, then their files. Returns how many went."""
    moment = (now or timezone.now()) - timedelta(hours=conf.MPM_UPLOAD_LIFETIME_HOURS)
    removed = 0
    for upload in RecipientUpload.objects.older_than(moment).only("pk", "file"):
        # Conditional, so an upload confirmed in the meantime is kept.
        if RecipientUpload.objects.filter(pk=upload.pk).older_than(moment).delete()[0]:
            removed += 1
            if upload.file:
                upload.file.delete(save=False)
    return removed


def uploads_heal(*, check_task: Task, queue_task: Task, upload_id: int | None = None) -> int:
    """Start again the checks and queueings whose worker died (no progress for STALL_AFTER):
    a check only reads, and queueing again queues nobody twice. Returns how many."""
    stalled = RecipientUpload.objects.stalled(stalled_before())
    if upload_id is not None:
        stalled = stalled.filter(pk=upload_id)
    restarted = list(stalled.values_list("pk", "state"))
    for pk, state in restarted:
        task = check_task if state == RecipientUpload.State.CHECKING else queue_task
        transaction.on_commit(partial(task.enqueue, pk))
    return len(restarted)
