"""The use cases that hand work to a background worker (`campaigns.tasks`): start or resume a send,
queue recipients then send, check and queue uploaded files, and the pause / resume / cancel
controls."""

from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django_tasks import TaskResultStatus
from django_tasks.base import Task

from campaigns import conf, recipients
from campaigns.models import Campaign, CatalogImport, ContactList, RecipientUpload, Segment
from campaigns.models.file_imports import FileImport
from campaigns.services import healing, templates, uploads
from campaigns.services.campaigns import (
    CampaignNotRunnable,
    campaign_cancel,
    campaign_give_up_retries,
    campaign_pause,
    campaign_queueable,
    campaign_start,
    sending_config,
)
from campaigns.services.file_imports import FileImportKind
from campaigns.tasks import (
    check_catalog_import_task,
    check_contact_import_task,
    check_upload_task,
    import_catalog_feed_task,
    purge_uploads_task,
    queue_upload_task,
    recover_campaigns_task,
    run_catalog_import_task,
    run_contact_import_task,
    send_campaign_task,
    start_scheduled_task,
    sync_templates_task,
)


def campaign_enqueue_send(campaign: Campaign, *, resume: bool = False):
    """Start (or resume) sending in the background once the current transaction commits, with
    the recovery task booked to continue it should its worker die. An always-on campaign's run
    that is open already takes what was queued: no task is added for it."""
    sending_config(campaign)  # a worker could not send either: say so now
    campaign_start(campaign, resume=resume)
    if campaign.triggered and healing.campaign_run_alive(campaign.pk):
        return

    def enqueue():
        healing.send_task_for(send_campaign_task, campaign.pk).enqueue(campaign.pk)
        healing.recovery_schedule(recover_campaigns_task)

    transaction.on_commit(enqueue)


def campaign_watch(campaign: Campaign):
    """A sending campaign someone is looking at has its recovery booked (the chain may have
    ended with a worker killed before any send booked it again)."""
    if campaign.state == Campaign.State.SENDING:
        healing.recovery_schedule(recover_campaigns_task)


def campaign_queue_and_send(
    campaign: Campaign,
    recipient_inputs: Iterable[recipients.RecipientInput],
    *,
    valid_only: bool = False,
    trigger_key: str = "",
) -> recipients.QueueReport:
    """Queue the recipients (all or nothing, or the valid ones only) and start sending in the
    background. An always-on campaign's recipients are queued for this trigger (`trigger_key`,
    an API call's key: the same key never sends twice).

    Unless `valid_only`, nothing is queued when any recipient is invalid (`report.refused`); raises
    `CampaignNotRunnable` when the campaign's state does not allow a send. Queueing commits in
    chunks (lists may be long), so a refused start leaves the new rows queued for a resume.
    """
    campaign_queueable(campaign)
    report = recipients.campaign_queue_recipients(
        campaign, recipient_inputs, valid_only=valid_only, trigger_key=trigger_key
    )
    if not report.refused:
        campaign_enqueue_send(campaign)
    return report


def campaign_schedulable(campaign: Campaign):
    """Refuse (CampaignNotRunnable) to schedule what could not start at its time."""
    campaign_queueable(campaign)
    if campaign.state not in (Campaign.State.DRAFT, Campaign.State.COMPLETED):
        raise CampaignNotRunnable(
            f"The campaign is {campaign.get_state_display().lower()}: only a draft (or a "
            "completed campaign, for new recipients) can be scheduled."
        )
    if not start_scheduled_task.get_backend().supports_defer:
        raise CampaignNotRunnable(
            "This server's task backend cannot run a task later, so nothing can be scheduled "
            "(TASKS: use the database backend, as the README's deployment does)."
        )
    sending_config(campaign)  # a worker could not send at that time either: say so now


def campaign_queue_and_schedule(
    campaign: Campaign,
    recipient_inputs: Iterable[recipients.RecipientInput],
    *,
    send_at,
    time_zone: str,
    valid_only: bool = False,
    local_time: str = "",
) -> recipients.QueueReport:
    """Queue the recipients now (checked as for a send now: all or nothing, or the valid ones)
    and book the start for `send_at`; their Messages wait in the queue until then. With
    `local_time`, each waits for that time in its recipient's own zone."""
    campaign_schedulable(campaign)
    _send_local_time(campaign, local_time)
    report = recipients.campaign_queue_recipients(campaign, recipient_inputs, valid_only=valid_only)
    if not report.refused:
        campaign_reschedule(campaign, send_at=send_at, time_zone=time_zone, local_time=local_time)
    return report


