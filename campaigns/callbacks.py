"""What Kaleyra's callbacks mean, applied: delivery statuses, replies (STOP / START), orders and
template status changes, read from the `CallbackInbox` the webhooks fill.

Parsers turn a stored body into plain event values (no ORM); `apply_pending_callbacks` applies
the inbox in batches: reading and matching happen outside the write transaction, and the writes
(events, forward-only state moves, opt-outs, orders, pauses) commit together with the rows'
`processed_at`, so every row is applied exactly once. A row that cannot be applied is marked with
its error and never blocks the rows after it.

Facts from spec-notes ("Kaleyra callbacks (v2)", "Meta error codes"): v2 callbacks wrap Meta's
webhook `value` (`meta_object.value.statuses[]` / `messages[]` / `contacts[]`) with Kaleyra's
`extra_info`, `status` and `message_id`; which id matches the send answer's `message_id` is
uncertain, so the top-level `message_id`, `extra_info.message_id` and `statuses[].id` are all
tried, then `extra_info.ref` (the engine puts `mpm-<Message id>` there). Statuses vary in case.
"""

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from hashlib import sha256
from typing import NamedTuple

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .answers import explain_meta
from .fastsql import adapt_datetime, insert_status_events
from .models import (
    CallbackInbox,
    Campaign,
    Message,
    MessageTemplate,
    OptOut,
    Order,
    OrderItem,
    Product,
    SenderPacing,
    StatusEvent,
)
from .recipients import OPT_OUT_SKIP_REASON
from .writelock import sqlite_write_lock

logger = logging.getLogger(__name__)

# --- the rules, in one place ---------------------------------------------------------------------

# Provider status → our status. Compared lower-case: pages write `sent`, `SENT`, `not-sent`.
# Anything else (e.g. Meta's `deleted`) is kept as `unknown` and moves nothing.
STATUS_MAP = {
    "sent": StatusEvent.Status.SENT,
    "delivered": StatusEvent.Status.DELIVERED,
    "read": StatusEvent.Status.READ,
    "failed": StatusEvent.Status.FAILED,
    "not-sent": StatusEvent.Status.NOT_SENT,
    "not_sent": StatusEvent.Status.NOT_SENT,
    "notsent": StatusEvent.Status.NOT_SENT,
    "not sent": StatusEvent.Status.NOT_SENT,
}
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
# A Message not yet answered: moving it would hide the send answer from the engine's recorder
# (it only records rows still `sending`). Its events wait and are applied once it is answered.
WAITING_STATES = (Message.State.QUEUED, Message.State.SENDING)


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
# Meta's throughput (130429) and pair-rate (131056) limits: cut the sender's rate by this factor,
# at most once per PACING_STEP_SECONDS, never below MIN_PACING_FACTOR, for a while.
PACING_CODES = {"130429": 0.5, "131056": 0.8}
PACING_STEP_SECONDS = 10
MIN_PACING_FACTOR = 0.1
RETRY_131049_AFTER = timedelta(hours=24)
REF_PATTERN = re.compile(r"^mpm-(\d{1,18})$")
# Meta's clock and ours differ a little (and Meta's times are whole seconds): a message sent up
# to this long "after" an order may still be the one the order came from.
CLOCK_SKEW = timedelta(minutes=5)

TEMPLATE_EVENTS = {
    "approved": MessageTemplate.Status.APPROVED,
    "reinstated": MessageTemplate.Status.APPROVED,
    "rejected": MessageTemplate.Status.REJECTED,
    "paused": MessageTemplate.Status.PAUSED,
    "disabled": MessageTemplate.Status.DISABLED,
    "pending_deletion": MessageTemplate.Status.DISABLED,
    "deleted": MessageTemplate.Status.DISABLED,
    "pending": MessageTemplate.Status.PENDING,
}


# --- event values --------------------------------------------------------------------------------


class CallbackError(ValueError):
    """The body is not a callback this app understands; the message says why."""


