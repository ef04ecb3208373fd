"""What each callback event does to the data: a Message moves forward (never back), a failure's
Meta code opts the number out, pauses the campaign, marks the template or slows the sender; a
STOP reply opts out and START opts back in; an order is recorded and attributed.

Meta's codes and what to do about them: spec-notes, "Meta error codes that matter for MPM
campaigns" (and `answers.META_CODES`, which words them for people).
"""

import re
from collections import Counter
from datetime import timedelta
from typing import NamedTuple

from django.db import transaction
from django.utils import timezone

from campaigns import conf
from campaigns.audiences.consent import Provenance, consent_record
from campaigns.callbacks.parsing import IncomingMessage, StatusUpdate, TemplateStatusUpdate, digits
from campaigns.kaleyra.answers import explain_meta
from campaigns.models import (
    Campaign,
    Consent,
    ConsentEvent,
    Message,
    MessageTemplate,
    OptOut,
    Order,
    OrderItem,
    Product,
    Reply,
    Sender,
    StatusEvent,
)
from campaigns.recipients import OPT_OUT_SKIP_REASON
from campaigns.sending.pacing import PACING_CODES, slow_down
from campaigns.services.healing import send_task_for
from campaigns.services.template_status import stop_campaigns_using, template_status_change
from campaigns.tasks import send_campaign_task

# The ledger's source for each reason a number goes on the opt-out list.
OPT_OUT_SOURCES = {
    OptOut.Reason.STOP_KEYWORD: ConsentEvent.Source.WHATSAPP_STOP,
    OptOut.Reason.META_131050: ConsentEvent.Source.META_131050,
}

# A status event → the Message state it moves to (`unknown` moves nothing).
TARGET_STATE = {
    StatusEvent.Status.SENT: Message.State.SENT,
    StatusEvent.Status.DELIVERED: Message.State.DELIVERED,
    StatusEvent.Status.READ: Message.State.READ,
    StatusEvent.Status.FAILED: Message.State.FAILED,
    StatusEvent.Status.NOT_SENT: Message.State.NOT_SENT,
}

# Forward-only: a Message moves to a state only from a lower-ranked one that is not final.
# `failed` and `not_sent` are final and rank with `delivered`: a message the phone received
# cannot fail any more, and a failed one is never "delivered" by a late or replayed event.
# States outside this map (queued, sending, skipped, a send-time failure…) never move here.
RANK = {
    Message.State.ACCEPTED: 1,
    Message.State.UNKNOWN: 1,  # a callback proves that the request did reach Kaleyra
    Message.State.SENT: 2,
    Message.State.DELIVERED: 3,
    Message.State.FAILED: 3,
    Message.State.NOT_SENT: 3,
    Message.State.READ: 4,
}
FINAL_STATES = frozenset({Message.State.FAILED, Message.State.NOT_SENT})


def states_below(target: str) -> list[str]:
    """The states a Message may move to `target` from: lower rank, not final."""
    return [s for s, r in RANK.items() if r < RANK[target] and s not in FINAL_STATES]


STOP_WORDS = ("STOP", "UNSUBSCRIBE")
START_WORDS = ("START",)
PAUSE_CAMPAIGN_CODES = frozenset({"131048", "368"})
TEMPLATE_CODES = {
    "132015": MessageTemplate.Status.PAUSED,
    "132016": MessageTemplate.Status.DISABLED,
}
RETRY_131049_AFTER = timedelta(hours=24)
REF_PATTERN = re.compile(r"^mpm-(\d{1,18})$")
# Meta's clock and ours differ a little (and Meta's times are whole seconds): a message sent up
# to this long "after" an order may still be the one the order came from.
CLOCK_SKEW = timedelta(minutes=5)

# --- matching ------------------------------------------------------------------------------------


class MessageRow(NamedTuple):
    id: int
    message_id: str
    state: str
    to: str
    campaign_id: int


MESSAGE_ROW_FIELDS = ("id", "message_id", "state", "to", "campaign_id")


def ref_message_pk(ref: str) -> int | None:
    match = REF_PATTERN.match(ref or "")
    return int(match.group(1)) if match else None


