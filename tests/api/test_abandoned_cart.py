"""The whole way round, over real HTTP: a shop's abandoned-cart call to the API (retried, as a
shop's client does) reaches the sandbox as one request carrying exactly the customer's three
products, and its delivery and read come back to the shop as signed webhooks."""

import io
import json
import time

import pytest
import requests
from django.core.management import call_command

from campaigns.callbacks import apply_pending_callbacks
from campaigns.kaleyra.sandbox.callbacks import poster
from campaigns.models import Campaign, Message, Section, SendAttempt
from campaigns.services.webhooks import webhook_secret
from campaigns.webhooks import verify_signature
from tests.api.conftest import ALL, token_of, user_with
from tests.support.callbacks import sandbox_statuses
from tests.support.factories import add_section_with, make_campaign, make_endpoint, make_product
from tests.support.receiver import Receiver

CUSTOMER = "+919811112345"
CART = ["TEE-BLK-M", "SNEAKER-42", "CAP-RED"]


@pytest.mark.django_db(transaction=True)
def test_an_abandoned_cart_call_sends_the_customers_own_items_once_and_reports_back(
    live_server, sandbox, settings
):
    settings.KALEYRA_CALLBACK_HEADER = ""
    settings.KALEYRA_CALLBACK_TOKEN = []  # the sandbox's own secret
    settings.MPM_SANDBOX_CALLBACKS = True
    settings.MPM_SANDBOX_CALLBACK_DELAY = 0.05
    settings.MPM_FREQUENCY_CAP_HOURS = 0
    settings.MPM_WEBHOOK_LOCAL_HTTP = True  # the shop's receiver is on 127.0.0.1
    for sku in CART:
        make_product(retailer_id=sku)
    campaign = make_campaign(name="Abandoned cart", sections=(), triggered=True)
    Section.objects.create(campaign=campaign, title="Your cart", position=0, personalised=True)
    add_section_with(campaign, "You may also like", [make_product()], position=1)
    token = token_of(user_with(*ALL))

    with Receiver() as shop:
        endpoint = make_endpoint(shop.url + "/hooks", events=["message.delivered", "message.read"])
        call = {
            "url": f"{live_server.url}/api/v1/campaigns/{campaign.pk}/send",
            "json": {"recipients": [{"phone": CUSTOMER, "body": ["Asha"], "skus": CART}]},
            "headers": {"Authorization": f"Bearer {token}", "Idempotency-Key": "cart-8841"},
            "timeout": 30,
        }
        answers = [requests.post(**call) for _ in range(3)]  # the shop retries
        assert [a.status_code for a in answers] == [202, 202, 202]
        assert answers[1].content == answers[0].content
        assert answers[2].headers["Idempotent-Replayed"] == "true"

        sends = [p for p in sandbox.requests if p.endswith("/messages")]
        assert len(sends) == 1  # one request reached the sandbox, whatever the retries
        message = Message.objects.get(campaign=campaign)
        assert message.trigger_key == "cart-8841"
        body = SendAttempt.objects.get(message=message).request_body
        action = body["messaging_object"]["template"]["components"][-1]["parameters"][0]["action"]
        assert [i["product_retailer_id"] for i in action["sections"][0]["product_items"]] == CART
        assert action["sections"][0]["title"] == "Your cart"

        # The sandbox's plan: sent, delivered, then read (unless this customer, one in ten by
        # Kaleyra's message id, turned read receipts off).
        planned = [s for s in sandbox_statuses(message) if s in ("delivered", "read")]
        deadline = time.monotonic() + 30
        while message.state != planned[-1]:  # the sandbox posts its callbacks in turn
            assert time.monotonic() < deadline, message.state
            assert poster().drain(timeout=20)
            apply_pending_callbacks()
            message.refresh_from_db()
        call_command("deliver_webhooks", "--once", stdout=io.StringIO())

        secret = webhook_secret(endpoint=endpoint)
        events = []
        for request in shop.requests:
            headers = {k.lower(): v for k, v in request.headers.items()}
            assert verify_signature(
                secret, headers["x-mpm-timestamp"], request.body, headers["x-mpm-signature"]
            )
            events.append(json.loads(request.body)["type"])
    assert sorted(events) == [f"message.{s}" for s in planned]
    assert planned[0] == "delivered"
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.SENDING  # still open


@pytest.mark.django_db(transaction=True)
def test_each_call_to_an_always_on_campaign_is_a_trigger_of_its_own(api, provider, settings):
    settings.MPM_FREQUENCY_CAP_HOURS = 0
    provider.answer()
    campaign = make_campaign(triggered=True)
    send = {"recipients": [{"phone": CUSTOMER}]}
    path = f"/campaigns/{campaign.pk}/send"

    first = api.post(path, send)  # no key: a new trigger each time
    second = api.post(path, send)
    keyed = [api.post(path, send, headers={"Idempotency-Key": "cart-2"}) for _ in range(2)]

    assert [r.status_code for r in (first, second, *keyed)] == [202] * 4
    ids = {r.json()["messages"][0]["id"] for r in (first, second, *keyed)}
    assert len(ids) == 3  # two calls without a key, one key called twice
    assert [r.to for r in provider.requests] == [CUSTOMER] * 3
    keys = set(Message.objects.filter(campaign=campaign).values_list("trigger_key", flat=True))
    assert "cart-2" in keys and "" not in keys and len(keys) == 3
