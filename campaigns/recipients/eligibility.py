"""Who is sent to and who is not, and why: a row's number and own values, opt-outs, Meta's US
rule and the frequency cap across campaigns. Reasons are plain words, stored on the Message."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from campaigns import conf, validation
from campaigns.models import Campaign, Consent, Contact, Message, MessageTemplate, OptOut
from campaigns.payload import MpmContent, recipient_values
from campaigns.recipients.inputs import RecipientInput
from campaigns.recipients.phones import is_marketing_blocked, normalise_phone
from campaigns.recipients.products import (
    NO_PRODUCTS_REASON,
    CatalogLookup,
    is_product_column,
    resolve_products,
)

MAX_REPORTED = 1000  # rows listed per kind of problem; the counts cover them all
OPT_OUT_SKIP_REASON = "skipped (opted out)"
NO_CONSENT_SKIP_REASON = "skipped (no consent): no opt-in is recorded for this number"
US_SKIP_REASON = "Meta has not delivered marketing templates to US numbers since 2025-04-01."


@dataclass
class RowProblems:
    """Rows that cannot be sent to (invalid, duplicates) and warnings, found by a check or a
    send; lists stop at MAX_REPORTED entries, the counts cover every row."""

    invalid_count: int = 0
    invalid: list[tuple[int, str, str]] = field(default_factory=list)  # (line, value, reason)
    duplicate_count: int = 0
    duplicates: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add_invalid(self, line: int, value: str, reason: str):
        self.invalid_count += 1
        if len(self.invalid) < MAX_REPORTED:
            self.invalid.append((line, value, reason))

    def add_duplicate(self, number: str):
        self.duplicate_count += 1
        if len(self.duplicates) < MAX_REPORTED:
            self.duplicates.append(number)


@dataclass(frozen=True)
class Checked:
    """A valid recipient: their E.164 number, what their Message stores (own values, and their
    products resolved against the catalog), and why it is skipped ("" when it is sent)."""

    number: str
    overrides: dict
    skip: str = ""


def check_recipient(
    template: MessageTemplate,
    content: MpmContent,
    recipient: RecipientInput,
    report: RowProblems,
    catalog: CatalogLookup,
) -> Checked | None:
    """A valid recipient, checked; otherwise None, with the reason in the report. `catalog`
    remembers the products met in earlier rows of the same list."""
    number, reason = normalise_phone(recipient.phone)
    if number is None:
        report.add_invalid(recipient.line, recipient.phone, reason)
        return None
    values = {k: v for k, v in recipient.overrides.items() if v and not is_product_column(k)}
    problems = []
    if recipient.overrides:  # without them the campaign's own (already checked) values are sent
        header, body = recipient_values(content, values)
        problems = validation.override_problems(template, recipient.overrides)
        problems += validation.value_problems(template, header, body)
    products = resolve_products(content, recipient.overrides, catalog)
    if products is not None:
        problems += products.problems
        values.update(products.stored())
    errors = validation.errors_only(problems)
    if errors:
        report.add_invalid(recipient.line, recipient.phone, "; ".join(str(p) for p in errors))
        return None
    if len(report.warnings) < MAX_REPORTED:
        report.warnings += [f"line {recipient.line}: {p.message}" for p in problems]
    skip = ""
    if products is not None and not products.sections:
        skip = no_products_reason(products.left_out)
    return Checked(number, values, skip)


def no_products_reason(left_out: list[str]) -> str:
    if not left_out:
        return f"{NO_PRODUCTS_REASON}: the recipient has no products"
    shown = ", ".join(left_out[:5]) + (
        f" and {len(left_out) - 5} more" if len(left_out) > 5 else ""
    )
    return f"{NO_PRODUCTS_REASON}: {shown}"


def frequency_cap_reason(hours: float) -> str:
    return (
        f"skipped (frequency cap): another campaign's marketing message went to this number "
        f"in the last {hours:g} hours"
    )


def _marketing_blocked(number: str) -> bool:
    """`is_marketing_blocked` without parsing the numbers it cannot be (only +1 is blocked)."""
    return number.startswith("+1") and is_marketing_blocked(number)


def skip_reason(campaign: Campaign, number: str) -> str:
    """Why this recipient is not sent to at all, or "" when it may be: a US number (marketing),
    an opted-out number, one with no opt-in (marketing, MPM_CONSENT_REQUIRED), or one within
    the frequency cap. For many numbers use `skip_reasons`."""
    return skip_reasons(campaign, [number]).get(number, "")


def skip_reasons(
    campaign: Campaign,
    numbers: list[str],
    *,
    trigger_key: str = "",
    list_is_proof: bool | None = None,
) -> dict[str, str]:
    """`skip_reason` for many numbers at once (a queueing chunk): three indexed queries. An
    always-on campaign's earlier triggers count towards the cap like other campaigns do.
    `list_is_proof`: the numbers come from a list brought to the send that carries its own
    proof of opt-in (default: MPM_LISTS_CARRY_CONSENT; never so for contacts)."""
    if list_is_proof is None:
        list_is_proof = conf.MPM_LISTS_CARRY_CONSENT
    reasons = {}
    marketing = campaign.template.category == MessageTemplate.Category.MARKETING
    if marketing and conf.MPM_SKIP_US_RECIPIENTS:
        reasons.update(dict.fromkeys(filter(_marketing_blocked, numbers), US_SKIP_REASON))
    rest = [n for n in numbers if n not in reasons]
    if rest:
        for phone in OptOut.objects.filter(phone__any_of=rest).values_list("phone", flat=True):
            reasons[phone] = OPT_OUT_SKIP_REASON
    rest = [n for n in rest if n not in reasons]
    # A list that carries its own proof has its opt-ins recorded as it is queued
    # (`consent_from_list`): then only an opt-out, above, stands in the way.
    if marketing and conf.MPM_CONSENT_REQUIRED and not list_is_proof and rest:
        opted_in = set(
            Contact.objects.filter(phone__any_of=rest, consent=Consent.OPTED_IN).values_list(
                "phone", flat=True
            )
        )
        reasons.update(
            dict.fromkeys((n for n in rest if n not in opted_in), NO_CONSENT_SKIP_REASON)
        )
        rest = [n for n in rest if n in opted_in]
    hours = conf.MPM_FREQUENCY_CAP_HOURS
    if hours and marketing and rest:
        # Meta's guidance and the issue: at most one marketing message per recipient per
        # `hours`, across campaigns. `claimed_at` is when a message left (or is leaving).
        recent = (
            Message.objects.real()
            .filter(
                to__any_of=rest,
                state__in=Message.CAP_STATES,
                claimed_at__gte=timezone.now() - timedelta(hours=hours),
                campaign__template__category=MessageTemplate.Category.MARKETING,
            )
            .exclude(campaign=campaign, trigger_key=trigger_key)
            .values_list("to", flat=True)
            .distinct()
        )
        reason = frequency_cap_reason(hours)
        reasons.update(dict.fromkeys(recent, reason))
    return reasons


def refusal_for_test_send(number: str) -> str:
    """Why a test send to `number` may not go, in plain words, or "" when it may.

    A test is the marketer looking at their own message, not marketing to a customer, so the
    frequency cap does not apply; an opt-out, consent and Meta's US rule still do.
    """
    e164, problem = normalise_phone(number)
    if e164 is None:
        return f"Not sent: {problem}"
    if conf.MPM_SKIP_US_RECIPIENTS and _marketing_blocked(e164):
        return f"Not sent: {US_SKIP_REASON}"
    opt_out = OptOut.objects.filter(phone=e164).only("created_at", "reason").first()
    if opt_out is not None:
        day = timezone.localdate(opt_out.created_at).isoformat()
        return f"Not sent: this number opted out on {day} ({opt_out.get_reason_display()})"
    if (
        conf.MPM_CONSENT_REQUIRED
        and not Contact.objects.filter(phone=e164, consent=Consent.OPTED_IN).exists()
    ):
        return (
            "Not sent: no opt-in is recorded for this number, and marketing goes only to contacts "
            "who opted in. Record its opt-in first (admin → Contacts → Record opt-in)."
        )
    return ""