def match_messages(updates: list[StatusUpdate]) -> list[MessageRow | None]:
    """Each update's Message, in two indexed queries: by any provider id it carries (whichever
    equals the send answer's id), else by `mpm-<id>` in its ref when the recipient agrees."""
    ids = {i for u in updates for i in u.candidate_ids}
    by_provider = {}
    if ids:
        for row in Message.objects.filter(message_id__in=ids).values_list(*MESSAGE_ROW_FIELDS):
            by_provider[row[1]] = MessageRow(*row)
    refs = {pk for u in updates if (pk := ref_message_pk(u.ref))}
    by_pk = {}
    if refs:
        for row in Message.objects.filter(pk__in=refs).values_list(*MESSAGE_ROW_FIELDS):
            by_pk[row[0]] = MessageRow(*row)
    found = []
    for update in updates:
        row = next((by_provider[i] for i in update.candidate_ids if i in by_provider), None)
        if row is None and (pk := ref_message_pk(update.ref)) in by_pk:
            candidate = by_pk[pk]
            if not update.recipient or digits(candidate.to) == update.recipient:
                row = candidate
        found.append(row)
    return found


# --- applying ------------------------------------------------------------------------------------


def apply_to_messages(pairs: list[tuple[StatusUpdate, MessageRow]], now, counts: Counter):
    """Move each Message forward, one conditional UPDATE per (state, code) group, then act on
    what the failures mean (opt-out, pause, template, a later retry)."""
    groups: dict[tuple[str, str], list[int]] = {}
    failures = []
    for update, message in pairs:
        target = TARGET_STATE.get(update.status)
        if target is None:
            continue
        code = update.error_code if target in FINAL_STATES else ""
        groups.setdefault((target, code), []).append(message.id)
        if target in FINAL_STATES:
            failures.append((update, message))
    if conf.MPM_RETRY_131049:
        _requeue_131049([m for u, m in failures if u.error_code == "131049"], now, counts)
    # In rank order, a final state last: `delivered` and `failed` in one batch leave delivered.
    ordered = sorted(
        groups.items(), key=lambda item: (RANK[item[0][0]], item[0][0] in FINAL_STATES)
    )
    for (target, code), ids in ordered:
        fields = {"state": target, "updated_at": now}
        if target in FINAL_STATES:
            fields["meta_code"] = code[:10]
            fields["detail"] = failure_detail(target, code)
        counts["moved"] += Message.objects.filter(
            pk__in=ids, state__in=states_below(target)
        ).update(**fields)
    counts["applied"] += len(pairs)
    for update, message in failures:
        _act_on_failure(update, message, now, counts)


def failure_detail(state: str, code: str) -> str:
    explanation = explain_meta(code)
    if explanation:
        return f"Meta {code}: {explanation}"[:500]
    if state == Message.State.NOT_SENT:
        return "Kaleyra did not pass the message on to WhatsApp (status not-sent)."
    return "WhatsApp reported the message as failed, without an error code."


def _requeue_131049(messages: list[MessageRow], now, counts: Counter):
    """Meta's per-user marketing limit: send once more, no sooner than 24 hours later."""
    if not messages:
        return
    ids = [m.id for m in messages]
    retry_at = now + RETRY_131049_AFTER
    candidates = Message.objects.filter(
        pk__in=ids, state__in=states_below(Message.State.FAILED), meta_retried=False
    )
    campaigns = set(candidates.values_list("campaign_id", flat=True))
    requeued = candidates.retry_at(
        retry_at,
        meta_code="131049",
        detail=(
            "Meta 131049 (per-user marketing limit): queued once more, for "
            f"{timezone.localtime(retry_at):%Y-%m-%d %H:%M %Z} or later."
        ),
    )
    counts["requeued_131049"] += requeued
    if requeued:
        transaction.on_commit(lambda: _schedule_sends(campaigns, retry_at))


def _schedule_sends(campaign_ids, when):
    """Wake a worker for the retried messages when they are due (if the backend can wait).
    Asked first: a backend that cannot defer refuses even to build a task with `run_after`."""
    if not send_campaign_task.get_backend().supports_defer:
        return
    for campaign_id in campaign_ids:
        task = send_task_for(send_campaign_task, campaign_id)
        task.using(run_after=when).enqueue(campaign_id)


def _act_on_failure(update: StatusUpdate, message: MessageRow, now, counts: Counter):
    code = update.error_code
    if code == "131050":
        if optout_add(
            phone=message.to,
            reason=OptOut.Reason.META_131050,
            source_id=update.source_id,
            now=now,
        ):
            counts["opt_outs"] += 1
    elif code in PAUSE_CAMPAIGN_CODES:
        counts["paused"] += Campaign.objects.filter(pk=message.campaign_id).pause(
            f"Meta {code}: {explain_meta(code)}"
        )
    elif code in TEMPLATE_CODES:
        template_ids = list(
            Campaign.objects.filter(pk=message.campaign_id).values_list("template_id", flat=True)
        )
        MessageTemplate.objects.filter(pk__in=template_ids).update(
            status=TEMPLATE_CODES[code], updated_at=now
        )
        counts["paused"] += stop_campaigns_using(template_ids, f"Meta {code}: {explain_meta(code)}")


