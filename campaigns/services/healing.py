"""Self-healing: a campaign left `sending` by a worker that died goes on with no operator.

The recovery task (`campaigns.tasks.recover_campaigns_task`) runs every `MPM_RECOVERY_INTERVAL`
while any campaign is sending: it removes the heartbeats of dead runs, settles their claims as
`send_campaign --resume` does (`sending.run.recover`), enqueues a send for every sending campaign
no live run is on, and marks the dead worker's task row failed so staff see it (admin → Task
results). Every send is still claimed in the database, so an extra send task is never a duplicate.
"""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks.base import Task
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from campaigns import conf
from campaigns.models import (
    Campaign,
    CatalogImport,
    ContactImport,
    Message,
    RecipientUpload,
    WorkerHeartbeat,
)
from campaigns.models.file_imports import FileImport
from campaigns.selectors import campaign_content, campaign_for_sending
from campaigns.sending.run import TRIGGERED_QUEUE, finish, next_retry_at, recover
from campaigns.sending.workers import lease_start

STUCK_DETAIL = (
    "The worker running this task stopped (no heartbeat within MPM_HEARTBEAT_LEASE); "
    "the recovery task settled its claims and the campaign goes on in a new task."
)


def campaigns_heal(*, send_task: Task) -> str:
    """Settle what dead runs left and continue every sending campaign no live run is on."""
    since = lease_start()
    # A run that beats again finds its row gone and stops sending (`workers.Heartbeat`).
    WorkerHeartbeat.objects.dead(since).delete()
    busy = set(
        WorkerHeartbeat.objects.live(since)
        .exclude(campaign=None)
        .values_list("campaign_id", flat=True)
    )
    orphans = Campaign.objects.filter(state=Campaign.State.SENDING).exclude(pk__in=busy)
    sends = tasks_of(send_task)
    running = Q(status=TaskResultStatus.RUNNING)
    # Queued, or started too recently for its run to have beaten yet: it will go on by itself.
    pending = sends.filter(Q(status=TaskResultStatus.READY) | running & Q(started_at__gte=since))
    continued = []
    for campaign_id in orphans.values_list("pk", flat=True):
        recover(campaign_id, campaign_content(campaign_for_sending(campaign_id)))
        sends.filter(running, started_at__lt=since, args_kwargs__args=[campaign_id]).update(
            status=TaskResultStatus.FAILED,
            finished_at=timezone.now(),
            exception_class_path="WorkerStopped",
            traceback=STUCK_DETAIL,
        )
        queued = Message.objects.real().filter(campaign_id=campaign_id, state=Message.State.QUEUED)
        if not queued.exists():
            finish(campaign_id)
        elif not pending.filter(args_kwargs__args=[campaign_id]).exists():
            next_at = next_retry_at(campaign_id)  # None: due now
            later = next_at and next_at > timezone.now() and send_task.get_backend().supports_defer
            task = send_task_for(send_task, campaign_id)
            (task.using(run_after=next_at) if later else task).enqueue(campaign_id)
            continued.append(campaign_id)
    return f"{len(continued)} campaign(s) continued after a worker stopped: {continued}"


def scheduled_heal(*, start_task: Task, now=None) -> list[int]:
    """Start the scheduled campaigns whose time passed a recovery round ago with no start task
    waiting for them (a task lost, or a worker that failed it): heal alone, once."""
    now = now or timezone.now()
    overdue = Campaign.objects.filter(
        state=Campaign.State.SCHEDULED,
        send_at__lte=now - timedelta(seconds=conf.MPM_RECOVERY_INTERVAL),
    )
    waiting = tasks_of(start_task).filter(status=TaskResultStatus.READY)
    started = []
    for campaign_id, send_at in overdue.values_list("pk", "send_at"):
        args = [campaign_id, send_at.isoformat()]
        if not waiting.filter(args_kwargs__args=args).exists():
            start_task.enqueue(*args)
            started.append(campaign_id)
    return started


def campaign_run_alive(campaign_id: int) -> bool:
    """Whether a live run (its heartbeat within the lease) is sending this campaign."""
    return WorkerHeartbeat.objects.live(lease_start()).filter(campaign_id=campaign_id).exists()


def send_task_for(send_task: Task, campaign_id: int) -> Task:
    """The send task on the queue the campaign's runs belong to: an always-on campaign's stay
    open, so they have a queue (and a worker) of their own."""
    if Campaign.objects.filter(pk=campaign_id, triggered=True).exists():
        return send_task.using(queue_name=TRIGGERED_QUEUE)
    return send_task


def tasks_of(task: Task):
    """The database backend's rows of `task` (none on other backends, which keep their own)."""
    if not isinstance(task.get_backend(), DatabaseBackend):
        return DBTaskResult.objects.none()
    return DBTaskResult.objects.filter(task_path=task.module_path)


def recovery_schedule(task: Task):
    """Book the next recovery while a campaign is sending or scheduled, or an upload or an
    imported file is being checked, queued or imported on a worker, unless one is booked
    already."""
    if not task.get_backend().supports_defer:
        return
    busy = [
        RecipientUpload.objects.filter(
            state__in=(RecipientUpload.State.CHECKING, RecipientUpload.State.QUEUEING)
        ),
        *(
            model.objects.filter(state__in=(FileImport.State.CHECKING, FileImport.State.IMPORTING))
            for model in (ContactImport, CatalogImport)
        ),
    ]
    waiting = Campaign.objects.filter(state__in=(Campaign.State.SENDING, Campaign.State.SCHEDULED))
    if not waiting.exists() and not any(files.exists() for files in busy):
        return  # nothing to heal: the next send books it again
    if tasks_of(task).filter(status=TaskResultStatus.READY).exists():
        return
    task.using(run_after=timezone.now() + timedelta(seconds=conf.MPM_RECOVERY_INTERVAL)).enqueue()
