"""The use cases: check a campaign, preview it, queue recipients, send, and record every answer.

Views, the admin, the management command and background tasks all call these functions; none of
them builds a payload or talks HTTP itself; every campaign send runs through `engine`.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from . import engine, limits, validation
from .engine import ProgressCallback, RunOptions, SendSummary
from .kaleyra import KaleyraClient, config_from_settings
from .models import Campaign, Message, Section, SectionItem
from .payload import MpmContent, SectionContent, pretty, recipient_values, serialize
from .policy import SINGLE_EXCHANGE
from .recorder import Answer, Claimed, record

SAMPLE_RECIPIENT = "+919876543210"


class CampaignNotSendable(Exception):
    """The campaign breaks at least one rule; nothing was sent."""

    def __init__(self, problems: list[validation.Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


# --- reading ------------------------------------------------------------------------------------


def campaign_for_sending(campaign_id: int) -> Campaign:
    """A campaign with everything validation and the payload need, in four queries."""
    items = SectionItem.objects.select_related("product").order_by("position", "id")
    sections = Section.objects.order_by("position", "id").prefetch_related(
        Prefetch("items", queryset=items)
    )
    return (
        Campaign.objects.select_related("template", "thumbnail_product")
        .prefetch_related(Prefetch("sections", queryset=sections))
        .get(pk=campaign_id)
    )


def campaign_content(campaign: Campaign) -> MpmContent:
    template = campaign.template
    return MpmContent(
        template_name=template.name,
        language=template.language,
        button_index=template.button_index,
        thumbnail_retailer_id=campaign.thumbnail_product.retailer_id
        if campaign.thumbnail_product
        else "",
        sections=tuple(
            SectionContent(s.title, tuple(i.product.retailer_id for i in s.items.all()))
            for s in campaign.sections.all()
        ),
        header_variable_count=template.header_variable_count,
        body_variable_count=template.body_variable_count,
        header_value=campaign.header_value,
        body_values=tuple(campaign.body_values or ()),
        extra_info={
            **{name: getattr(campaign, name) for name in limits.REF_FIELDS},
            "wa_source": campaign.wa_source,
        },
    )


def campaign_check(campaign: Campaign) -> list[validation.Problem]:
    return validation.campaign_problems(campaign)


def campaign_preview(campaign: Campaign, *, to: str = SAMPLE_RECIPIENT) -> str:
    """The request body (pretty-printed) the engine would send to `to`; never the key.

    Where the campaign leaves `ref` empty, each message carries its own id there; the preview
    shows that placeholder."""
    sample = Claimed("<message id>", to, {}, 0)
    return pretty(engine.request_body(campaign_content(campaign), sample))


# --- recipients ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipientInput:
    """One recipient as given: a number, its own values (CSV columns) and where it came from."""

    phone: str
    overrides: dict[str, str] = field(default_factory=dict)
    line: int = 0


@dataclass
class QueueReport:
    """What queueing recipients found: nothing is queued when `invalid` is not empty."""

    queued: int = 0
    invalid: list[tuple[int, str, str]] = field(default_factory=list)  # (line, value, reason)
    duplicates: list[str] = field(default_factory=list)
    already_accepted: int = 0
    unknown_kept: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (number, reason)
    warnings: list[str] = field(default_factory=list)

    @property
    def skipped_count(self) -> int:
        """Recipients this send leaves out: blocked ones, already accepted, outcome unknown."""
        return len(self.skipped) + self.already_accepted + self.unknown_kept


def recipients_from_numbers(text: str) -> list[RecipientInput]:
    """Numbers typed or pasted, comma or newline separated."""
    return [
        RecipientInput(phone, line=n)
        for n, phone in enumerate(validation.split_numbers(text), start=1)
    ]


def campaign_check_recipients(
    campaign: Campaign, recipients: Iterable[RecipientInput]
) -> tuple[QueueReport, dict[str, dict[str, str]]]:
    """Check every recipient's number and own values; returns the report and the valid ones."""
    report = QueueReport()
    content = campaign_content(campaign)
    template = campaign.template
    wanted: dict[str, dict[str, str]] = {}
    for recipient in recipients:
        number, reason = validation.normalise_phone(recipient.phone)
        if number is None:
            report.invalid.append((recipient.line, recipient.phone, reason))
            continue
        overrides = {k: v for k, v in recipient.overrides.items() if v}
        header, body = recipient_values(content, overrides)
        problems = validation.override_problems(template, overrides)
        problems += validation.value_problems(template, header, body)
        errors = validation.errors_only(problems)
        if errors:
            report.invalid.append(
                (recipient.line, recipient.phone, "; ".join(str(p) for p in errors))
            )
            continue
        report.warnings += [
            f"line {recipient.line}: {p.message}" for p in problems if p not in errors
        ]
        if number in wanted:
            report.duplicates.append(number)
            continue
        wanted[number] = overrides
    return report, wanted