@dataclass
class StatusUpdate:
    status: str  # a StatusEvent.Status value
    status_raw: str
    candidate_ids: tuple[str, ...] = ()  # every provider id the callback carried, in order
    ref: str = ""
    recipient: str = ""  # digits
    sender: str = ""  # digits
    timestamp_raw: str = ""
    timestamp: datetime | None = None
    error_code: str = ""
    error_title: str = ""
    error_details: str = ""
    price: Decimal | None = None
    currency: str = ""
    raw: dict = field(default_factory=dict)
    raw_text: str = ""  # the callback's body as stored, kept as the event's raw JSON
    received_at: datetime | None = None
    source_id: int | None = None

    @property
    def provider_message_id(self) -> str:
        return self.candidate_ids[0] if self.candidate_ids else ""

    @property
    def alt_message_id(self) -> str:
        return self.candidate_ids[1] if len(self.candidate_ids) > 1 else ""

    @property
    def key(self) -> str:
        """What makes a replay the same event: the id, the status and the event's own time
        (or, without a time, a hash of the event as sent)."""
        ident = self.provider_message_id or f"ref:{self.ref}"
        when = (
            self.timestamp_raw
            or "#"
            + sha256(json.dumps(self.raw, sort_keys=True, default=str).encode()).hexdigest()[:24]
        )
        key = f"{ident}|{self.status}|{when}"
        return key if len(key) <= 255 else "sha256:" + sha256(key.encode()).hexdigest()


@dataclass
class OrderLine:
    retailer_id: str
    quantity: int
    item_price: Decimal
    currency: str


@dataclass
class OrderValue:
    catalog_id: str
    text: str
    items: list[OrderLine]


@dataclass
class IncomingMessage:
    phone: str  # E.164
    provider_message_id: str = ""
    type: str = ""
    text: str = ""
    name: str = ""
    context_id: str = ""  # the message it replies to, when given
    timestamp: datetime | None = None
    order: OrderValue | None = None
    raw: dict = field(default_factory=dict)
    received_at: datetime | None = None
    source_id: int | None = None


@dataclass
class TemplateStatusUpdate:
    name: str
    language: str
    event_raw: str
    status: str  # a MessageTemplate.Status value, or "" when the event changes nothing
    reason: str = ""
    template_id: str = ""
    raw: dict = field(default_factory=dict)
    received_at: datetime | None = None
    source_id: int | None = None


Event = StatusUpdate | IncomingMessage | TemplateStatusUpdate


# --- parsing ---------------------------------------------------------------------------------------


_NOT_DIGITS = re.compile(r"[^0-9]")


def digits(value) -> str:
    return _NOT_DIGITS.sub("", str(value)) if value else ""


def e164(value) -> str:
    number = digits(value)
    return f"+{number}" if number else ""


def text(value, limit: int) -> str:
    return str(value).strip()[:limit] if value not in (None, "") else ""


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def parse_timestamp(value) -> datetime | None:
    """Unix seconds (Meta), milliseconds, or an ISO / `YYYY-MM-DD HH:MM:SS` time (UTC if naive)."""
    raw = str(value).strip() if value not in (None, "") else ""
    if not raw:
        return None
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        seconds = float(raw)
        if seconds > 1e12:
            seconds /= 1000
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = parse_datetime(raw)
    except ValueError:
        return None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def parse_decimal(value, *, places: int = 6, limit: int = 10**6) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value).strip()).quantize(Decimal(1).scaleb(-places))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() and abs(number) < limit else None


def normalise_status(value) -> str:
    return STATUS_MAP.get(str(value or "").strip().lower(), StatusEvent.Status.UNKNOWN)


def _ids(*values) -> tuple[str, ...]:
    seen = []
    for value in values:
        ident = text(value, 100)
        if ident and ident not in seen:
            seen.append(ident)
    return tuple(seen)


