"""Kaleyra's callback bodies as plain event values: delivery statuses, incoming messages
(replies, orders) and template status events. Pure: no queries, no settings.

Shapes from spec-notes ("Kaleyra callbacks (v2)"): a v2 callback wraps Meta's webhook `value`
(`meta_object.value.statuses[]` / `messages[]` / `contacts[]`) with Kaleyra's `extra_info`,
`status` and `message_id`; the older "dynamic variable" profile sends flat fields (`id`,
`status`, `mobile`, `error`, `error_code`, `ref`…, `price`, `timestamp`), as query parameters
or a body. Statuses vary in letter case between Kaleyra's pages.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from hashlib import sha256

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from campaigns import jsonsafe
from campaigns.models import CallbackInbox, Order, OrderItem, StatusEvent
from campaigns.models.catalog import provider_template_status

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

# What the tables can hold. Times: from the Unix epoch (Meta's clock) to 2100; a time outside
# that is not an event's (and near the calendar's ends, adding a day to it overflows).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_QUANTITY = 2_147_483_647  # PositiveIntegerField: safe on every database Django supports
MAX_PHONE_DIGITS = 15  # E.164


def _decimal_limit(field) -> int:
    return 10 ** (field.max_digits - field.decimal_places)


STATUS_PRICE_LIMIT = _decimal_limit(StatusEvent._meta.get_field("price"))
ITEM_PRICE_LIMIT = _decimal_limit(OrderItem._meta.get_field("item_price"))
ORDER_TOTAL_LIMIT = _decimal_limit(Order._meta.get_field("total"))


# --- event values --------------------------------------------------------------------------------


class CallbackError(ValueError):
    """The body is not a callback this app understands; the message says why."""

    problem = CallbackInbox.Problem.NOT_A_CALLBACK


class OutOfRange(CallbackError):
    """The callback is understood, but a value in it (a time, a quantity, a price, a number)
    is beyond what can be stored: the callback is kept, not applied, for staff to see."""

    problem = CallbackInbox.Problem.OUT_OF_RANGE


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
    total: Decimal = Decimal("0")


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
    sender: str = ""  # the business number written to (digits), when the callback says


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
    if len(number) > MAX_PHONE_DIGITS:
        raise OutOfRange(f"The number {number[:40]} has more than {MAX_PHONE_DIGITS} digits.")
    return f"+{number}" if number else ""


def text(value, limit: int) -> str:
    return str(value).strip()[:limit] if value not in (None, "") else ""


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def parse_timestamp(value) -> datetime | None:
    """Unix seconds (Meta), milliseconds, or an ISO / `YYYY-MM-DD HH:MM:SS` time (UTC if naive);
    None when there is no time or it cannot be read; OutOfRange outside EARLIEST … LATEST."""
    raw = str(value).strip() if value not in (None, "") else ""
    if not raw:
        return None
    parsed = None
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        seconds = float(raw)
        if seconds > 1e12:
            seconds /= 1000
        try:
            parsed = datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            parsed = LATEST + (LATEST - EARLIEST)  # past any calendar: refused below
    else:
        try:
            parsed = parse_datetime(raw)
        except ValueError:
            return None
        if parsed is None:
            return None
        if timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=UTC)
    if not EARLIEST <= parsed < LATEST:
        raise OutOfRange(
            f"The time {raw[:40]} is outside {EARLIEST:%Y} to {LATEST:%Y}: it cannot be an event's."
        )
    return parsed


def parse_decimal(value, *, places: int = 6, limit: int = STATUS_PRICE_LIMIT) -> Decimal | None:
    """A price: None when there is none or it is not a number; OutOfRange when it is a number
    the table cannot hold (NaN, infinite, `limit` or more)."""
    if value in (None, ""):
        return None
    raw = str(value).strip()
    try:
        number = Decimal(raw)
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or number.copy_abs() >= limit:
        raise OutOfRange(f"The amount {raw[:40]} is not below {limit:,}.")
    return number.quantize(Decimal(1).scaleb(-places))


def parse_quantity(value) -> int:
    """An order line's quantity: 1 when missing or unreadable (Meta's default), at least 0;
    OutOfRange beyond MAX_QUANTITY."""
    raw = str(value).strip() if value not in (None, "") else "1"
    try:
        number = Decimal(raw)
    except (InvalidOperation, ValueError):
        return 1
    if not number.is_finite() or number.copy_abs() > MAX_QUANTITY:
        raise OutOfRange(f"The quantity {raw[:40]} is more than {MAX_QUANTITY:,}.")
    return max(0, int(number))


def normalise_status(value) -> str:
    return STATUS_MAP.get(str(value or "").strip().lower(), StatusEvent.Status.UNKNOWN)


def provider_ids(*values) -> tuple[str, ...]:
    seen = []
    for value in values:
        ident = text(value, 100)
        if ident and ident not in seen:
            seen.append(ident)
    return tuple(seen)


def parse_row(kind: str, body: str) -> list[Event]:
    """The events in one stored callback; CallbackError when there are none to apply, and
    OutOfRange when a value in it cannot be stored."""
    try:
        data = jsonsafe.loads(body)
    except jsonsafe.JsonRefused as exc:
        raise CallbackError(f"The body was refused: {exc}.") from None
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
                events[-1].sender = sender[:20]
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
        candidate_ids=provider_ids(
            data.get("message_id"), extra.get("message_id"), status.get("id")
        ),
        ref=text(extra.get("ref"), 255),
        recipient=digits(status.get("recipient_id") or data.get("mobile") or data.get("to"))[:20],
        sender=sender[:20],
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
        lines.append(
            OrderLine(
                retailer_id=retailer_id,
                quantity=parse_quantity(item.get("quantity")),
                item_price=parse_decimal(item.get("item_price"), places=2, limit=ITEM_PRICE_LIMIT)
                or Decimal("0.00"),
                currency=text(item.get("currency"), 3).upper(),
            )
        )
    total = sum((line.item_price * line.quantity for line in lines), Decimal("0"))
    if total >= ORDER_TOTAL_LIMIT:
        raise OutOfRange(f"The order's total {total:,} is not below {ORDER_TOTAL_LIMIT:,}.")
    return OrderValue(
        catalog_id=text(order.get("catalog_id"), 100),
        text=str(order.get("text") or ""),
        items=lines,
        total=total,
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
                candidate_ids=provider_ids(data.get("id"), data.get("message_id")),
                ref=text(data.get("ref"), 255),
                recipient=digits(data.get("mobile") or data.get("to"))[:20],
                sender=digits(data.get("wanumber") or data.get("from"))[:20],
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
                sender=digits(data.get("wanumber"))[:20],
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
            status=provider_template_status(event),
            reason=text(data.get("reason"), 200),
            template_id=text(data.get("message_template_id") or data.get("template_id"), 100),
            raw=data,
        )
    ]