def skip_reason(campaign: Campaign, number: str) -> str:
    """Why this recipient is not sent to at all, or "" when it may be."""
    template = campaign.template
    if (
        settings.MPM_SKIP_US_RECIPIENTS
        and template.category == template.Category.MARKETING
        and validation.is_marketing_blocked(number)
    ):
        return "Meta has not delivered marketing templates to US numbers since 2025-04-01."
    return ""


def campaign_queue_recipients(
    campaign: Campaign,
    recipients: Iterable[RecipientInput],
    *,
    resend_unknown: bool = False,
) -> QueueReport:
    """Check every recipient, then create (or requeue) one Message each; all or nothing.

    Already accepted recipients are never queued again, so a rerun sends no duplicate. Messages
    whose outcome is unknown (they may have been sent) are requeued only with `resend_unknown`.
    """
    report, wanted = campaign_check_recipients(campaign, recipients)
    if report.invalid:
        return report
    with transaction.atomic():
        existing = {
            m.to: m
            for m in Message.objects.select_for_update().filter(
                campaign=campaign, is_test=False, to__in=list(wanted)
            )
        }
        new_messages, requeue = [], []
        for number, overrides in wanted.items():
            reason = skip_reason(campaign, number)
            if reason:
                report.skipped.append((number, reason))
            state = Message.State.SKIPPED if reason else Message.State.QUEUED
            message = existing.get(number)
            if message is None:
                new_messages.append(
                    Message(
                        campaign=campaign,
                        to=number,
                        overrides=overrides,
                        state=state,
                        detail=reason,
                    )
                )
                report.queued += state == Message.State.QUEUED
            elif message.state == Message.State.ACCEPTED:
                report.already_accepted += 1
            elif message.state == Message.State.UNKNOWN and not resend_unknown:
                report.unknown_kept += 1
            elif message.state != Message.State.SENDING:
                message.state, message.detail, message.overrides = state, reason, overrides
                requeue.append(message)
                report.queued += state == Message.State.QUEUED
        Message.objects.bulk_create(new_messages, batch_size=1000)
        Message.objects.bulk_update(requeue, ["state", "detail", "overrides"], batch_size=1000)
    return report


# --- sending ------------------------------------------------------------------------------------


class CampaignNotRunnable(Exception):
    """The campaign's state does not allow this (e.g. it is paused or cancelled)."""


def run_options(**overrides) -> RunOptions:
    """The engine's options from settings; callers override what the user chose."""
    options = {
        "concurrency": settings.MPM_SEND_CONCURRENCY,
        "rate": settings.KALEYRA_RATE_PER_SECOND,
        "transport": settings.MPM_TRANSPORT,
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
    campaign_start(campaign, resume=resume)
    return engine.run(
        campaign,
        campaign_content(campaign),
        config_from_settings(),
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
        return Message.objects.filter(
            campaign=campaign, is_test=False, state=Message.State.QUEUED
        ).update(
            state=Message.State.SKIPPED,
            detail="The campaign was cancelled before this message was sent.",
            updated_at=timezone.now(),
        )


def campaign_send_test(campaign: Campaign, *, to: str, client: KaleyraClient | None = None):
    """Send the campaign to one number as a test: recorded, but never counted as the real send."""
    number, reason = validation.normalise_phone(to)
    if number is None:
        raise CampaignNotSendable([validation.Problem("to", reason)])
    campaign = campaign_for_sending(campaign.pk)
    errors = validation.errors_only(campaign_check(campaign))
    if errors:
        raise CampaignNotSendable(errors)
    message = Message.objects.create(
        campaign=campaign, to=number, is_test=True, state=Message.State.SENDING
    )
    claimed = Claimed(message.pk, number, {}, 0)
    body = serialize(engine.request_body(campaign_content(campaign), claimed))
    client = client or KaleyraClient(config_from_settings())
    result = client.send(body)
    record(
        [Answer(claimed, body.decode(), result)], campaign_id=campaign.pk, policy=SINGLE_EXCHANGE
    )
    return result
