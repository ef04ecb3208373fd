"""Posting deliveries to real receivers on 127.0.0.1: signed, logged, retried with backoff on a
fake clock (`now` passed in), Retry-After honoured, given up after 24 hours, leases, a slow
endpoint beside a fast one, and the secret kept out of every log and row."""

import io
import json
import logging
import time
from datetime import timedelta
from email.utils import format_datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from campaigns.models import WebhookAttempt, WebhookDelivery
from campaigns.services.webhooks import webhook_secret, webhooks_deliver
from campaigns.webhooks import Dispatcher, emit_events, next_attempt_at, verify_signature
from campaigns.webhooks.dispatch import BACKOFF, GIVE_UP_AFTER, PER_ENDPOINT, claim
from tests.support.factories import make_campaign, make_endpoint, make_message
from tests.support.provider import refused_url
from tests.support.receiver import Receiver
from tests.webhooks.test_tail import ASHA, accepted_attempt

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


def one_event(endpoint_url: str, **endpoint_fields):
    """An endpoint and one message.accepted waiting for it."""
    endpoint = make_endpoint(endpoint_url, **endpoint_fields)
    accepted_attempt(make_message(make_campaign(), ASHA))
    return endpoint


def delivery() -> WebhookDelivery:
    return WebhookDelivery.objects.get()


def test_a_delivery_is_posted_signed_and_logged(receiver):
    endpoint = one_event(receiver.url + "/hook?team=ops")
    now = timezone.now()
    counts = webhooks_deliver(now=now)
    assert counts["posted"] == 1 and counts["delivered"] == 1

    [request] = receiver.requests
    assert request.path == "/hook?team=ops"
    headers = {k.lower(): v for k, v in request.headers.items()}
    row = delivery()
    assert headers["content-type"] == "application/json"
    assert headers["x-mpm-event"] == "message.accepted"
    assert headers["x-mpm-delivery"] == str(row.pk)
    assert headers["x-mpm-timestamp"] == str(int(now.timestamp()))
    assert request.body == row.payload.encode()
    assert json.loads(request.body)["type"] == "message.accepted"
    secret = webhook_secret(endpoint=endpoint)
    assert verify_signature(
        secret,
        headers["x-mpm-timestamp"],
        request.body,
        headers["x-mpm-signature"],
        now=now.timestamp(),
    )
    assert (row.state, row.attempts, row.last_http_status, row.delivered_at) == (
        WebhookDelivery.State.DELIVERED,
        1,
        200,
        now,
    )
    [attempt] = WebhookAttempt.objects.all()
    assert (attempt.http_status, attempt.error, attempt.attempted_at) == (200, "", now)


def test_a_failing_endpoint_is_retried_with_backoff_then_given_up(receiver):
    receiver.answer(500, body=b"<html>oops</html>")
    one_event(receiver.url)
    start = timezone.now()
    webhooks_deliver(now=start)
    row = delivery()
    assert row.state == WebhookDelivery.State.FAILED
    assert row.last_error == "Answered HTTP 500."
    assert row.response_excerpt == "<html>oops</html>"
    assert row.next_attempt_at == start + timedelta(seconds=BACKOFF[0])

    # Not due yet: nothing is posted.
    webhooks_deliver(now=start + timedelta(seconds=BACKOFF[0] - 1))
    assert len(receiver.requests) == 1

    # Each retry when due, the waits growing, until 24 hours after the first attempt.
    now, waits = start, []
    while row.state == WebhookDelivery.State.FAILED:
        now = row.next_attempt_at
        webhooks_deliver(now=now)
        previous, row = row, delivery()
        if row.state == WebhookDelivery.State.FAILED:
            waits.append((row.next_attempt_at - previous.next_attempt_at).total_seconds())
    assert waits == [*BACKOFF[1:], BACKOFF[-1]]  # the last at 23 h 42 min
    assert row.attempts == 10
    assert row.state == WebhookDelivery.State.GIVEN_UP
    assert row.next_attempt_at is None
    assert now <= start + GIVE_UP_AFTER
    assert row.attempts == len(receiver.requests) == WebhookAttempt.objects.count()
    webhooks_deliver(now=start + timedelta(days=2))
    assert len(receiver.requests) == row.attempts


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_is_honoured(receiver, status):
    receiver.answer(status, headers={"Retry-After": "90"})
    one_event(receiver.url)
    now = timezone.now()
    webhooks_deliver(now=now)
    assert delivery().next_attempt_at == now + timedelta(seconds=90)


def test_retry_after_as_a_date_is_honoured(receiver):
    now = timezone.now().replace(microsecond=0)
    receiver.answer(503, headers={"Retry-After": format_datetime(now + timedelta(hours=1), True)})
    one_event(receiver.url)
    webhooks_deliver(now=now)
    assert delivery().next_attempt_at == now + timedelta(hours=1)


def test_retry_after_beyond_the_24_hours_gives_up(receiver):
    receiver.answer(429, headers={"Retry-After": str(25 * 3600)})
    one_event(receiver.url)
    webhooks_deliver(now=timezone.now())
    assert delivery().state == WebhookDelivery.State.GIVEN_UP


def test_retry_after_is_ignored_on_other_statuses(receiver):
    receiver.answer(500, headers={"Retry-After": "5000"})
    one_event(receiver.url)
    now = timezone.now()
    webhooks_deliver(now=now)
    assert delivery().next_attempt_at == now + timedelta(seconds=BACKOFF[0])