# --- senders -------------------------------------------------------------------------------------


def known_sender_numbers() -> frozenset[str]:
    """The business numbers that are ours, as callbacks write them (digits): every Sender's
    (active or not: callbacks for what an old sender sent still come), and the settings'
    KALEYRA_SENDER. Empty when neither says (the sandbox without senders): nothing to check."""
    numbers = {digits(n) for n in Sender.objects.values_list("business_number", flat=True)}
    return frozenset(numbers | {digits(conf.KALEYRA_SENDER)}) - {""}


def unknown_sender_note(numbers: set[str]) -> str:
    """What the inbox row says about a callback for numbers that are no sender here."""
    listed = ", ".join(f"+{n}" for n in sorted(numbers))
    return (
        f"Sent for business number {listed}, which is no sender here: applied as usual "
        "(statuses match messages by their ids; a STOP still opts out), but its pacing signals "
        "are ignored. Add the number as a sender, or check which callback URL Kaleyra has for it."
    )[:2000]


def campaign_sender_numbers(campaign_ids) -> dict[int, str]:
    """Each campaign's sender number (digits): its own sender's, else the default sender's,
    else the settings'."""
    rows = Campaign.objects.filter(pk__in=set(campaign_ids)).values_list(
        "pk", "sender__business_number"
    )
    default = (
        Sender.objects.default().values_list("business_number", flat=True).first()
        or conf.KALEYRA_SENDER
    )
    return {pk: digits(number or default) for pk, number in rows}


# --- pacing --------------------------------------------------------------------------------------


def pace(
    updates: list[StatusUpdate],
    now,
    counts: Counter,
    *,
    matches: list | None = None,
    known: frozenset[str] = frozenset(),
):
    """130429 / 131056 slow the sender down: once per sender and code in a batch, and only for
    events recent enough to still matter (a replay from yesterday changes nothing). The sender
    is the number the callback names, else the one its message's campaign went out from; a
    number that is none of ours (`known`) slows nothing."""
    window = timedelta(seconds=conf.MPM_PACING_SLOWDOWN_SECONDS)
    matches = matches if matches is not None else [None] * len(updates)
    signals = [
        (update, message)
        for update, message in zip(updates, matches, strict=True)
        if update.error_code in PACING_CODES
        and not (update.timestamp and update.timestamp < now - window)
    ]
    if not signals:
        return
    unnamed = [m.campaign_id for u, m in signals if not u.sender and m is not None]
    by_campaign = campaign_sender_numbers(unnamed) if unnamed else {}
    seen = set()
    for update, message in signals:
        sender = update.sender or (by_campaign.get(message.campaign_id) if message else "")
        sender = sender or digits(conf.KALEYRA_SENDER) or "default"
        if known and update.sender and update.sender not in known:
            counts["unknown_sender_pacing"] += 1
            continue
        if (sender, update.error_code) in seen:
            continue
        seen.add((sender, update.error_code))
        slow_down(sender=sender, code=update.error_code, now=now)
        counts["slowed"] += 1


# --- replies and orders --------------------------------------------------------------------------


