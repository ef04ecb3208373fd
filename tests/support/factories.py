"""Factories for test rows: the smallest valid objects, overridable per test."""

import itertools
from decimal import Decimal

from django.utils import timezone

from campaigns.models import (
    Campaign,
    Message,
    MessageTemplate,
    Product,
    Section,
    SectionItem,
    Sender,
    StatusEvent,
    WebhookEndpoint,
    WebhookEvent,
)

_sequence = itertools.count(1)


def make_product(**fields) -> Product:
    n = next(_sequence)
    defaults = {
        "retailer_id": f"SKU-{n:05d}",
        "name": f"Product {n}",
        "price": Decimal("499.00"),
        "currency": "INR",
        "image_url": f"https://example.com/p/{n}.jpg",
    }
    return Product.objects.create(**{**defaults, **fields})


def make_template(**fields) -> MessageTemplate:
    defaults = {
        "name": f"abandoned_cart_{next(_sequence)}",
        "language": "en_US",
        "header_text": "Your {{1}} is waiting",
        "body_text": "Hi {{1}}, the items in your cart are almost gone.",
        "footer_text": "Reply STOP to opt out",
        "button_index": 0,
        "status": MessageTemplate.Status.APPROVED,
    }
    return MessageTemplate.objects.create(**{**defaults, **fields})


def make_campaign(*, sections=((("Premium Packages"), 1),), template=None, **fields) -> Campaign:
    """A valid campaign; `sections` is a sequence of (title, product count)."""
    template = template or make_template()
    defaults = {
        "name": "Cart reminder",
        "template": template,
        "header_value": "cart" if template.header_variable_count else "",
        "body_values": [f"value {n}" for n in range(1, template.body_variable_count + 1)],
        "thumbnail_product": make_product(),
    }
    campaign = Campaign.objects.create(**{**defaults, **fields})
    for position, (title, count) in enumerate(sections):
        add_section(campaign, title, count, position=position)
    return campaign


def add_section(campaign: Campaign, title: str, count: int, *, position: int = 0) -> Section:
    section = Section.objects.create(campaign=campaign, title=title, position=position)
    for index in range(count):
        SectionItem.objects.create(section=section, product=make_product(), position=index)
    return section


def add_section_with(campaign: Campaign, title: str, products, *, position: int = 0) -> Section:
    """A section holding the given products, in order (for tests that need particular SKUs)."""
    section = Section.objects.create(campaign=campaign, title=title, position=position)
    for index, product in enumerate(products):
        SectionItem.objects.create(section=section, product=product, position=index)
    return section


def make_message(campaign: Campaign, to: str, **fields) -> Message:
    """A real (non-test) Message as the engine leaves it after a 202: accepted, with an id."""
    defaults = {
        "state": Message.State.ACCEPTED,
        "message_id": f"KAL{next(_sequence):08d}",
        "claimed_at": timezone.now(),
        "attempts": 1,
    }
    return Message.objects.create(campaign=campaign, to=to, **{**defaults, **fields})


def make_status_event(message: Message, status: str, at=None) -> StatusEvent:
    """A delivery status already applied to its Message, as the callback applier leaves it."""
    at = at or timezone.now()
    return StatusEvent.objects.create(
        message=message,
        event_key=f"{message.message_id}|{status}|{at.timestamp()}",
        provider_message_id=message.message_id,
        status=status,
        status_raw=status.upper(),
        timestamp=at,
        applied=True,
    )


def make_endpoint(url: str, *, events=None, **fields) -> WebhookEndpoint:
    """An active endpoint subscribed to `events` (default: every event type)."""
    defaults = {"name": f"Receiver {next(_sequence)}", "is_active": True}
    return WebhookEndpoint.objects.create(
        url=url,
        event_types=list(events if events is not None else WebhookEvent.values),
        **{**defaults, **fields},
    )


def make_sender(**fields) -> Sender:
    """An active sender on its own business number (+91 90000 2xxxx), its key in
    KALEYRA_API_KEY unless `api_key_variable` says otherwise."""
    n = next(_sequence)
    defaults = {
        "display_name": f"Brand {n}",
        "business_number": f"+9190000{20000 + n:05d}",
        "region": "in",
        "sid": f"HXSENDER{n}",
        "rate_per_second": 80,
    }
    return Sender.objects.create(**{**defaults, **fields})
