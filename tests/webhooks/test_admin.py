"""The webhook admin: an endpoint's secret shown once (when added and when rotated), counts of
waiting deliveries, the read-only delivery log and its "Deliver again" through a confirmation
page, the permissions each needs, and endpoint URLs as untrusted input."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.provisional import urls

from campaigns.forms import WebhookEndpointForm
from campaigns.models import WebhookDelivery, WebhookEndpoint
from campaigns.validation import LOOPBACK_HOSTS
from campaigns.webhooks import endpoint_secret
from tests.admin.helpers import page_messages, staff_user
from tests.support.factories import make_endpoint

pytestmark = pytest.mark.django_db

ENDPOINTS = reverse("admin:campaigns_webhookendpoint_changelist")
DELIVERIES = reverse("admin:campaigns_webhookdelivery_changelist")
URL = "https://hooks.example.com/mpm"


def add(client, **fields):
    data = {
        "name": "CRM",
        "url": URL,
        "event_types": ["message.delivered", "message.read"],
        "is_active": "on",
        **fields,
    }
    return client.post(reverse("admin:campaigns_webhookendpoint_add"), data)


def make_delivery(endpoint, n: int, state=WebhookDelivery.State.PENDING) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="message.read",
        event_key=f"status-{n}",
        payload=f'{{"id":"status-{n}"}}',
        state=state,
        next_attempt_at=timezone.now() + timedelta(hours=1),
        attempts=0 if state == WebhookDelivery.State.PENDING else 3,
    )


def test_adding_an_endpoint_shows_its_secret_once(admin_client, admin_user):
    response = add(admin_client)
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    secret = endpoint_secret(endpoint.pk, 1)
    assert secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert endpoint.created_by == admin_user
    assert endpoint.event_types == ["message.delivered", "message.read"]

    page = admin_client.get(reverse("admin:campaigns_webhookendpoint_change", args=[endpoint.pk]))
    assert page.status_code == 200
    assert secret not in page.content.decode()
    assert secret not in admin_client.get(ENDPOINTS).content.decode()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://hooks.example.com/", "Use https://"),
        ("ftp://hooks.example.com/", "must start with https://"),
        ("https://user:pw@hooks.example.com/", "no user name or password"),
        ("https://", "must start with https://"),
        ("https://hooks.example.com/a b", "without spaces"),
    ],
)
def test_unsafe_urls_are_refused_in_plain_words(admin_client, url, words):
    response = add(admin_client, url=url)
    assert response.status_code == 200
    assert words in str(response.context["adminform"].form.errors["url"])
    assert not WebhookEndpoint.objects.exists()


def test_plain_http_to_this_machine_only_where_allowed(admin_client, settings):
    settings.MPM_WEBHOOK_LOCAL_HTTP = False
    settings.DEBUG = False
    assert add(admin_client, url="http://127.0.0.1:9000/hook").status_code == 200
    assert not WebhookEndpoint.objects.exists()
    settings.MPM_WEBHOOK_LOCAL_HTTP = True
    add(admin_client, url="http://127.0.0.1:9000/hook")
    assert WebhookEndpoint.objects.get().url == "http://127.0.0.1:9000/hook"


def rotate(client, endpoint, **extra):
    return client.post(
        ENDPOINTS, {"action": "rotate_secret", ACTION_CHECKBOX_NAME: [endpoint.pk], **extra}
    )


def test_rotating_asks_first_then_shows_the_new_secret_once(admin_client):
    endpoint = make_endpoint(URL)
    old = endpoint_secret(endpoint.pk, 1)

    asked = rotate(admin_client, endpoint)
    assert asked.status_code == 200
    assert "Yes, rotate" in asked.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.secret_version == 1

    done = rotate(admin_client, endpoint, confirm="Yes, rotate")
    endpoint.refresh_from_db()
    assert endpoint.secret_version == 2
    new = endpoint_secret(endpoint.pk, 2)
    assert new != old
    assert new in done.content.decode() and old not in done.content.decode()
    assert "no-store" in done["Cache-Control"]


def test_rotating_needs_the_change_permission(client):
    endpoint = make_endpoint(URL)
    client.force_login(staff_user("view_webhookendpoint"))
    response = rotate(client, endpoint, confirm="Yes, rotate")
    endpoint.refresh_from_db()
    assert endpoint.secret_version == 1  # the action is not offered: nothing happens
    assert endpoint_secret(endpoint.pk, 2) not in response.content.decode()


def test_the_endpoint_list_counts_pending_and_failing_deliveries(admin_client):
    endpoint = make_endpoint(URL)
    for n in range(3):
        make_delivery(endpoint, n)
    make_delivery(endpoint, 10, WebhookDelivery.State.FAILED)
    make_delivery(endpoint, 11, WebhookDelivery.State.DELIVERED)
    response = admin_client.get(ENDPOINTS)
    [row] = response.context["cl"].result_list
    assert (row.pending_count, row.failed_count) == (3, 1)


def test_the_delivery_log_is_read_only_and_filterable(admin_client):
    delivery = make_delivery(make_endpoint(URL), 1, WebhookDelivery.State.FAILED)
    for query in (
        "",
        "?state=failed",
        "?event_type=message.read",
        f"?endpoint__id__exact=1&q={delivery.pk}",
    ):
        assert admin_client.get(DELIVERIES + query).status_code == 200
    page = admin_client.get(reverse("admin:campaigns_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200
    assert "status-1" in page.content.decode()
    assert b'name="_save"' not in page.content
    assert admin_client.get(reverse("admin:campaigns_webhookdelivery_add")).status_code == 403


def deliver_again(client, deliveries, **extra):
    return client.post(
        DELIVERIES,
        {"action": "deliver_again", ACTION_CHECKBOX_NAME: [d.pk for d in deliveries], **extra},
    )


def test_deliver_again_asks_first_then_queues_the_replay(admin_client):
    endpoint = make_endpoint(URL)
    given_up = make_delivery(endpoint, 1, WebhookDelivery.State.GIVEN_UP)
    delivered = make_delivery(endpoint, 2, WebhookDelivery.State.DELIVERED)

    asked = deliver_again(admin_client, [given_up, delivered])
    assert "Yes, deliver again" in asked.content.decode()
    given_up.refresh_from_db()
    assert given_up.state == WebhookDelivery.State.GIVEN_UP

    before = timezone.now()
    done = deliver_again(admin_client, [given_up, delivered], confirm="Yes")
    assert done.status_code == 302
    assert "2 deliveries queued again." in page_messages(admin_client.get(DELIVERIES))
    for row in WebhookDelivery.objects.all():
        assert row.state == WebhookDelivery.State.PENDING
        assert row.next_attempt_at >= before and row.first_attempt_at is None


def test_deliver_again_needs_its_own_permission(client):
    delivery = make_delivery(make_endpoint(URL), 1, WebhookDelivery.State.GIVEN_UP)
    client.force_login(staff_user("view_webhookdelivery"))
    assert client.get(DELIVERIES).status_code == 200
    deliver_again(client, [delivery], confirm="Yes")
    delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.GIVEN_UP

    Permission.objects.get(codename="replay_webhookdelivery").user_set.add(
        User.objects.get(username="marketer")
    )
    deliver_again(client, [delivery], confirm="Yes")
    delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.PENDING


@given(url=st.one_of(st.text(max_size=600), urls(), st.just("http://localhost:8000/x")))
def test_any_url_typed_into_the_form_is_refused_or_safe(url):
    form = WebhookEndpointForm(
        data={"name": "x", "url": url, "event_types": ["message.read"], "is_active": "on"}
    )
    if form.is_valid():
        saved = form.cleaned_data["url"]
        parts = urlsplit(saved)
        assert parts.scheme == "https" or (
            parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
        )
        assert parts.hostname and parts.username is None
        assert len(saved) <= 500 and saved.isascii()
    else:
        assert "url" in form.errors