def parse_row(kind: str, body: str) -> list[Event]:
    """The events in one stored callback; CallbackError when there are none to apply."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise CallbackError(f"The body is not JSON: {exc}.") from None
    documents = data if isinstance(data, list) else [data]
    events: list[Event] = []
    for document in documents:
        if not isinstance(document, dict):
            raise CallbackError("Each callback must be a JSON object.")
        if kind == CallbackInbox.Kind.TEMPLATE:
            events += parse_template(document)
        elif kind == CallbackInbox.Kind.DYNAMIC:
            events += parse_dynamic(document)
        else:
            events += parse_v2(document)
    return events


def _meta_values(meta_object) -> list[tuple[str, dict]]:
    """(field, value) pairs from Kaleyra's `meta_object`: Meta's `value`, or a whole webhook."""
    if isinstance(meta_object, str):
        try:
            meta_object = json.loads(meta_object)
        except ValueError:
            return []
    meta = _dict(meta_object)
    if "entry" in meta:
        return [
            (str(change.get("field") or ""), _dict(change.get("value")))
            for entry in _list(meta.get("entry"))
            for change in _list(_dict(entry).get("changes"))
            if isinstance(change, dict)
        ]
    if isinstance(meta.get("value"), dict):
        return [(str(meta.get("field") or ""), meta["value"])]
    if "statuses" in meta or "messages" in meta:
        return [("messages", meta)]
    return []


def parse_v2(data: dict) -> list[Event]:
    """A v2 callback: Meta's `value` in `meta_object`, Kaleyra's `extra_info`, `status`,
    `message_id`. A status Kaleyra raises itself (`not-sent`) may come without a Meta object."""
    extra = _dict(data.get("extra_info"))
    events: list[Event] = []
    for field_name, value in _meta_values(data.get("meta_object")):
        if field_name == "message_template_status_update":
            events += parse_template(value)
            continue
        sender = digits(_dict(value.get("metadata")).get("display_phone_number"))
        for status in _list(value.get("statuses")):
            if isinstance(status, dict):
                events.append(_status_from_meta(status, data, extra, sender))
        names = {
            digits(c.get("wa_id")): text(_dict(c.get("profile")).get("name"), 200)
            for c in _list(value.get("contacts"))
            if isinstance(c, dict)
        }
        for message in _list(value.get("messages")):
            if isinstance(message, dict):
                events.append(_incoming_from_meta(message, names, extra))
    if not events and data.get("status"):
        events.append(_status_from_meta({}, data, extra, ""))
    if not events:
        raise CallbackError(
            "No status, message or template event in the callback (expected "
            "meta_object.value.statuses[] or messages[], or a top-level status)."
        )
    return events


def _first_error(*candidates) -> dict:
    for candidate in candidates:
        for error in _list(candidate):
            if isinstance(error, dict):
                return error
        if isinstance(candidate, dict) and candidate:
            return candidate
    return {}


def _status_from_meta(status: dict, data: dict, extra: dict, sender: str) -> StatusUpdate:
    raw_status = status.get("status") or data.get("status") or ""
    error = _first_error(status.get("errors"), data.get("errors"), data.get("error"))
    details = _dict(error.get("error_data")).get("details") or error.get("details") or ""
    timestamp = status.get("timestamp") or data.get("timestamp") or ""
    return StatusUpdate(
        status=normalise_status(raw_status),
        status_raw=text(raw_status, 30) or "(none)",
        candidate_ids=_ids(data.get("message_id"), extra.get("message_id"), status.get("id")),
        ref=text(extra.get("ref"), 255),
        recipient=digits(status.get("recipient_id") or data.get("mobile") or data.get("to")),
        sender=sender,
        timestamp_raw=text(timestamp, 40),
        timestamp=parse_timestamp(timestamp),
        error_code=text(error.get("code") or data.get("error_code"), 20),
        error_title=text(error.get("title") or error.get("message"), 300),
        error_details=str(details or error.get("message") or "")[:2000],
        price=parse_decimal(status.get("price") or data.get("price") or extra.get("price")),
        currency=text(
            status.get("currency") or data.get("currency") or extra.get("currency"), 3
        ).upper(),
        raw=data,
    )


def _reply_text(message: dict) -> str:
    kind = message.get("type")
    if kind == "text":
        return str(_dict(message.get("text")).get("body") or "")
    if kind == "button":
        return str(_dict(message.get("button")).get("text") or "")
    if kind == "interactive":
        interactive = _dict(message.get("interactive"))
        reply = _dict(interactive.get("button_reply")) or _dict(interactive.get("list_reply"))
        return str(reply.get("title") or "")
    return ""


def _order(order) -> OrderValue | None:
    order = _dict(order)
    if not order:
        return None
    lines = []
    for item in _list(order.get("product_items")):
        item = _dict(item)
        retailer_id = text(item.get("product_retailer_id"), 100)
        if not retailer_id:
            continue
        try:
            quantity = max(0, int(str(item.get("quantity") or 1)))
        except ValueError:
            quantity = 1
        lines.append(
            OrderLine(
                retailer_id=retailer_id,
                quantity=quantity,
                item_price=parse_decimal(item.get("item_price"), places=2, limit=10**10)
                or Decimal("0.00"),
                currency=text(item.get("currency"), 3).upper(),
            )
        )
    return OrderValue(
        catalog_id=text(order.get("catalog_id"), 100),
        text=str(order.get("text") or ""),
        items=lines,
    )


def _incoming_from_meta(message: dict, names: dict, extra: dict) -> IncomingMessage:
    phone = e164(message.get("from"))
    if not phone:
        raise CallbackError("An incoming message has no `from` number.")
    context = _dict(message.get("context"))
    return IncomingMessage(
        phone=phone,
        provider_message_id=text(message.get("id"), 100),
        type=text(message.get("type"), 30),
        text=_reply_text(message)[:4096],
        name=names.get(digits(message.get("from")), ""),
        context_id=text(context.get("id") or extra.get("reply_to"), 100),
        timestamp=parse_timestamp(message.get("timestamp")),
        order=_order(message.get("order")) if message.get("type") == "order" else None,
        raw=message,
    )


def parse_dynamic(data: dict) -> list[Event]:
    """The older "dynamic variable" profile: flat fields (`id`, `status`, `mobile`, `error`,
    `error_code`, `ref`, `ref1`, `ref2`, `price`, `timestamp`), or an incoming message (`from`,
    `body`, `type`, `created_at`, `reply_to`, `mobile`)."""
    if data.get("status"):
        timestamp = data.get("timestamp") or data.get("created_at") or ""
        error_text = data.get("error")
        if isinstance(error_text, dict):
            error_text = error_text.get("title") or error_text.get("message") or ""
        return [
            StatusUpdate(
                status=normalise_status(data["status"]),
                status_raw=text(data["status"], 30),
                candidate_ids=_ids(data.get("id"), data.get("message_id")),
                ref=text(data.get("ref"), 255),
                recipient=digits(data.get("mobile") or data.get("to")),
                sender=digits(data.get("wanumber") or data.get("from")),
                timestamp_raw=text(timestamp, 40),
                timestamp=parse_timestamp(timestamp),
                error_code=text(data.get("error_code"), 20),
                error_title=text(error_text, 300),
                price=parse_decimal(data.get("price")),
                currency=text(data.get("currency"), 3).upper(),
                raw=data,
            )
        ]
    if data.get("from") or data.get("mobile"):
        phone = e164(data.get("from") or data.get("mobile"))
        return [
            IncomingMessage(
                phone=phone,
                provider_message_id=text(data.get("id") or data.get("message_id"), 100),
                type=text(data.get("type") or "text", 30),
                text=str(data.get("body") or data.get("message") or "")[:4096],
                name=text(data.get("name"), 200),
                context_id=text(data.get("reply_to"), 100),
                timestamp=parse_timestamp(data.get("created_at") or data.get("timestamp")),
                raw=data,
            )
        ]
    if data.get("event") or data.get("message_template_name"):
        return parse_template(data)
    raise CallbackError("A dynamic-variable callback needs a `status` or a `from` field.")


def parse_template(data: dict) -> list[TemplateStatusUpdate]:
    """A template status event: Kaleyra's fields (`event`, `message_template_name`,
    `message_template_language`, `reason`…), or Meta's `message_template_status_update` value."""
    for field_name, value in _meta_values(data.get("meta_object")):
        if field_name == "message_template_status_update" or "event" in value:
            data = value
            break
    event = str(data.get("event") or data.get("status") or "").strip()
    name = text(
        data.get("message_template_name") or data.get("template_name") or data.get("name"), 512
    )
    if not event or not name:
        raise CallbackError("A template status event needs an `event` and a template name.")
    return [
        TemplateStatusUpdate(
            name=name,
            language=text(
                data.get("message_template_language")
                or data.get("language")
                or data.get("language_code"),
                15,
            ),
            event_raw=event[:30],
            status=TEMPLATE_EVENTS.get(event.lower(), ""),
            reason=text(data.get("reason"), 200),
            template_id=text(data.get("message_template_id") or data.get("template_id"), 100),
            raw=data,
        )
    ]


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


