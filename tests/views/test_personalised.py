"""Personalised MPMs in the marketer's pages: a section filled per recipient in the composer,
the confirmation showing the first recipients' own messages, the send carrying each one's own
products, and the per-recipient results naming them."""

import json

import pytest

from campaigns import services
from campaigns.models import Campaign, Message, Order, OrderItem, Product, RecipientUpload
from campaigns.selectors import campaign_for_sending
from tests.support.composer import composer_data
from tests.support.factories import make_product, make_template
from tests.views.test_composer import ALL, ASHA, MEERA, RAVI, check, url, user_with
from tests.views.test_uploads import csv_file, media, send_url, upload_url  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(client):
    client.force_login(user_with(*ALL))
    return client


@pytest.fixture
def catalog():
    products = {
        rid: make_product(retailer_id=rid, name=f"Item {rid}")
        for rid in ("CART-1", "CART-2", "CART-3", "REC-1")
    }
    products["GONE"] = make_product(
        retailer_id="GONE", availability=Product.Availability.OUT_OF_STOCK
    )
    return products


def personalised_data(**changes) -> dict:
    template = make_template(header_text="", body_text="Hi {{1}}, your cart is waiting.")
    return composer_data(
        template=str(template.pk),
        body_1="there",
        thumbnail_from_recipient="on",
        sections=json.dumps(
            [
                {"title": "Your cart", "products": [], "personalised": True},
                {"title": "You may also like", "products": ["REC-1"]},
            ]
        ),
        **changes,
    )


def test_a_section_filled_per_recipient_is_checked_previewed_and_saved(marketer, catalog):
    data = personalised_data()
    result = check(marketer, data)
    assert result["errors"] == 0, result["problems"]  # no thumbnail needed, no products needed
    assert "Each recipient's own products show here." in result["preview"]

    marketer.post(url("create"), {**data, "action": "save"})
    campaign = campaign_for_sending(Campaign.objects.get().pk)
    assert campaign.thumbnail_from_recipient and campaign.thumbnail_product is None
    assert [(s.title, s.personalised, s.items.count()) for s in campaign.sections.all()] == [
        ("Your cart", True, 0),
        ("You may also like", False, 1),
    ]
    assert services.campaign_check(campaign) == []
    editor = marketer.get(url("edit", campaign.pk)).content.decode()
    assert "&quot;personalised&quot;: true" in editor
    assert 'name="thumbnail_from_recipient"' in editor


def test_a_csv_of_carts_is_confirmed_with_each_message_shown_then_sent_as_shown(
    marketer, catalog, provider, django_capture_on_commit_callbacks
):
    provider.answer()
    marketer.post(url("create"), {**personalised_data(), "action": "save"})
    campaign = Campaign.objects.get()
    body = (
        "phone,body_1,skus\n"
        f"{ASHA},Asha,CART-1|CART-2|GONE\n"
        f"{RAVI},Ravi,CART-3\n"
        f"{MEERA},Meera,NOPE\n"
    )
    confirm = marketer.post(send_url(campaign), {"csv_file": csv_file(body)}, follow=True)
    page = confirm.content.decode()
    assert confirm.context["plan"].to_send == 3  # Meera still gets the fixed section
    shown = {m.number: m for m in confirm.context["first_messages"]}
    asha = shown[ASHA]
    assert [(t, [i.retailer_id for i in items]) for t, items, _ in asha.preview.sections] == [
        ("Your cart", ["CART-1", "CART-2"]),
        ("You may also like", ["REC-1"]),
    ]
    assert asha.preview.body == "Hi Asha, your cart is waiting."
    assert asha.preview.image_url == catalog["CART-1"].image_url  # her first product
    assert asha.left_out == ("GONE (out of stock)",)
    assert (
        "Their messages, as they will be sent" in page and "Left out: GONE (out of stock)" in page
    )

    upload = RecipientUpload.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        marketer.post(upload_url(upload), {"confirm": "yes"}, follow=True)
    sent = {}
    for request in provider.requests:
        action = request.json()["messaging_object"]["template"]["components"][-1]
        action = action["parameters"][0]["action"]
        sent[request.to] = (
            action["thumbnail_product_retailer_id"],
            [[i["product_retailer_id"] for i in s["product_items"]] for s in action["sections"]],
        )
    assert sent == {
        ASHA: ("CART-1", [["CART-1", "CART-2"], ["REC-1"]]),
        RAVI: ("CART-3", [["CART-3"], ["REC-1"]]),
        MEERA: ("REC-1", [["REC-1"]]),
    }

    results = marketer.get(url("detail", campaign.pk)).content.decode()
    assert "CART-1, CART-2" in results and "left out: NOPE (not in the catalog)" in results
    assert "Your cart" in results
    assert Message.objects.filter(campaign=campaign, state="accepted").count() == 3

    # Asha orders two of her cart's items and one she was not shown.
    asha_message = Message.objects.get(campaign=campaign, to=ASHA)
    order = Order.objects.create(
        from_phone=ASHA, message=asha_message, campaign=campaign, currency="INR", total=3
    )
    for rid, quantity in (("CART-1", 2), ("CART-3", 1)):
        OrderItem.objects.create(order=order, retailer_id=rid, quantity=quantity, item_price=1)
    dashboard = marketer.get(url("dashboard", campaign.pk)).json()
    assert (dashboard["orders"]["units"], dashboard["orders"]["units_shown"]) == (3, 2)
    page = " ".join(marketer.get(url("detail", campaign.pk)).content.decode().split())
    assert "2 of 3 units ordered were products the customer's own message showed." in page
