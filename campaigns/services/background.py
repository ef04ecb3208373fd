"""The use cases that hand work to a background worker (`campaigns.tasks`): start or resume a send,
queue recipients then send, and the pause / resume / cancel controls."""

from collections.abc import Iterable

from django.db import transaction

from campaigns import recipients
from campaigns.models import Campaign
from campaigns.services.campaigns import (
    CampaignNotRunnable,
    campaign_cancel,
    campaign_pause,
    campaign_start,
    sending_config,
)
from campaigns.tasks import send_campaign_task


def campaign_enqueue_send(campaign: Campaign, *, resume: bool = False):
    """Start (or resume) sending in the background once the current transaction commits."""
    sending_config()  # a worker could not send either: say so now
    campaign_start(campaign, resume=resume)
    transaction.on_commit(lambda: send_campaign_task.enqueue(campaign.pk))


def campaign_queue_and_send(
    campaign: Campaign, recipient_inputs: Iterable[recipients.RecipientInput]
) -> recipients.QueueReport:
    """Queue the recipients (all or nothing) and start sending in the background.

    Nothing is queued when any recipient is invalid (see `report.invalid`); raises
    `CampaignNotRunnable` when the campaign's state does not allow a send. Queueing commits in
    chunks (lists may be long), so a refused start leaves the new rows queued for a resume.
    """
    report = recipients.campaign_queue_recipients(campaign, recipient_inputs)
    if not report.invalid_count:
        campaign_enqueue_send(campaign)
    return report


def campaign_control(campaign: Campaign, *, action: str) -> tuple[bool, str]:
    """Pause, resume or cancel a campaign: (done, what to tell the user in plain words)."""
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
    raise ValueError(f"Unknown action {action!r}: use pause, resume or cancel.")