def test_a_redirect_is_not_followed(receiver):
    receiver.answer(301, headers={"Location": "https://elsewhere.example.com/"})
    one_event(receiver.url)
    webhooks_deliver(now=timezone.now())
    assert len(receiver.requests) == 1
    row = delivery()
    assert row.state == WebhookDelivery.State.FAILED
    assert "redirect" in row.last_error and row.last_http_status == 301


def test_a_refused_connection_is_told_in_plain_words():
    one_event(refused_url())
    webhooks_deliver(now=timezone.now())
    row = delivery()
    assert row.state == WebhookDelivery.State.FAILED
    assert row.last_http_status is None
    assert row.last_error == "Could not connect (refused, reset, or the host is unknown)."


def test_a_read_timeout_is_told_in_plain_words(settings):
    settings.MPM_WEBHOOK_TIMEOUT = 0.3
    with Receiver(delay=1.5) as slow:
        one_event(slow.url)
        webhooks_deliver(now=timezone.now())
    assert delivery().last_error == "No answer within 0.3 s."


def test_plain_http_is_refused_where_it_is_not_allowed(receiver, settings):
    """An http:// endpoint made in development is never posted to in production."""
    one_event(receiver.url)
    settings.MPM_WEBHOOK_LOCAL_HTTP = False
    settings.DEBUG = False
    webhooks_deliver(now=timezone.now())
    assert receiver.requests == []
    assert delivery().last_error.startswith("Use https://.")


def test_a_replayed_delivery_gets_24_hours_of_its_own(receiver):
    receiver.answer(500)
    one_event(receiver.url)
    start = timezone.now()
    webhooks_deliver(now=start)
    later = start + timedelta(days=3)
    assert WebhookDelivery.objects.all().replay(later) == 1
    receiver.replies.clear()
    webhooks_deliver(now=later)
    row = delivery()
    assert row.state == WebhookDelivery.State.DELIVERED
    assert row.first_attempt_at == later and row.attempts == 2


def test_a_leased_delivery_is_not_claimed_again_until_its_lease_ends(receiver):
    endpoint = one_event(receiver.url)
    now = timezone.now()
    emit_events(now=now)
    [taken] = claim(endpoint, 10, now)
    assert claim(endpoint, 10, now) == []
    assert "whsec_" not in repr(taken)
    # The dispatcher that took it died: once the lease ends, another takes it.
    [again] = claim(endpoint, 10, now + timedelta(minutes=3))
    assert again.delivery_id == taken.delivery_id and again.token != taken.token


def test_a_slow_endpoint_does_not_delay_the_others():
    """The slow one holds at most PER_ENDPOINT posts; the fast one's are delivered meanwhile."""
    with Receiver(delay=3) as slow, Receiver() as fast:
        slow_endpoint, fast_endpoint = make_endpoint(slow.url), make_endpoint(fast.url)
        message = make_message(make_campaign(), ASHA)
        for _ in range(6):
            accepted_attempt(message)
        started = time.monotonic()
        with Dispatcher() as dispatcher:
            dispatcher.step()
            while fast_endpoint.deliveries.filter(state="delivered").count() < 6:
                assert time.monotonic() - started < 2.5, "the fast endpoint waited for the slow one"
                dispatcher.wait(0.05)
                dispatcher.step()
            assert not slow_endpoint.deliveries.filter(state="delivered").exists()
            assert len(slow.requests) == PER_ENDPOINT
            while slow_endpoint.deliveries.filter(state="pending").exists():
                dispatcher.wait(1)
                dispatcher.step()
        assert time.monotonic() - started >= 6  # two rounds of 3 s at the slow endpoint
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"delivered"}


def test_the_secret_is_never_logged_nor_stored(receiver, caplog):
    receiver.answer(500, body=b"bad signature")
    endpoint = one_event(receiver.url)
    secret = webhook_secret(endpoint=endpoint)
    with caplog.at_level(logging.DEBUG):
        now = timezone.now()
        webhooks_deliver(now=now)
        webhooks_deliver(now=now + timedelta(hours=1))
    assert secret not in caplog.text
    signature_header = receiver.requests[0].headers["X-MPM-Signature"]
    for model in (WebhookDelivery, WebhookAttempt):
        for row in model.objects.values():
            text = json.dumps(row, default=str)
            assert secret not in text and signature_header not in text


@pytest.mark.parametrize(
    ("attempts", "after", "expected"),
    [
        (1, 0, 30),
        (2, 30, 120),
        (8, 0, 28800),
        (12, 0, 28800),
        (1, 24 * 3600 - 10, None),  # the retry would fall after the 24 hours
    ],
)
def test_next_attempt_at(attempts, after, expected):
    first = timezone.now()
    now = first + timedelta(seconds=after)
    when = next_attempt_at(attempts=attempts, first_attempt_at=first, now=now, retry_after=None)
    assert when == (None if expected is None else now + timedelta(seconds=expected))


def test_the_command_once_says_what_it_did(receiver):
    out = io.StringIO()
    call_command("deliver_webhooks", "--once", stdout=out)
    assert out.getvalue().strip() == "Nothing to deliver."
    one_event(receiver.url)
    call_command("deliver_webhooks", "--once", stdout=out)
    assert out.getvalue().strip().splitlines()[-1] == "delivered 1, events 1, posted 1"