def _send_local_time(campaign: Campaign, local_time: str):
    campaign.send_local_time = local_time
    Campaign.objects.filter(pk=campaign.pk).update(send_local_time=local_time)


def campaign_reschedule(
    campaign: Campaign, *, send_at, time_zone: str, local_time: str = ""
) -> bool:
    """Book (or move) a campaign's start; the task booked for an earlier time finds the time
    changed and does nothing. Moved to one time in one zone, what waited for each recipient's
    own local time waits no more (the start is the time)."""
    if not Campaign.objects.filter(pk=campaign.pk).schedule(send_at, time_zone):
        return False
    if campaign.send_local_time and not local_time:
        campaign.messages.real().filter(state="queued", attempts=0).update(next_attempt_at=None)
    _send_local_time(campaign, local_time)
    campaign.state, campaign.send_at, campaign.send_time_zone = (
        Campaign.State.SCHEDULED,
        send_at,
        time_zone,
    )

    def enqueue():
        start_scheduled_task.using(run_after=send_at).enqueue(campaign.pk, send_at.isoformat())
        healing.recovery_schedule(recover_campaigns_task)  # heals a start that goes wrong

    transaction.on_commit(enqueue)
    return True


def campaign_send_to_audience(
    campaign: Campaign, *, contact_list: ContactList | None = None, segment: Segment | None = None
):
    """Send to a list or a segment (exactly one): it is stored on the campaign and queued by
    the send task as the send starts (`campaign_queue_audience`), never here in a request."""
    if (contact_list is None) == (segment is None):
        raise ValueError("Send to a list or to a segment: exactly one of them.")
    campaign_queueable(campaign)
    _choose_audience(campaign, contact_list, segment)
    campaign_enqueue_send(campaign)


def campaign_schedule_audience(
    campaign: Campaign,
    *,
    contact_list: ContactList | None = None,
    segment: Segment | None = None,
    send_at,
    time_zone: str,
    local_time: str = "",
):
    """Send to a list or a segment at `send_at`: the segment is evaluated then, as the send
    starts, so it holds whoever matches it at that time (with `local_time`, each contact's
    message then waits for that time in their own zone)."""
    if (contact_list is None) == (segment is None):
        raise ValueError("Schedule for a list or for a segment: exactly one of them.")
    campaign_schedulable(campaign)
    _choose_audience(campaign, contact_list, segment)
    campaign_reschedule(campaign, send_at=send_at, time_zone=time_zone, local_time=local_time)


def _choose_audience(campaign, contact_list, segment):
    campaign.audience_list, campaign.audience_segment = contact_list, segment
    Campaign.objects.filter(pk=campaign.pk).update(
        audience_list=contact_list, audience_segment=segment, audience_queued_at=None
    )


def campaign_control(campaign: Campaign, *, action: str) -> tuple[bool, str]:
    """Pause, resume, cancel, or give up waiting retries: (done, what to tell the user)."""
    if action == "pause":
        if campaign_pause(campaign):
            return True, "Paused: requests in flight finish, nothing new is sent until you resume."
        return False, "Only a sending campaign can be paused."
    if action == "resume":
        try:
            campaign_enqueue_send(campaign, resume=True)
        except CampaignNotRunnable as exc:
            return False, str(exc)
        return True, "Resumed: sending goes on in the background."
    if action == "cancel":
        skipped = campaign_cancel(campaign)
        return True, f"Cancelled: {skipped} queued message(s) will not be sent."
    if action == "give-up":
        given_up = campaign_give_up_retries(campaign)
        if not given_up:
            return False, "No message was waiting for a retry."
        return True, f"Gave up {given_up} retry(ies): those messages failed and are not sent."
    raise ValueError(f"Unknown action {action!r}: use pause, resume, cancel or give-up.")


def upload_receive(*, campaign: Campaign, owner, uploaded) -> RecipientUpload:
    """Store an uploaded recipients file and check it; its columns are checked at once
    (`RecipientFileError`, nothing kept), its rows in this request when the file is small,
    else on a worker while the page shows progress. Its purge is booked for when it expires."""
    upload = uploads.upload_store(campaign=campaign, owner=owner, uploaded=uploaded)
    try:
        uploads.csv_of(upload)
    except recipients.RecipientFileError:
        upload.file.delete(save=False)
        upload.delete()
        raise
    run_for(upload, check_upload_task)
    if purge_uploads_task.get_backend().supports_defer:
        expires = upload.created_at + timedelta(hours=conf.MPM_UPLOAD_LIFETIME_HOURS, minutes=1)
        transaction.on_commit(lambda: purge_uploads_task.using(run_after=expires).enqueue())
    upload.refresh_from_db()
    return upload


