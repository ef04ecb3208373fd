"""What every response carries (a Content-Security-Policy, no caching of customer data) and
login throttling with django-axes, through the app's own middleware stack."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from tests.support.factories import make_campaign

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-password-42"


@pytest.fixture
def viewer():
    user = User.objects.create_user("viewer", password=PASSWORD)
    user.user_permissions.set(Permission.objects.filter(codename="view_campaign"))
    return user


def csp(response) -> dict[str, str]:
    directives = (d.strip().split(" ", 1) for d in response["Content-Security-Policy"].split(";"))
    return {name: value for name, value in directives}


def test_every_page_has_a_policy_without_inline_script_or_style(client, viewer):
    client.force_login(viewer)
    for response in (client.get(reverse("login")), client.get(reverse("campaigns:list"))):
        policy = csp(response)
        assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
        assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
        assert "unsafe" not in response["Content-Security-Policy"]


def test_only_kaleyras_callbacks_go_without_a_policy(client, settings):
    """A machine posts them and reads JSON back: the policy is skipped there (and its cost, a
    thousand times a second), never on a page or an error answer."""
    settings.KALEYRA_CALLBACK_HEADER, settings.KALEYRA_CALLBACK_TOKEN = "X-Secret", "s3cret"
    body = {"data": '{"statuses": []}', "content_type": "application/json"}
    callback = client.post(reverse("kaleyra-callback"), **body, headers={"X-Secret": "s3cret"})
    assert callback.status_code == 200 and "Content-Security-Policy" not in callback
    for page in (client.get(reverse("login")), client.get("/no-such-page/")):
        assert csp(page)["default-src"] == "'self'"


def test_pages_and_exports_with_customer_data_are_never_cached(client, viewer):
    campaign = make_campaign()
    client.force_login(viewer)
    urls = [
        reverse("campaigns:list"),
        reverse("campaigns:detail", args=[campaign.pk]),
        reverse("campaigns:dashboard", args=[campaign.pk]),
        reverse("campaigns:results"),
        reverse("campaigns:results_csv", args=[campaign.pk]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert set(response["Cache-Control"].split(", ")) == {"private", "no-store"}, url


def test_the_admin_is_private_too(admin_client):
    response = admin_client.get("/admin/campaigns/message/")
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


def sign_in(client, password: str):
    return client.post(reverse("login"), {"username": "viewer", "password": password})


def test_wrong_passwords_lock_the_account_out_even_for_the_right_one(client, viewer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "guess").status_code == 200  # the form again, with its error
    locked = sign_in(client, "guess")
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Too many wrong passwords" in text and "15 minutes" in text
    assert "ask an administrator to unlock" in text

    refused = sign_in(client, PASSWORD)
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session


def test_another_address_can_still_sign_in_while_one_is_locked_out(client, viewer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "guess")
    other = client.__class__(REMOTE_ADDR="198.51.100.20")
    response = other.post(reverse("login"), {"username": "viewer", "password": PASSWORD})
    assert response.status_code == 302  # signed in: the lockout is this username from that address


def test_staff_unlock_an_account_in_the_admin(client, admin_client, viewer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "guess")
    [attempt] = AccessAttempt.objects.all()
    page = admin_client.get(reverse("admin:axes_accessattempt_changelist"))
    assert page.status_code == 200 and "viewer" in page.content.decode()
    response = admin_client.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert sign_in(client, PASSWORD).status_code == 302


def test_behind_the_proxy_a_forged_address_cannot_lock_others_out(client, viewer, settings):
    """nginx appends the address it saw to X-Forwarded-For (docs/deploy/mpm-nginx.conf): the
    throttle keys on that one, whatever the client wrote before it."""
    settings.BEHIND_PROXY = True
    attacker = {"X-Forwarded-For": "7.7.7.7, 203.0.113.66"}  # 7.7.7.7: the victim's, forged
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        client.post(reverse("login"), {"username": "viewer", "password": "guess"}, headers=attacker)
    assert {a.ip_address for a in AccessAttempt.objects.all()} == {"203.0.113.66"}

    victim = client.__class__()
    response = victim.post(
        reverse("login"),
        {"username": "viewer", "password": PASSWORD},
        headers={"X-Forwarded-For": "7.7.7.7"},
    )
    assert response.status_code == 302  # signed in
    locked = client.post(
        reverse("login"), {"username": "viewer", "password": PASSWORD}, headers=attacker
    )
    assert locked.status_code == 429