def _reply_word(value: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", value).split()).casefold()


def _keep_reply(message: IncomingMessage, now):
    """For the contact page; a replay (same provider id) is stored once."""
    Reply.objects.bulk_create(
        [
            Reply(
                provider_message_id=message.provider_message_id[:100],
                from_phone=message.phone,
                type=message.type[:30],
                text=message.text,
                context_id=message.context_id[:100],
                sent_at=message.timestamp,
                received_at=now,
            )
        ],
        ignore_conflicts=True,
    )


def stop_words() -> set[str]:
    return {_reply_word(w) for w in (*STOP_WORDS, *conf.MPM_STOP_WORDS)} - {""}


def start_words() -> set[str]:
    return {_reply_word(w) for w in (*START_WORDS, *conf.MPM_START_WORDS)} - {""}


def apply_incoming(message: IncomingMessage, now, counts: Counter):
    counts["incoming"] += 1
    if message.order is not None:
        record_order(message, now, counts)
        return
    _keep_reply(message, now)
    word = _reply_word(message.text)
    if not word:
        return
    if word in stop_words():
        if optout_add(
            phone=message.phone,
            reason=OptOut.Reason.STOP_KEYWORD,
            keyword=message.text.strip()[:100],
            source_id=message.source_id,
            now=now,
        ):
            counts["opt_outs"] += 1
    elif word in start_words():
        counts["opt_ins"] += optout_remove(
            phone=message.phone, keyword=message.text.strip()[:100], source_id=message.source_id
        )


def optout_add(
    *,
    phone: str,
    reason: str,
    keyword: str = "",
    source_id: int | None = None,
    now=None,
    actor=None,
) -> bool:
    """Record a marketing opt-out in the consent ledger (which puts the number on the opt-out
    list; True when it was not on it) and skip its queued, not yet claimed messages, so even a
    campaign already sending leaves it out."""
    now = now or timezone.now()
    was_listed = OptOut.objects.filter(phone=phone).exists()
    source = OPT_OUT_SOURCES.get(reason, ConsentEvent.Source.ADMIN)
    ref = keyword or (f"callback inbox {source_id}" if source_id else "")
    provenance = Provenance(source, ref=ref, actor=actor, inbox_id=source_id)
    consent_record(phone, Consent.OPTED_OUT, provenance, when=now)
    Message.objects.real().filter(to=phone).skip_queued(OPT_OUT_SKIP_REASON)
    return not was_listed


def optout_remove(*, phone: str, keyword: str = "", source_id: int | None = None) -> int:
    """START: the number may get marketing again (an opt-in in the ledger). An operator's own
    opt-out stays: only staff lift it."""
    if not OptOut.objects.filter(phone=phone).exclude(reason=OptOut.Reason.MANUAL).exists():
        return 0
    ref = keyword or (f"callback inbox {source_id}" if source_id else "")
    provenance = Provenance(ConsentEvent.Source.WHATSAPP_START, ref=ref, inbox_id=source_id)
    consent_record(phone, Consent.OPTED_IN, provenance)
    return 1


def attributed_message(phone: str, *, context_id: str = "", when=None) -> MessageRow | None:
    """The campaign message an order came from: the one it replies to when named, else the
    customer's most recent campaign message within MPM_ORDER_ATTRIBUTION_DAYS."""
    fields = MESSAGE_ROW_FIELDS
    if context_id:
        row = Message.objects.filter(message_id=context_id).values_list(*fields).first()
        if row:
            return MessageRow(*row)
    when = when or timezone.now()
    since = when - timedelta(days=conf.MPM_ORDER_ATTRIBUTION_DAYS)
    row = (
        Message.objects.real()
        .filter(
            to=phone,
            state__in=Message.ACCEPTED_OR_LATER,
            claimed_at__gte=since,
            claimed_at__lte=when + CLOCK_SKEW,
        )
        .order_by("-claimed_at", "-id")
        .values_list(*fields)
        .first()
    )
    return MessageRow(*row) if row else None


def record_order(message: IncomingMessage, now, counts: Counter):
    ident = message.provider_message_id
    if ident and Order.objects.filter(provider_message_id=ident).exists():
        counts["duplicates"] += 1
        return
    order_value = message.order
    when = message.timestamp or message.received_at or now
    source = attributed_message(message.phone, context_id=message.context_id, when=when)
    products = dict(
        Product.objects.filter(
            retailer_id__in=[line.retailer_id for line in order_value.items]
        ).values_list("retailer_id", "id")
    )
    currency = next((line.currency for line in order_value.items if line.currency), "")
    order = Order.objects.create(
        provider_message_id=ident,
        from_phone=message.phone,
        message_id=source.id if source else None,
        campaign_id=source.campaign_id if source else None,
        catalog_id=order_value.catalog_id,
        text=order_value.text,
        currency=currency,
        total=order_value.total,
        received_at=when,
        raw=message.raw,
    )
    OrderItem.objects.bulk_create(
        OrderItem(
            order=order,
            product_id=products.get(line.retailer_id),
            retailer_id=line.retailer_id,
            quantity=line.quantity,
            item_price=line.item_price,
            currency=line.currency or currency,
        )
        for line in order_value.items
    )
    counts["orders"] += 1


# --- templates -----------------------------------------------------------------------------------


def apply_template(update: TemplateStatusUpdate, now, counts: Counter):
    """A template status callback; the template sync applies a status through the same
    `template_status_change`, so both paths have the same effect."""
    counts["template_events"] += 1
    if not update.status:
        return  # e.g. FLAGGED: a warning from Meta that changes nothing yet
    change = template_status_change(
        name=update.name,
        language=update.language,
        status=update.status,
        reason=update.reason,
        now=now,
    )
    if change is None:
        counts["templates_unknown"] += 1
        return
    counts["paused"] += change.paused