def upload_heal(upload: RecipientUpload) -> bool:
    """Start again the check or queueing of an upload whose worker died (asked by its page
    while someone waits on it; the recovery task asks for every upload); True when it was."""
    return bool(
        uploads.uploads_heal(
            check_task=check_upload_task, queue_task=queue_upload_task, upload_id=upload.pk
        )
    )


def upload_confirm(
    upload: RecipientUpload,
    *,
    valid_only: bool = False,
    send_at=None,
    time_zone: str = "",
    local_time: str = "",
) -> bool:
    """Queue a checked upload's recipients (all or nothing, or the valid ones only) and send
    them (on a worker when the file is large), or, given `send_at`, book the campaign's start
    for then and queue them now; False when it was confirmed already or is gone. Raises
    `CampaignNotRunnable` when nothing could be sent, before anything is queued."""
    sending_config(upload.campaign)
    scheduled = send_at is not None
    if scheduled:
        campaign_schedulable(upload.campaign)
    confirming = RecipientUpload.objects.filter(pk=upload.pk)
    if not confirming.confirm(valid_only=valid_only, scheduled=scheduled):
        return False
    if scheduled:  # first: the queueing reads the local time each recipient waits for
        campaign_reschedule(
            upload.campaign, send_at=send_at, time_zone=time_zone, local_time=local_time
        )
    run_for(upload, queue_upload_task)
    upload.refresh_from_db()
    return True


def import_tasks(kind: FileImportKind) -> tuple[Task, Task]:
    """The dry-run task and the import task of a kind of file."""
    if kind.model is CatalogImport:
        return check_catalog_import_task, run_catalog_import_task
    return check_contact_import_task, run_contact_import_task


def file_import_receive(kind: FileImportKind, *, owner, uploaded, **fields):
    """Store a file (`kind.file_error` when it cannot be imported at all, nothing kept) and
    start its dry run: in this request when the file is small, else on a worker."""
    job = kind.store(owner=owner, uploaded=uploaded, **fields)
    run_for(job, import_tasks(kind)[0])
    job.refresh_from_db()
    return job


def file_import_start(kind: FileImportKind, job) -> bool:
    """Import a checked file (on a worker when it is large); False when it was confirmed
    already."""
    if not kind.confirm(job):
        return False
    run_for(job, import_tasks(kind)[1])
    job.refresh_from_db()
    return True


def file_import_heal(kind: FileImportKind, job) -> bool:
    """Start again the dry run or import of a file whose worker died (asked by its page)."""
    check_task, run_task = import_tasks(kind)
    return bool(kind.heal(check_task=check_task, run_task=run_task, import_id=job.pk))


def run_for(upload: RecipientUpload | FileImport, task: Task):
    """Small files in this request (the answer is at once), larger ones on a worker, with the
    recovery task booked to start them again should that worker die."""
    if upload.size <= conf.MPM_UPLOAD_INLINE_BYTES:
        task.call(upload.pk)
        return

    def enqueue():
        task.enqueue(upload.pk)
        healing.recovery_schedule(recover_campaigns_task)

    transaction.on_commit(enqueue)


def catalog_feed_schedule(source: str, *, keep_missing: bool, hours: float) -> str:
    """Book the periodic import of a feed address on the workers, unless it is booked already
    (the task books its own next run)."""
    if not import_catalog_feed_task.get_backend().supports_defer:
        return "The task backend cannot run tasks later: run this command from cron instead."
    waiting = healing.tasks_of(import_catalog_feed_task).filter(
        status__in=(TaskResultStatus.READY, TaskResultStatus.RUNNING)
    )
    if any(result.args_kwargs["args"][:1] == [source] for result in waiting):
        return f"{source} is imported every so often already; nothing booked."
    transaction.on_commit(lambda: import_catalog_feed_task.enqueue(source, keep_missing, hours))
    return f"{source} booked: imported now on a worker, then every {hours:g} hour(s)."


def template_sync_keep_booked():
    """After a sync by hand (command or admin), the periodic sync is booked too, so templates
    keep following Kaleyra's list while a worker runs."""
    transaction.on_commit(lambda: templates.template_sync_schedule(sync_templates_task))
