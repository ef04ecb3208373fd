"""The reads: approved templates, product search, a campaign's progress and results from its
counters, and one message with its events and orders."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.models import Message, MessageTemplate, Order, OrderItem
from tests.api.conftest import ASHA, RAVI
from tests.support import hostile
from tests.support.factories import (
    make_campaign,
    make_message,
    make_product,
    make_status_event,
    make_template,
)

pytestmark = pytest.mark.django_db


def test_templates_lists_the_approved_ones_with_their_variables(api):
    approved = make_template(name="cart", body_text="Hi {{1}}, {{2}} left")
    make_template(name="draft", status=MessageTemplate.Status.PENDING)
    response = api.get("/templates")
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": approved.pk,
            "name": "cart",
            "language": "en_US",
            "category": "MARKETING",
            "header_text": "Your {{1}} is waiting",
            "body_text": "Hi {{1}}, {{2}} left",
            "header_variables": 1,
            "body_variables": 2,
            "button_index": 0,
        }
    ]


def test_products_are_searched_by_sku_then_name(api):
    make_product(retailer_id="TEA-1", name="Green tea", price=Decimal("120.50"))
    make_product(retailer_id="MUG-1", name="Tea mug")
    make_product(retailer_id="TEA-2", name="Old tea", active=False)
    response = api.get("/products", {"q": "tea", "limit": 5})
    assert [p["retailer_id"] for p in response.json()] == ["TEA-1", "MUG-1"]
    first = response.json()[0]
    assert first["price"] == "120.50" and first["sendable"] is True
    assert len(api.get("/products", {"limit": 1}).json()) == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"q": "x" * 101}, "q"),
        ({"q": "a\x00"}, "q"),
    ],
)
def test_product_search_limits_are_named(api, query, field):
    response = api.get("/products", query)
    assert response.status_code == 422
    assert [p["field"] for p in response.json()["problems"]] == [field]


def test_a_campaign_reads_its_progress_and_results_from_its_counters(
    api, django_assert_max_num_queries
):
    campaign = make_campaign(name="Diwali")
    delivered = make_message(campaign, ASHA)
    make_status_event(delivered, "delivered")
    Message.objects.filter(pk=delivered.pk).update(state=Message.State.DELIVERED)
    make_message(campaign, RAVI, state=Message.State.FAILED, message_id="", last_code="WA401")
    make_message(
        campaign,
        "+919876543212",
        state=Message.State.SKIPPED,
        message_id="",
        detail="skipped (opted out)",
    )
    Order.objects.create(
        campaign=campaign, message=delivered, from_phone=ASHA, currency="INR", total=Decimal("998")
    )
    with django_assert_max_num_queries(8):  # whatever the number of messages
        response = api.get(f"/campaigns/{campaign.pk}")
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["state"]) == ("Diwali", "draft")
    assert body["progress"]["counts"]["delivered"] == 1 and body["progress"]["total"] == 3
    assert body["funnel"]["accepted"] == 1 and body["funnel"]["delivered"] == 1
    assert body["funnel"]["steps"][0] == {
        "step": "queued",
        "count": 2,
        "of_queued": 100.0,
        "of_previous": None,
    }
    assert [(f["code"], f["count"]) for f in body["failures"]] == [("WA401", 1)]
    assert body["skips"] == [{"detail": "skipped (opted out)", "count": 1}]
    assert body["revenue"] == [{"currency": "INR", "orders": 1, "revenue": "998"}]


def test_a_message_reads_its_state_events_and_orders(api):
    campaign = make_campaign()
    message = make_message(campaign, ASHA, last_code="WA202")
    make_status_event(message, "sent")
    make_status_event(message, "delivered")
    order = Order.objects.create(
        campaign=campaign, message=message, from_phone=ASHA, currency="INR", total=Decimal("499")
    )
    OrderItem.objects.create(
        order=order, retailer_id="SKU-1", quantity=2, item_price=Decimal("249.5")
    )
    body = api.get(f"/messages/{message.pk}").json()
    assert (body["state"], body["kaleyra_message_id"], body["last_code"]) == (
        "accepted",
        message.message_id,
        "WA202",
    )
    assert [e["status"] for e in body["events"]] == ["sent", "delivered"]
    assert body["orders"][0]["items"] == [
        {"retailer_id": "SKU-1", "quantity": 2, "item_price": "249.50", "currency": ""}
    ]
    assert body["test"] is False and body["campaign_id"] == campaign.pk


@pytest.mark.parametrize("path", ["/campaigns/{}", "/messages/{}", "/campaigns/{}/send"])
def test_unknown_ids_are_404_and_huge_ones_422(api, path):
    body = {"recipients": [{"phone": ASHA}]}
    call = (lambda p: api.post(p, body)) if path.endswith("send") else api.get
    response = call(path.format(987654))
    assert response.status_code == 404
    assert response.json()["detail"].startswith("There is no") and response.json()["problems"] == []
    response = call(path.format(2**64))
    assert response.status_code == 422
    assert response.json()["problems"][0]["field"].endswith("_id")


def test_a_wrong_method_or_path_answers_in_the_error_shape(api):
    response = api.get("/campaigns/1/send")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response.json() == {"detail": "GET is not allowed here; use POST.", "problems": []}
    response = api.post("/nothing/here", {})
    assert response.status_code == 404
    assert response.json()["detail"].startswith("There is no /api/v1/nothing/here")


@given(query=st.dictionaries(st.sampled_from(["q", "limit"]), hostile.texts, max_size=2))
def test_no_query_makes_a_500(api, unlimited, query):
    response = api.get("/products", query)
    assert response.status_code in (200, 422)
