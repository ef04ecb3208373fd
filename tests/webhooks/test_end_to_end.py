"""The whole way round: a campaign sent to the sandbox over HTTP, the sandbox's callbacks applied,
and every accepted / sent / delivered / read coming back to a local receiver as signed webhooks
(posted by `manage.py deliver_webhooks --once`). And the send engine's pace with a slow endpoint
subscribed while the dispatcher works beside it."""

import io
import json
import threading
import time
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connection

from campaigns import recipients, services
from campaigns.callbacks import apply_pending_callbacks
from campaigns.kaleyra.sandbox.callbacks import poster
from campaigns.models import Message, WebhookDelivery
from campaigns.recipients import RecipientInput
from campaigns.selectors import campaign_for_sending
from campaigns.services.webhooks import webhook_secret
from campaigns.webhooks import Dispatcher, verify_signature
from tests.support.callbacks import sandbox_statuses
from tests.support.factories import make_campaign, make_endpoint
from tests.support.receiver import Receiver

NUMBERS = ["+919811112345", "+919811116789", "+919811113456", "+919811114567", "+919811115678"]
STATUS_TYPES = {"sent": "message.sent", "delivered": "message.delivered", "read": "message.read"}


def queue(campaign, numbers):
    report = recipients.campaign_queue_recipients(
        campaign, [RecipientInput(n, line=i) for i, n in enumerate(numbers)]
    )
    assert report.queued == len(numbers)


@pytest.mark.django_db(transaction=True)
def test_a_sandbox_send_comes_back_as_signed_webhooks(live_server, settings):
    settings.KALEYRA_MODE = "sandbox"
    settings.KALEYRA_CALLBACK_HEADER = ""
    settings.KALEYRA_CALLBACK_TOKEN = []  # nothing configured: the sandbox's own secret
    settings.KALEYRA_SANDBOX_BASE_URL = f"{live_server.url}/sandbox"
    settings.SITE_URL = live_server.url
    settings.MPM_SANDBOX_CALLBACKS = True
    settings.MPM_SANDBOX_CALLBACK_DELAY = 0.05
    settings.MPM_FREQUENCY_CAP_HOURS = 0
    with Receiver() as receiver:
        endpoint = make_endpoint(
            receiver.url + "/mpm",
            events=["message.accepted", "message.sent", "message.delivered", "message.read"],
        )
        campaign = campaign_for_sending(make_campaign().pk)
        queue(campaign, NUMBERS)
        assert services.campaign_send(campaign).accepted == len(NUMBERS)
        assert poster().drain(timeout=20)
        while apply_pending_callbacks()["rows"]:
            pass
        out = io.StringIO()
        call_command("deliver_webhooks", "--once", stdout=out)
        assert "delivered" in out.getvalue()

        secret = webhook_secret(endpoint=endpoint)
        got = Counter()
        for request in receiver.requests:
            headers = {k.lower(): v for k, v in request.headers.items()}
            assert verify_signature(
                secret, headers["x-mpm-timestamp"], request.body, headers["x-mpm-signature"]
            )
            body = json.loads(request.body)
            assert headers["x-mpm-event"] == body["type"]
            got[(body["type"], body["data"]["message_id"])] += 1

    expected = Counter()
    for message in Message.objects.all():
        expected[("message.accepted", message.pk)] += 1
        for status in sandbox_statuses(message):
            expected[(STATUS_TYPES[status], message.pk)] += 1
    assert got == expected
    assert any(kind == "message.read" for kind, _ in got)
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"delivered"}


@pytest.mark.django_db(transaction=True)
def test_a_slow_endpoint_does_not_slow_the_engine(provider):
    """The dispatcher posts to an endpoint that takes 3 s an answer while a campaign sends: the
    send takes no longer than the stand-in makes it, and the endpoint gets its events after."""
    with Receiver(delay=3) as slow:
        make_endpoint(slow.url, events=["message.accepted"])
        stop = threading.Event()

        def dispatch():
            try:
                with Dispatcher() as dispatcher:
                    while not stop.is_set():
                        dispatcher.step()
                        dispatcher.wait(0.05)
                        time.sleep(0.01)
            finally:
                connection.close()

        worker = threading.Thread(target=dispatch)
        worker.start()
        try:
            campaign = campaign_for_sending(make_campaign().pk)
            # Endings 0200-0239: none that the stand-in answers with an error.
            queue(campaign, [f"+9198111{n:05d}" for n in range(200, 240)])
            started = time.monotonic()
            summary = services.campaign_send(campaign)
            took = time.monotonic() - started
            # The dispatcher reaches the events after the send (on a busy machine, a while).
            deadline = time.monotonic() + 20
            while not WebhookDelivery.objects.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            worker.join(timeout=30)
    assert summary.accepted == 40
    assert took < 3, took
    assert WebhookDelivery.objects.count() >= 1
