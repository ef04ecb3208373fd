"""The use cases: check a campaign, preview it, send it (test, whole, pause, resume, cancel).

Views, the admin, the management command and background tasks all call these functions (and
`recipients` to queue who gets it); none of them builds a payload or talks HTTP itself. Every
campaign send runs through `engine`.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from campaigns import validation
from campaigns.kaleyra import KaleyraClient, KaleyraConfig, config_from_settings
from campaigns.kaleyra.concurrent import ConcurrentKaleyraClient
from campaigns.models import Campaign, Message
from campaigns.payload import MpmContent, pretty, serialize
from campaigns.recipients import normalise_phone
from campaigns.selectors import campaign_content, campaign_for_sending
from campaigns.sending import run as engine
from campaigns.sending.policy import SINGLE_EXCHANGE
from campaigns.sending.recorder import Answer, Claimed, record
from campaigns.sending.run import ProgressCallback, RunOptions, SendSummary

SAMPLE_RECIPIENT = "+919876543210"


class CampaignNotSendable(Exception):
    """The campaign breaks at least one rule; nothing was sent."""

    def __init__(self, problems: list[validation.Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def campaign_check(campaign: Campaign) -> list[validation.Problem]:
    return validation.campaign_problems(campaign)


def campaign_preview(campaign: Campaign, *, to: str = SAMPLE_RECIPIENT) -> str:
    """The request body (pretty-printed) the engine would send to `to`; never the key.

    Where the campaign leaves `ref` empty, each message carries its own id there; the preview
    shows that placeholder."""
    return content_preview(campaign_content(campaign), to=to)


def content_preview(content: MpmContent, *, to: str = SAMPLE_RECIPIENT) -> str:
    """`campaign_preview` for content that may not be saved yet (the composer's live preview)."""
    sample = Claimed("<message id>", to, {}, 0)
    return pretty(engine.request_body(content, sample))


# --- sending ------------------------------------------------------------------------------------


class CampaignNotRunnable(Exception):
    """The campaign's state (e.g. paused or cancelled) or Kaleyra's settings do not allow this."""


def sending_config() -> KaleyraConfig:
    """Kaleyra's settings, checked before anything starts or is recorded: a missing sender, an
    unknown region, a URL or key the engine's client cannot send with is CampaignNotRunnable."""
    try:
        config = config_from_settings()
        ConcurrentKaleyraClient(config)  # refuses what it could not send with
    except ImproperlyConfigured as exc:
        raise CampaignNotRunnable(f"Sending is not configured: {exc}") from None
    return config


def run_options(**overrides) -> RunOptions:
    """The engine's options from settings; callers override what the user chose."""
    options = {
        "concurrency": settings.MPM_SEND_CONCURRENCY,
        "rate": settings.KALEYRA_RATE_PER_SECOND,
        "transport": getattr(settings, "MPM_TRANSPORT", "async"),
    }
    options.update({k: v for k, v in overrides.items() if v is not None})
    return RunOptions(**options)


def campaign_send(
    campaign: Campaign,
    *,
    resume: bool = False,
    options: RunOptions | None = None,
    progress: ProgressCallback | None = None,
    client: KaleyraClient | None = None,
) -> SendSummary:
    """Send every queued Message of a valid campaign through the engine.

    A paused campaign goes on only with `resume`; a cancelled one never does.
    """
    campaign = campaign_for_sending(campaign.pk)
    errors = validation.errors_only(campaign_check(campaign))
    if errors:
        raise CampaignNotSendable(errors)
    config = sending_config()
    campaign_start(campaign, resume=resume)
    return engine.run(
        campaign,
        campaign_content(campaign),
        config,
        options or run_options(),
        progress_callback=progress,
        client=client,
    )


def campaign_start(campaign: Campaign, *, resume: bool = False):
    """Move the campaign to `sending`, refusing what its state does not allow."""
    allowed = [Campaign.State.DRAFT, Campaign.State.SENDING, Campaign.State.COMPLETED]
    if resume:
        allowed.append(Campaign.State.PAUSED)
    started = Campaign.objects.filter(pk=campaign.pk, state__in=allowed).update(
        state=Campaign.State.SENDING, paused_reason="", updated_at=timezone.now()
    )
    if not started:
        campaign.refresh_from_db(fields=["state", "paused_reason"])
        if campaign.state == Campaign.State.PAUSED:
            raise CampaignNotRunnable(
                f"The campaign is paused ({campaign.paused_reason or 'by an operator'}); "
                "resume it to go on."
            )
        raise CampaignNotRunnable(f"The campaign is {campaign.get_state_display().lower()}.")
    campaign.state = Campaign.State.SENDING


def campaign_next_retry(campaign: Campaign):
    """When the earliest scheduled retry of a still-sending campaign is due, or None."""
    if not Campaign.objects.filter(pk=campaign.pk, state=Campaign.State.SENDING).exists():
        return None
    return Message.objects.filter(
        campaign=campaign, is_test=False, state=Message.State.QUEUED
    ).aggregate(next_at=Min("next_attempt_at"))["next_at"]


def campaign_pause(campaign: Campaign, *, reason: str = "Paused by an operator.") -> bool:
    """Stop a sending campaign after the requests in flight; its queue is kept."""
    return bool(
        Campaign.objects.filter(pk=campaign.pk, state=Campaign.State.SENDING).update(
            state=Campaign.State.PAUSED, paused_reason=reason[:300], updated_at=timezone.now()
        )
    )


def campaign_cancel(campaign: Campaign) -> int:
    """Stop for good: the campaign is cancelled and what is still queued is skipped."""
    with transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).exclude(state=Campaign.State.CANCELLED).update(
            state=Campaign.State.CANCELLED, updated_at=timezone.now()
        )
        return engine.skip_cancelled(campaign.pk)


def campaign_send_test(campaign: Campaign, *, to: str, client: KaleyraClient | None = None):
    """Send the campaign to one number as a test: recorded, but never counted as the real send."""
    number, reason = normalise_phone(to)
    if number is None:
        raise CampaignNotSendable([validation.Problem("to", reason)])
    campaign = campaign_for_sending(campaign.pk)
    errors = validation.errors_only(campaign_check(campaign))
    if errors:
        raise CampaignNotSendable(errors)
    if client is None:
        try:
            client = KaleyraClient(sending_config())
        except CampaignNotRunnable as exc:
            raise CampaignNotSendable([validation.Problem("settings", str(exc))]) from None
    message = Message.objects.create(
        campaign=campaign, to=number, is_test=True, state=Message.State.SENDING
    )
    claimed = Claimed(message.pk, number, {}, 0)
    body = serialize(engine.request_body(campaign_content(campaign), claimed))
    result = client.send(body)
    record(
        [Answer(claimed, body.decode(), result)], campaign_id=campaign.pk, policy=SINGLE_EXCHANGE
    )
    return result
