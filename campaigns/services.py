"""The use cases: check a campaign, preview it, queue recipients, send, and record every answer.

Views, the admin, the management command and background tasks all call these functions; none of
them builds a payload or talks HTTP itself. One send pipeline: claim → build → post → record.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import F, Prefetch
from django.utils import timezone

from . import limits, validation
from .answers import explain
from .kaleyra import KaleyraClient, Outcome, SendResult, config_from_settings
from .models import Campaign, Message, Section, SectionItem, SendAttempt
from .payload import (
    MpmContent,
    SectionContent,
    build_request,
    pretty,
    recipient_values,
    serialize,
)

logger = logging.getLogger(__name__)

SAMPLE_RECIPIENT = "+919876543210"
CLAIM_BATCH_SIZE = 100
OVERRIDE_COLUMNS = ("header", *limits.REF_FIELDS)


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
    """The exact request body (pretty-printed) the client would send to `to`; never the key."""
    return pretty(build_request(campaign_content(campaign), to))


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


@dataclass
class SendSummary:
    accepted: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0
    codes: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.accepted + self.failed + self.unknown

    def add(self, result: SendResult):
        if result.accepted:
            self.accepted += 1
        elif result.may_have_been_sent:
            self.unknown += 1
        else:
            self.failed += 1
        if not result.accepted:
            key = result.result_code or f"HTTP {result.http_status}"
            self.codes[key] = self.codes.get(key, 0) + 1

    def line(self) -> str:
        parts = [f"accepted {self.accepted}", f"failed {self.failed}", f"skipped {self.skipped}"]
        if self.unknown:
            parts.append(f"unknown {self.unknown}")
        return ", ".join(parts)


ProgressCallback = Callable[[Message, SendResult], None]


def campaign_send(
    campaign: Campaign,
    *,
    client: KaleyraClient | None = None,
    progress: ProgressCallback | None = None,
) -> SendSummary:
    """Send every queued Message of a valid campaign: claim a batch, post each, record each."""
    campaign = campaign_for_sending(campaign.pk)
    errors = validation.errors_only(campaign_check(campaign))
    if errors:
        raise CampaignNotSendable(errors)
    content = campaign_content(campaign)
    client = client or KaleyraClient(config_from_settings())
    summary = SendSummary()
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.SENDING)
    while batch := _claim(campaign, CLAIM_BATCH_SIZE):
        for message in batch:
            result = message_deliver(message, content, client)
            summary.add(result)
            if progress:
                progress(message, result)
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.COMPLETED)
    return summary


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
        campaign=campaign, to=number, is_test=True, state=Message.State.SENDING, attempts=1
    )
    client = client or KaleyraClient(config_from_settings())
    return message_deliver(message, campaign_content(campaign), client)


def _claim(campaign: Campaign, size: int) -> list[Message]:
    """Flip up to `size` queued Messages to sending in one short transaction, then commit.

    `skip_locked` lets several workers share a campaign without ever claiming the same row.
    """
    with transaction.atomic():
        ids = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(campaign=campaign, is_test=False, state=Message.State.QUEUED)
            .order_by("id")
            .values_list("id", flat=True)[:size]
        )
        if not ids:
            return []
        Message.objects.filter(id__in=ids).update(
            state=Message.State.SENDING, attempts=F("attempts") + 1, updated_at=timezone.now()
        )
        return list(Message.objects.filter(id__in=ids).order_by("id"))


def message_request_body(message: Message, content: MpmContent) -> dict:
    """The body for one Message; when the campaign leaves `ref` free it carries the Message's id,
    so a callback can always be matched to its row."""
    overrides = dict(message.overrides)
    if not overrides.get("ref") and not content.extra_info.get("ref"):
        overrides["ref"] = f"mpm-{message.pk}"
    return build_request(content, message.to, overrides)


def message_deliver(message: Message, content: MpmContent, client: KaleyraClient) -> SendResult:
    """Post one claimed Message and record the answer; never raises for a provider answer."""
    body = message_request_body(message, content)
    result = client.send(serialize(body))
    message_record_result(message, body, result)
    return result


STATE_FOR_OUTCOME = {
    Outcome.ACCEPTED: Message.State.ACCEPTED,
    Outcome.REJECTED: Message.State.FAILED,
    Outcome.UNEXPECTED: Message.State.FAILED,
    Outcome.CONNECTION: Message.State.FAILED,
    # The request may have reached Kaleyra: never resent without an operator's say.
    Outcome.TIMEOUT: Message.State.UNKNOWN,
}


def message_record_result(message: Message, body: dict, result: SendResult) -> SendAttempt:
    """One SendAttempt for the exchange and the Message's new state, in one transaction."""
    explanation = explain(result.result_code, result.http_status)
    with transaction.atomic():
        attempt = SendAttempt.objects.create(
            message=message,
            request_body=body,
            http_status=result.http_status,
            code=result.result_code,
            message_text=result.message,
            error=result.error,
            response_body=result.response_body,
            provider_message_id=result.message_id,
            duration_ms=result.duration_ms,
        )
        message.state = (
            Message.State.UNKNOWN
            if result.may_have_been_sent
            else STATE_FOR_OUTCOME[result.outcome]
        )
        message.message_id = result.message_id or message.message_id
        message.last_code = result.result_code
        message.detail = "" if result.accepted else _failure_detail(result, explanation)
        message.save(
            update_fields=["state", "message_id", "last_code", "detail", "attempts", "updated_at"]
        )
    if not result.accepted:
        logger.debug(
            "Message %s to campaign %s: %s (HTTP %s)",
            message.pk,
            message.campaign_id,
            result.result_code,
            result.http_status,
        )
    return attempt


def _failure_detail(result: SendResult, explanation) -> str:
    said = f"{result.message} " if result.message else ""
    return f"{said}{explanation or ''}".strip()[:500]