class _Contended(Exception):
    """Another applier took some of these rows first; this batch is left to it."""


def apply_pending_callbacks(*, limit: int = 1000, retry: bool = True) -> Counter:
    """Apply up to `limit` stored callbacks (oldest first) in one transaction; then, with
    `retry`, match status events that were waiting for their Message. Returns counts."""
    counts = Counter()
    rows = list(
        CallbackInbox.objects.filter(processed_at__isnull=True)
        .order_by("id")
        .values_list("id", "kind", "body", "received_at")[:limit]
    )
    if rows:
        try:
            batch = Counter()
            _apply_rows(rows, batch)
            counts.update(batch)
        except _Contended:
            counts["contended"] += 1
        except (OperationalError, InterfaceError):
            raise  # the database is away: nothing was applied, the rows wait
        except Exception:
            logger.exception("A batch of %d callbacks failed; applying them one by one", len(rows))
            for row in rows:
                counts.update(_apply_one(row))
    if retry:
        counts.update(retry_waiting_events())
    return counts


def _apply_one(row) -> Counter:
    counts = Counter()
    try:
        _apply_rows([row], counts)
    except _Contended:
        return Counter()
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        logger.exception("Callback %s could not be applied", row[0])
        CallbackInbox.objects.filter(pk=row[0], processed_at__isnull=True).update(
            processed_at=timezone.now(), error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        return Counter(rows=1, errors=1)
    return counts


def _apply_rows(rows, counts: Counter):
    now = timezone.now()
    statuses, incoming, templates, errors = [], [], [], {}
    for pk, kind, body, received_at in rows:
        try:
            events = parse_row(kind, body)
        except CallbackError as exc:
            errors[pk] = str(exc)
            continue
        for event in events:
            event.received_at, event.source_id = received_at, pk
            event.raw_text = body
            if isinstance(event, StatusUpdate):
                statuses.append(event)
            elif isinstance(event, IncomingMessage):
                incoming.append(event)
            else:
                templates.append(event)
    prepared = _prepare_statuses(statuses, counts)  # reads only: outside the write transaction
    with sqlite_write_lock(), transaction.atomic():
        ids = [row[0] for row in rows]
        claimed = CallbackInbox.objects.filter(pk__in=ids, processed_at__isnull=True).update(
            processed_at=now
        )
        if claimed != len(ids):
            raise _Contended
        for pk, error in errors.items():
            logger.warning("Callback %s not applied: %s", pk, error)
            CallbackInbox.objects.filter(pk=pk).update(error=error[:2000])
        _write_statuses(prepared, now, counts)
        for message in incoming:
            _apply_incoming(message, now, counts)
        for update in templates:
            _apply_template(update, now, counts)
    counts["rows"] += len(rows)
    counts["errors"] += len(errors)


@dataclass
class _Prepared:
    new: list[StatusUpdate]
    matches: list[MessageRow | None]


def _prepare_statuses(updates: list[StatusUpdate], counts: Counter) -> _Prepared:
    """Drop replays (in this batch or stored before) and find each new event's Message."""
    unique: dict[str, StatusUpdate] = {}
    for update in updates:
        unique.setdefault(update.key, update)
    stored = set()
    if unique:
        stored = set(
            StatusEvent.objects.filter(event_key__in=list(unique)).values_list(
                "event_key", flat=True
            )
        )
    new = [u for k, u in unique.items() if k not in stored]
    counts["statuses"] += len(updates)
    counts["duplicates"] += len(updates) - len(new)
    return _Prepared(new, match_messages(new))


def _write_statuses(prepared: _Prepared, now, counts: Counter):
    rows, to_apply = [], []
    for update, message in zip(prepared.new, prepared.matches, strict=True):
        applied = message is not None and message.state not in WAITING_STATES
        rows.append(
            (
                message.id if message else None,
                update.key,
                update.provider_message_id,
                update.alt_message_id,
                update.ref,
                update.recipient[:20],
                update.sender[:20],
                update.status,
                update.status_raw,
                adapt_datetime(update.timestamp),
                update.error_code,
                update.error_title,
                update.error_details,
                update.price,
                update.currency,
                update.raw_text or json.dumps(update.raw),
                adapt_datetime(update.received_at or now),
                applied,
            )
        )
        if applied:
            to_apply.append((update, message))
    if rows:
        # ON CONFLICT DO NOTHING: a second applier racing on the same event stores it once too.
        with connection.cursor() as cursor:
            insert_status_events(cursor, rows)
    counts["stored"] += len(rows)
    counts["waiting"] += len(rows) - len(to_apply)
    apply_to_messages(to_apply, now, counts)
    _pace(prepared.new, now, counts)


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
    if settings.MPM_RETRY_131049:
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
    requeued = candidates.update(
        state=Message.State.QUEUED,
        meta_code="131049",
        meta_retried=True,
        next_attempt_at=retry_at,
        claimed_by="",
        detail=(
            "Meta 131049 (per-user marketing limit): queued once more, for "
            f"{timezone.localtime(retry_at):%Y-%m-%d %H:%M %Z} or later."
        ),
        updated_at=now,
    )
    counts["requeued_131049"] += requeued
    if requeued:
        transaction.on_commit(lambda: _schedule_sends(campaigns, retry_at))


def _schedule_sends(campaign_ids, when):
    """Wake a worker for the retried messages when they are due (if the backend can wait)."""
    from .tasks import send_campaign_task

    later = send_campaign_task.using(run_after=when)
    if not later.get_backend().supports_defer:
        return
    for campaign_id in campaign_ids:
        later.enqueue(campaign_id)


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
        counts["paused"] += Campaign.objects.filter(
            pk=message.campaign_id, state=Campaign.State.SENDING
        ).update(
            state=Campaign.State.PAUSED,
            paused_reason=f"Meta {code}: {explain_meta(code)}"[:300],
            updated_at=now,
        )
    elif code in TEMPLATE_CODES:
        template_ids = list(
            Campaign.objects.filter(pk=message.campaign_id).values_list("template_id", flat=True)
        )
        MessageTemplate.objects.filter(pk__in=template_ids).update(
            status=TEMPLATE_CODES[code], updated_at=now
        )
        counts["paused"] += stop_campaigns_using(
            template_ids, f"Meta {code}: {explain_meta(code)}", now
        )


def stop_campaigns_using(template_ids, reason: str, now) -> int:
    """Pause every sending campaign whose template can no longer be sent, saying why."""
    return Campaign.objects.filter(
        template_id__in=template_ids, state=Campaign.State.SENDING
    ).update(state=Campaign.State.PAUSED, paused_reason=reason[:300], updated_at=now)


def retry_waiting_events(*, limit: int = 1000) -> Counter:
    """Apply stored status events whose Message was unknown or not yet answered, now that it
    may be: those matching a provider id that has since appeared, or whose Message has left
    `queued`/`sending`. Cheap when there are none (a partial index holds only these)."""
    counts = Counter()
    now = timezone.now()
    cutoff = now - timedelta(hours=settings.MPM_CALLBACK_MATCH_HOURS)
    by_provider = Message.objects.filter(message_id=OuterRef("provider_message_id"))
    by_alt = Message.objects.filter(message_id=OuterRef("alt_message_id"))
    events = list(
        StatusEvent.objects.filter(applied=False, received_at__gte=cutoff)
        .filter(
            (Q(message__isnull=False) & ~Q(message__state__in=WAITING_STATES))
            | (
                Q(message__isnull=True)
                & (
                    (~Q(provider_message_id="") & Exists(by_provider))
                    | (~Q(alt_message_id="") & Exists(by_alt))
                )
            )
        )
        .order_by("id")[:limit]
    )
    if not events:
        return counts
    updates = [_update_from_event(event) for event in events]
    matches = match_messages(updates)
    pairs = []
    with sqlite_write_lock(), transaction.atomic():
        for event, update, message in zip(events, updates, matches, strict=True):
            if message is None:
                continue
            applied = message.state not in WAITING_STATES
            taken = StatusEvent.objects.filter(pk=event.pk, applied=False).update(
                message_id=message.id, applied=applied
            )
            if taken and applied:
                pairs.append((update, message))
        apply_to_messages(pairs, now, counts)
    counts["matched_later"] += len(pairs)
    return counts


def _update_from_event(event: StatusEvent) -> StatusUpdate:
    return StatusUpdate(
        status=event.status,
        status_raw=event.status_raw,
        candidate_ids=_ids(event.provider_message_id, event.alt_message_id),
        ref=event.ref,
        recipient=event.recipient,
        sender=event.sender,
        timestamp=event.timestamp,
        error_code=event.error_code,
        error_title=event.error_title,
        received_at=event.received_at,
    )


# --- pacing --------------------------------------------------------------------------------------


def _pace(updates: list[StatusUpdate], now, counts: Counter):
    """130429 / 131056 slow the sender down: once per sender and code in a batch, and only for
    events recent enough to still matter (a replay from yesterday changes nothing)."""
    window = timedelta(seconds=settings.MPM_PACING_SLOWDOWN_SECONDS)
    seen = set()
    for update in updates:
        if update.error_code not in PACING_CODES:
            continue
        if update.timestamp and update.timestamp < now - window:
            continue
        sender = update.sender or digits(settings.KALEYRA_SENDER) or "default"
        if (sender, update.error_code) in seen:
            continue
        seen.add((sender, update.error_code))
        slow_down(sender=sender, code=update.error_code, now=now)
        counts["slowed"] += 1


def slow_down(*, sender: str, code: str, now=None) -> float:
    """Cut `sender`'s pacing factor for MPM_PACING_SLOWDOWN_SECONDS; returns the new factor."""
    now = now or timezone.now()
    sender = digits(sender) or "default"
    step = PACING_CODES.get(code, 0.5)
    until = now + timedelta(seconds=settings.MPM_PACING_SLOWDOWN_SECONDS)
    reason = f"Meta {code}: {explain_meta(code).meaning}"[:300]
    with transaction.atomic():
        pacing = SenderPacing.objects.select_for_update().filter(sender=sender).first()
        if pacing is None:
            pacing = SenderPacing(sender=sender, factor=step)
        elif pacing.until <= now:
            pacing.factor = step
        elif pacing.updated_at <= now - timedelta(seconds=PACING_STEP_SECONDS):
            pacing.factor = max(MIN_PACING_FACTOR, pacing.factor * step)
        pacing.code, pacing.reason, pacing.until = code, reason, until
        pacing.save()
    return pacing.factor


def current_pacing_factor(sender: str, *, now=None) -> float:
    """The share of its configured rate `sender` should send at now: 1.0 normally, less for a
    while after Meta's 130429 / 131056. One indexed query; the engine asks every half second."""
    factor = (
        SenderPacing.objects.filter(
            sender=digits(sender) or "default", until__gt=now or timezone.now()
        )
        .values_list("factor", flat=True)
        .first()
    )
    return factor if factor else 1.0


# --- replies and orders --------------------------------------------------------------------------


def _reply_word(value: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", value).split()).casefold()


def stop_words() -> set[str]:
    return {_reply_word(w) for w in (*STOP_WORDS, *settings.MPM_STOP_WORDS)} - {""}


def start_words() -> set[str]:
    return {_reply_word(w) for w in (*START_WORDS, *settings.MPM_START_WORDS)} - {""}


def _apply_incoming(message: IncomingMessage, now, counts: Counter):
    counts["incoming"] += 1
    if message.order is not None:
        record_order(message, now, counts)
        return
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
        counts["opt_ins"] += optout_remove(phone=message.phone)


def optout_add(
    *, phone: str, reason: str, keyword: str = "", source_id: int | None = None, now=None
) -> bool:
    """Put a number on the opt-out list (True when it was not on it) and skip its queued,
    not yet claimed messages, so even a campaign already sending leaves it out."""
    now = now or timezone.now()
    _, created = OptOut.objects.get_or_create(
        phone=phone, defaults={"reason": reason, "keyword": keyword, "source_id": source_id}
    )
    Message.objects.filter(to=phone, state=Message.State.QUEUED, is_test=False).update(
        state=Message.State.SKIPPED, detail=OPT_OUT_SKIP_REASON, updated_at=now
    )
    return created


def optout_remove(*, phone: str) -> int:
    """START: the number may get marketing again. An operator's own opt-out stays."""
    deleted, _ = OptOut.objects.filter(phone=phone).exclude(reason=OptOut.Reason.MANUAL).delete()
    return deleted


def attributed_message(phone: str, *, context_id: str = "", when=None) -> MessageRow | None:
    """The campaign message an order came from: the one it replies to when named, else the
    customer's most recent campaign message within MPM_ORDER_ATTRIBUTION_DAYS."""
    fields = MESSAGE_ROW_FIELDS
    if context_id:
        row = Message.objects.filter(message_id=context_id).values_list(*fields).first()
        if row:
            return MessageRow(*row)
    when = when or timezone.now()
    since = when - timedelta(days=settings.MPM_ORDER_ATTRIBUTION_DAYS)
    row = (
        Message.objects.filter(
            to=phone,
            is_test=False,
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
        total=sum((line.item_price * line.quantity for line in order_value.items), Decimal("0")),
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


def _apply_template(update: TemplateStatusUpdate, now, counts: Counter):
    counts["template_events"] += 1
    if not update.status:
        return  # e.g. FLAGGED: a warning from Meta that changes nothing yet
    templates = MessageTemplate.objects.filter(name=update.name)
    if update.language:
        templates = templates.filter(language=update.language)
    ids = list(templates.values_list("id", flat=True))
    if not ids:
        counts["templates_unknown"] += 1
        return
    MessageTemplate.objects.filter(pk__in=ids).update(status=update.status, updated_at=now)
    if update.status != MessageTemplate.Status.APPROVED:
        label = f"{update.name} ({update.language})" if update.language else update.name
        reason = f"Template {label} is now {update.status} in WhatsApp"
        reason += f": {update.reason}." if update.reason else "."
        counts["paused"] += stop_campaigns_using(ids, reason + " Sending stopped.", now)
