"""Background entry points: a worker (`manage.py db_worker`) runs campaign sends, and checks and
queues uploaded recipient files, off the web request. Each task takes ids and calls a service."""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from campaigns import services
from campaigns.catalog.importing import FeedFileError
from campaigns.models import Campaign
from campaigns.services import api, contact_imports, healing, tallies, templates, uploads
from campaigns.services.catalog_imports import CATALOG_IMPORTS, catalog_import_source


@task()
def send_campaign_task(campaign_id: int, resume: bool = False) -> str:
    """Send what is queued; when retries wait for later (e.g. WA500), come back then, and at
    once for what was queued as the run closed."""
    try:
        campaign = Campaign.objects.get(pk=campaign_id)
        summary = services.campaign_send(
            campaign, resume=resume, options=services.run_options(wait_for_retries=False)
        )
    except Campaign.DoesNotExist:
        return f"Campaign {campaign_id} no longer exists."
    except (services.CampaignNotRunnable, services.CampaignNotSendable) as exc:
        return f"Not sent: {exc}"
    next_at = services.campaign_next_due(campaign)
    # A backend that cannot defer refuses a task with `run_after`: ask it first.
    if next_at is not None and send_campaign_task.get_backend().supports_defer:
        task = healing.send_task_for(send_campaign_task, campaign_id)
        task.using(run_after=next_at).enqueue(campaign_id)
    return summary.line()


@task()
def start_scheduled_task(campaign_id: int, send_at: str) -> str:
    """A scheduled campaign's time has come: it starts sending, once, if it is still scheduled
    for exactly this time (rescheduled, cancelled or edited since: nothing happens)."""
    if not services.campaign_start_scheduled(campaign_id, datetime.fromisoformat(send_at)):
        return f"Campaign {campaign_id} is no longer scheduled for {send_at}: nothing to do."
    return send_campaign_task.call(campaign_id)


@task()
def recover_campaigns_task() -> str:
    """Continue campaigns whose worker died; comes back while any campaign is sending (booked
    first, so a worker killed during this very task does not end the chain)."""
    healing.recovery_schedule(recover_campaigns_task)
    restarted = uploads.uploads_heal(check_task=check_upload_task, queue_task=queue_upload_task)
    restarted += contact_imports.contact_imports_heal(
        check_task=check_contact_import_task, run_task=run_contact_import_task
    )
    restarted += CATALOG_IMPORTS.heal(
        check_task=check_catalog_import_task, run_task=run_catalog_import_task
    )
    tallies.tallies_compact()
    api.idempotency_purge()  # API sends book this chain; purge_idempotency_keys is for cron
    overdue = healing.scheduled_heal(start_task=start_scheduled_task)
    return (
        f"{healing.campaigns_heal(send_task=send_campaign_task)}; {restarted} upload(s) "
        f"restarted; {len(overdue)} overdue scheduled campaign(s) started"
    )


@task()
def check_upload_task(upload_id: int) -> str:
    """Check an uploaded recipients file, writing its progress as it goes."""
    return uploads.upload_check(upload_id=upload_id)


@task()
def queue_upload_task(upload_id: int) -> str:
    """Queue a confirmed upload's recipients (all, or the valid ones as it was confirmed), then
    send them as any confirmed send is."""
    campaign = uploads.upload_queue(upload_id=upload_id)
    if campaign is None:
        return f"Upload {upload_id}: nothing sent."
    if campaign.state != Campaign.State.SENDING:  # scheduled: its start sends them
        return f"Upload {upload_id} queued; the campaign is {campaign.state}."
    transaction.on_commit(lambda: send_campaign_task.enqueue(campaign.pk))
    return f"Upload {upload_id} queued; sending."


@task()
def purge_uploads_task() -> str:
    """Remove uploads left unconfirmed (booked for when each one expires)."""
    return f"{uploads.upload_purge()} upload(s) purged."


@task()
def check_contact_import_task(import_id: int) -> str:
    """The dry run of a contact import, writing its progress as it goes."""
    return contact_imports.contact_import_check(import_id=import_id)


@task()
def run_contact_import_task(import_id: int) -> str:
    """A confirmed contact import, chunk by chunk (resumed after the last committed one)."""
    return contact_imports.contact_import_run(import_id=import_id)


@task()
def check_catalog_import_task(import_id: int) -> str:
    """The dry run of a catalog feed import, writing its progress as it goes."""
    return CATALOG_IMPORTS.check(import_id=import_id)


@task()
def run_catalog_import_task(import_id: int) -> str:
    """A confirmed catalog feed import, chunk by chunk (resumed after the last committed one)."""
    return CATALOG_IMPORTS.run(import_id=import_id)


@task()
def import_catalog_feed_task(
    source: str, keep_missing: bool = False, every_hours: float = 0
) -> str:
    """A scheduled feed (`manage.py import_catalog URL --every HOURS`): imported, then booked
    again `every_hours` later (also after a failed fetch: the next one may work)."""
    if every_hours and import_catalog_feed_task.get_backend().supports_defer:
        later = timezone.now() + timedelta(hours=every_hours)
        import_catalog_feed_task.using(run_after=later).enqueue(source, keep_missing, every_hours)
    try:
        return f"{source}: {catalog_import_source(source, keep_missing=keep_missing).line()}"
    except FeedFileError as exc:
        return f"Not imported: {exc}"


@task()
def sync_templates_task() -> str:
    """Read Kaleyra's template list into our templates; comes back every
    MPM_TEMPLATE_SYNC_INTERVAL (booked first, as the recovery does, so a sync that fails or a
    worker killed during it does not end the chain)."""
    templates.template_sync_schedule(sync_templates_task)
    return templates.sync_templates().line()
