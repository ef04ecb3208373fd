"""The events webhooks carry, read from records the app writes anyway, so neither the send
engine nor the callback intake does any work for webhooks:

- `SendAttempt` (written with its Message's new state in one commit): message.accepted, and
  message.failed when the send itself failed for good;
- `StatusEvent`, once applied to its Message (the applier writes both in one commit):
  message.sent / delivered / read / failed;
- `Order`: order.received; `OptOut`: optout.created.

Each loader turns rows into (id, outcome): an `Event`, `Wait` (look again: a status event whose
Message is not answered yet) or None (nothing to tell). Payload shapes: README "Webhooks".
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max, Q

from campaigns import conf
from campaigns.models import Message, OptOut, Order, SendAttempt, StatusEvent, WebhookEvent


@dataclass(frozen=True)
class Event:
    key: str  # "<source>-<row id>": the payload's `id`, unique per endpoint
    type: str
    campaign_id: int | None
    data: dict


@dataclass(frozen=True)
class Wait:
    until: float  # Unix seconds: looked at again until then, then forgotten


Outcome = Event | Wait | None


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def envelope(event: Event, created: str) -> str:
    """The body every endpoint gets for `event`, serialised once and posted as is."""
    return json.dumps(
        {"id": event.key, "type": event.type, "created": created, "data": event.data},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def message_data(message: Message, *, state: str, at, code: str = "", reason: str = "") -> dict:
    campaign = message.campaign
    return {
        "message_id": message.pk,
        "campaign": {"id": campaign.pk, "name": campaign.name},
        "to": message.to,
        "state": state,
        "kaleyra_message_id": message.message_id,
        "test": message.is_test,
        "code": code,
        "reason": reason,
        "at": iso(at),
    }


def attempt_accepted(attempt: SendAttempt) -> bool:
    """Kaleyra's 202 with a message id (`kaleyra.results.parse_answer`)."""
    return 200 <= (attempt.http_status or 0) < 300 and bool(attempt.provider_message_id)


def load_attempts(where: Q, limit: int | None, now) -> list[tuple[int, Outcome]]:
    """An accepted attempt is message.accepted. A refused one is message.failed only when it
    is its Message's last and left it failed (an earlier one was retried), and WhatsApp never
    reported on it (then the status event tells)."""
    attempts = list(
        SendAttempt.objects.filter(where)
        .select_related("message__campaign")
        .defer("request_body", "response_body", "error")
        .order_by("id")[:limit]
    )
    message_ids = {a.message_id for a in attempts}
    latest = dict(
        SendAttempt.objects.filter(message_id__in=message_ids)
        .values("message_id")
        .annotate(last=Max("id"))
        .values_list("message_id", "last")
    )
    reported = set(
        StatusEvent.objects.filter(message_id__in=message_ids).values_list("message_id", flat=True)
    )
    found = []
    for attempt in attempts:
        message = attempt.message
        if attempt_accepted(attempt):
            event = Event(
                f"attempt-{attempt.pk}",
                WebhookEvent.MESSAGE_ACCEPTED,
                message.campaign_id,
                message_data(message, state=Message.State.ACCEPTED, at=attempt.created_at),
            )
        elif (
            message.state == Message.State.FAILED
            and latest.get(message.pk) == attempt.pk
            and message.pk not in reported
        ):
            event = Event(
                f"attempt-{attempt.pk}",
                WebhookEvent.MESSAGE_FAILED,
                message.campaign_id,
                message_data(
                    message,
                    state=Message.State.FAILED,
                    at=attempt.created_at,
                    code=attempt.code or str(attempt.http_status or ""),
                    reason=message.detail,
                ),
            )
        else:
            event = None
        found.append((attempt.pk, event))
    return found


STATUS_EVENT_TYPES = {
    StatusEvent.Status.SENT: WebhookEvent.MESSAGE_SENT,
    StatusEvent.Status.DELIVERED: WebhookEvent.MESSAGE_DELIVERED,
    StatusEvent.Status.READ: WebhookEvent.MESSAGE_READ,
    StatusEvent.Status.FAILED: WebhookEvent.MESSAGE_FAILED,
    StatusEvent.Status.NOT_SENT: WebhookEvent.MESSAGE_FAILED,
}


def load_statuses(where: Q, limit: int | None, now) -> list[tuple[int, Outcome]]:
    """Told once applied, so the Message's state already says it; one not applied yet waits
    as long as the applier keeps trying to match it (MPM_CALLBACK_MATCH_HOURS)."""
    window = timedelta(hours=conf.MPM_CALLBACK_MATCH_HOURS)
    found = []
    for status in (
        StatusEvent.objects.filter(where)
        .select_related("message__campaign")
        .defer("raw", "error_details")
        .order_by("id")[:limit]
    ):
        kind = STATUS_EVENT_TYPES.get(status.status)
        outcome: Outcome = None
        if kind is not None and not status.applied:
            until = status.received_at + window
            outcome = Wait(until.timestamp()) if until > now else None
        elif kind is not None and status.message is not None:
            message = status.message
            failed = kind == WebhookEvent.MESSAGE_FAILED
            outcome = Event(
                f"status-{status.pk}",
                kind,
                message.campaign_id,
                message_data(
                    message,
                    state=status.status,
                    at=status.timestamp or status.received_at,
                    code=status.error_code,
                    reason=(status.error_title or message.detail) if failed else "",
                ),
            )
        found.append((status.pk, outcome))
    return found


def load_orders(where: Q, limit: int | None, now) -> list[tuple[int, Outcome]]:
    orders = (
        Order.objects.filter(where)
        .select_related("campaign")
        .prefetch_related("items")
        .defer("raw")
        .order_by("id")[:limit]
    )
    return [
        (
            order.pk,
            Event(
                f"order-{order.pk}",
                WebhookEvent.ORDER_RECEIVED,
                order.campaign_id,
                {
                    "order_id": order.pk,
                    "from": order.from_phone,
                    "items": [
                        {
                            "retailer_id": item.retailer_id,
                            "quantity": item.quantity,
                            "item_price": str(item.item_price),
                            "currency": item.currency,
                        }
                        for item in order.items.all()
                    ],
                    "total": str(order.total),
                    "currency": order.currency,
                    "campaign": (
                        {"id": order.campaign.pk, "name": order.campaign.name}
                        if order.campaign
                        else None
                    ),
                    "message_id": order.message_id,
                    "kaleyra_message_id": order.provider_message_id,
                    "at": iso(order.received_at),
                },
            ),
        )
        for order in orders
    ]


def load_optouts(where: Q, limit: int | None, now) -> list[tuple[int, Outcome]]:
    optouts = OptOut.objects.filter(where).order_by("id")[:limit]
    return [
        (
            optout.pk,
            Event(
                f"optout-{optout.pk}",
                WebhookEvent.OPTOUT_CREATED,
                None,
                {
                    "phone": optout.phone,
                    "reason": optout.reason,
                    "keyword": optout.keyword,
                    "at": iso(optout.created_at),
                },
            ),
        )
        for optout in optouts
    ]


@dataclass(frozen=True)
class Source:
    name: str
    model: type
    written_at: str  # the field saying when a row was written: where a new cursor starts
    load: Callable[[Q, int | None, datetime], list[tuple[int, Outcome]]]


SOURCES = (
    Source("attempts", SendAttempt, "created_at", load_attempts),
    Source("statuses", StatusEvent, "received_at", load_statuses),
    Source("orders", Order, "received_at", load_orders),
    Source("optouts", OptOut, "created_at", load_optouts),
)
