"""Records into deliveries: which records become which events, with which payload, for which
endpoints; the cursor's second looks (gaps, waiting status events) and why they never queue an
event twice."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.callbacks import optout_add, retry_waiting_events
from campaigns.models import (
    Message,
    OptOut,
    Order,
    OrderItem,
    SendAttempt,
    StatusEvent,
    WebhookCursor,
    WebhookDelivery,
    WebhookEvent,
)
from campaigns.webhooks import emit_events
from campaigns.webhooks.events import SOURCES
from campaigns.webhooks.tail import GAP_WAIT, _Contended, _pass, missing_ranges
from tests.support.factories import (
    make_campaign,
    make_endpoint,
    make_message,
    make_status_event,
)

ASHA = "+919876543210"
URL = "https://hooks.example.com/mpm"

pytestmark = pytest.mark.django_db


def emit(now=None):
    return emit_events(now=now or timezone.now())


def accepted_attempt(message: Message) -> SendAttempt:
    return SendAttempt.objects.create(
        message=message,
        request_body={},
        http_status=202,
        code="",
        provider_message_id=message.message_id,
    )


def refused_attempt(message: Message, code="WA401") -> SendAttempt:
    return SendAttempt.objects.create(message=message, request_body={}, http_status=401, code=code)


def payloads(**filters) -> list[dict]:
    rows = WebhookDelivery.objects.filter(**filters).order_by("id")
    return [json.loads(row.payload) for row in rows]


def test_an_accepted_send_is_message_accepted_with_its_details():
    endpoint = make_endpoint(URL)
    campaign = make_campaign(name="Diwali")
    message = make_message(campaign, ASHA, message_id="KAL-1")
    attempt = accepted_attempt(message)

    assert emit()["events"] == 1

    delivery = WebhookDelivery.objects.get()
    assert (delivery.endpoint, delivery.event_type, delivery.event_key) == (
        endpoint,
        "message.accepted",
        f"attempt-{attempt.pk}",
    )
    assert delivery.state == WebhookDelivery.State.PENDING
    body = json.loads(delivery.payload)
    assert body["id"] == f"attempt-{attempt.pk}"
    assert body["type"] == "message.accepted"
    assert body["created"].endswith("Z")
    assert body["data"] == {
        "message_id": message.pk,
        "campaign": {"id": campaign.pk, "name": "Diwali"},
        "to": ASHA,
        "state": "accepted",
        "kaleyra_message_id": "KAL-1",
        "test": False,
        "code": "",
        "reason": "",
        "at": attempt.created_at.isoformat().replace("+00:00", "Z"),
    }


def test_a_send_that_failed_for_good_is_message_failed_with_code_and_reason():
    make_endpoint(URL)
    message = make_message(
        make_campaign(),
        ASHA,
        state=Message.State.FAILED,
        message_id="",
        detail="The number is not on WhatsApp.",
    )
    refused_attempt(message)
    emit()
    [body] = payloads()
    assert body["type"] == "message.failed"
    assert body["data"]["code"] == "WA401"
    assert body["data"]["reason"] == "The number is not on WhatsApp."


def test_a_refusal_that_is_retried_tells_nothing_until_the_last_attempt():
    make_endpoint(URL)
    message = make_message(make_campaign(), ASHA, state=Message.State.QUEUED, message_id="")
    refused_attempt(message, code="WA500")
    emit()
    assert not WebhookDelivery.objects.exists()

    second = refused_attempt(message, code="WA500")
    Message.objects.filter(pk=message.pk).update(state=Message.State.FAILED)
    emit()
    assert [d.event_key for d in WebhookDelivery.objects.all()] == [f"attempt-{second.pk}"]


@pytest.mark.parametrize(
    ("status", "event"),
    [
        ("sent", "message.sent"),
        ("delivered", "message.delivered"),
        ("read", "message.read"),
        ("failed", "message.failed"),
        ("not_sent", "message.failed"),
    ],
)
def test_applied_status_events_are_told(status, event):
    make_endpoint(URL)
    message = make_message(make_campaign(), ASHA)
    status_event = make_status_event(message, status)
    emit()
    [body] = payloads()
    assert (body["type"], body["id"], body["data"]["state"]) == (
        event,
        f"status-{status_event.pk}",
        status,
    )


def test_a_status_event_waiting_for_its_message_is_told_once_applied_later():
    """The cursor passes it; it is looked at again until the applier matches it."""
    make_endpoint(URL)
    message = make_message(make_campaign(), ASHA, message_id="KAL-LATE")
    waiting = StatusEvent.objects.create(
        event_key="KAL-LATE|delivered|1",
        provider_message_id="KAL-LATE",
        status="delivered",
        status_raw="DELIVERED",
        applied=False,
    )
    later = make_status_event(make_message(make_campaign(), "+919876543211"), "read")
    emit()
    assert [d.event_key for d in WebhookDelivery.objects.all()] == [f"status-{later.pk}"]
    assert WebhookCursor.objects.get(source="statuses").last_id == later.pk

    assert retry_waiting_events()["matched_later"] == 1
    emit()
    assert set(WebhookDelivery.objects.values_list("event_key", flat=True)) == {
        f"status-{later.pk}",
        f"status-{waiting.pk}",
    }
    message.refresh_from_db()
    assert message.state == Message.State.DELIVERED
    assert WebhookCursor.objects.get(source="statuses").recheck == []


def test_an_order_is_order_received_with_items_and_attribution():
    make_endpoint(URL)
    campaign = make_campaign(name="Cart")
    message = make_message(campaign, ASHA)
    order = Order.objects.create(
        provider_message_id="wamid.ORDER1",
        from_phone=ASHA,
        message=message,
        campaign=campaign,
        currency="INR",
        total=Decimal("1497.00"),
    )
    OrderItem.objects.create(
        order=order, retailer_id="SKU-1", quantity=3, item_price=Decimal("499"), currency="INR"
    )
    emit()
    [body] = payloads(event_type="order.received")
    assert body["data"] == {
        "order_id": order.pk,
        "from": ASHA,
        "items": [
            {"retailer_id": "SKU-1", "quantity": 3, "item_price": "499.00", "currency": "INR"}
        ],
        "total": "1497.00",
        "currency": "INR",
        "campaign": {"id": campaign.pk, "name": "Cart"},
        "message_id": message.pk,
        "kaleyra_message_id": "wamid.ORDER1",
        "at": order.received_at.isoformat().replace("+00:00", "Z"),
    }


def test_an_opt_out_is_optout_created():
    make_endpoint(URL)
    optout_add(phone=ASHA, reason=OptOut.Reason.STOP_KEYWORD, keyword="STOP")
    emit()
    [body] = payloads()
    assert body["type"] == "optout.created"
    assert body["data"]["phone"] == ASHA
    assert body["data"]["reason"] == "stop_keyword"
    assert body["data"]["keyword"] == "STOP"


def test_each_endpoint_gets_what_it_subscribed_to_and_a_disabled_one_nothing():
    reads = make_endpoint(URL, events=[WebhookEvent.MESSAGE_READ])
    everything = make_endpoint(URL + "/all")
    disabled = make_endpoint(URL + "/off", is_active=False)
    message = make_message(make_campaign(), ASHA)
    accepted_attempt(message)
    make_status_event(message, "read")
    emit()
    assert list(reads.deliveries.values_list("event_type", flat=True)) == ["message.read"]
    assert set(everything.deliveries.values_list("event_type", flat=True)) == {
        "message.accepted",
        "message.read",
    }
    assert not disabled.deliveries.exists()


def test_a_campaign_filter_lets_that_campaign_and_every_opt_out_through():
    mine, other = make_campaign(), make_campaign()
    endpoint = make_endpoint(URL, campaign=mine)
    accepted_attempt(make_message(mine, ASHA))
    accepted_attempt(make_message(other, ASHA))
    optout_add(phone=ASHA, reason=OptOut.Reason.MANUAL)
    emit()
    got = [json.loads(d.payload) for d in endpoint.deliveries.order_by("id")]
    assert [(b["type"], b["data"].get("campaign", {}).get("id")) for b in got] == [
        ("message.accepted", mine.pk),
        ("optout.created", None),
    ]


def test_records_written_before_the_first_endpoint_are_not_told():
    message = make_message(make_campaign(), ASHA)
    accepted_attempt(message)
    make_endpoint(URL)
    newer = accepted_attempt(message)
    emit()
    assert list(WebhookDelivery.objects.values_list("event_key", flat=True)) == [
        f"attempt-{newer.pk}"
    ]


def test_with_no_active_endpoint_nothing_is_queued_and_the_cursor_keeps_up():
    endpoint = make_endpoint(URL)
    emit()
    endpoint.is_active = False
    endpoint.save()
    message = make_message(make_campaign(), ASHA)
    missed = accepted_attempt(message)
    emit()
    assert not WebhookDelivery.objects.exists()
    assert WebhookCursor.objects.get(source="attempts").last_id == missed.pk

    endpoint.is_active = True
    endpoint.save()
    told = accepted_attempt(message)
    emit()
    assert list(WebhookDelivery.objects.values_list("event_key", flat=True)) == [
        f"attempt-{told.pk}"
    ]


def test_reading_a_source_again_never_queues_an_event_twice():
    make_endpoint(URL)
    message = make_message(make_campaign(), ASHA)
    accepted_attempt(message)
    make_status_event(message, "delivered")
    emit()
    before = list(WebhookDelivery.objects.values_list("id", "event_key"))
    assert len(before) == 2

    WebhookCursor.objects.update(last_id=0, recheck=[])  # as if every row were new again
    emit()
    assert list(WebhookDelivery.objects.values_list("id", "event_key")) == before


def test_rows_committed_after_a_higher_id_are_still_told():
    """PostgreSQL may show id n+2 before n+1 (its transaction commits later): the skipped id is
    looked at again, and found once it shows."""
    make_endpoint(URL)
    message = make_message(make_campaign(), ASHA)
    first = accepted_attempt(message)
    emit()
    late_id = first.pk + 1
    SendAttempt.objects.create(
        id=first.pk + 2,
        message=message,
        request_body={},
        http_status=202,
        provider_message_id="KAL-X",
    )
    emit()
    assert WebhookCursor.objects.get(source="attempts").recheck[0][:2] == [late_id, late_id]

    SendAttempt.objects.create(
        id=late_id, message=message, request_body={}, http_status=202, provider_message_id="Y"
    )
    emit()
    assert set(WebhookDelivery.objects.values_list("event_key", flat=True)) == {
        f"attempt-{first.pk}",
        f"attempt-{late_id}",
        f"attempt-{first.pk + 2}",
    }
    assert WebhookCursor.objects.get(source="attempts").recheck == []


def test_a_gap_is_forgotten_after_its_wait():
    make_endpoint(URL)
    message = make_message(make_campaign(), ASHA)
    first = accepted_attempt(message)
    emit()
    SendAttempt.objects.create(
        id=first.pk + 5, message=message, request_body={}, http_status=202, provider_message_id="Z"
    )
    now = timezone.now()
    emit(now)
    assert WebhookCursor.objects.get(source="attempts").recheck != []
    emit(now + timedelta(seconds=GAP_WAIT + 1))
    assert WebhookCursor.objects.get(source="attempts").recheck == []


@pytest.mark.parametrize(
    ("first", "last", "found", "expected"),
    [
        (1, 5, set(), [(1, 5)]),
        (1, 5, {1, 2, 3, 4, 5}, []),
        (1, 5, {3}, [(1, 2), (4, 5)]),
        (1, 5, {1, 5, 9}, [(2, 4)]),
        (6, 5, set(), []),
        (1, 10**12, {7}, [(1, 6), (8, 10**12)]),
    ],
)
def test_missing_ranges(first, last, found, expected):
    assert missing_ranges(first, last, found) == expected


def test_two_dispatchers_racing_on_a_cursor_queue_each_event_once():
    """The pass that finds its cursor moved meanwhile rolls back: nothing from it is kept."""
    endpoint = make_endpoint(URL)
    emit()
    stale = WebhookCursor.objects.get(source="attempts")
    accepted_attempt(make_message(make_campaign(), ASHA))
    emit()  # the other dispatcher
    assert endpoint.deliveries.count() == 1
    with pytest.raises(_Contended):
        _pass(SOURCES[0], stale, [endpoint], timezone.now())
    assert endpoint.deliveries.count() == 1
    assert WebhookCursor.objects.get(source="attempts").revision == stale.revision + 1
