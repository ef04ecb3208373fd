"""The API tokens page: a signed-in user creates a token (shown once), sees their tokens with
their scopes and last use, and revokes them; nobody else's."""

import re

import pytest
from django.urls import reverse

from campaigns.models import ApiToken
from tests.api.conftest import Api, token_of, user_with

pytestmark = pytest.mark.django_db
PAGE = reverse("campaigns:tokens")


def test_the_page_needs_a_login(client):
    assert client.get(PAGE).status_code == 302


def test_a_token_is_shown_once_then_listed_by_its_prefix(client, shop):
    client.force_login(shop)
    response = client.post(PAGE, {"name": "Shop backend", "can_read": "on", "can_send": "on"})
    assert response.status_code == 201
    html = response.content.decode()
    raw = re.search(r'value="(mpm_[^"]+)"', html).group(1)
    assert "shown only this once" in html
    token = ApiToken.objects.get()
    assert (token.name, token.scopes, token.user) == ("Shop backend", ["read", "send"], shop)
    assert Api(raw).get("/templates").status_code == 200

    listed = client.get(PAGE).content.decode()
    assert raw not in listed
    assert f"mpm_{token.prefix}_…" in listed and "read, send" in listed and "never" not in listed


def test_a_token_needs_a_name_and_a_scope(client, shop):
    client.force_login(shop)
    response = client.post(PAGE, {"name": "x"})
    assert response.status_code == 400
    assert "Choose at least one scope" in response.content.decode()
    assert client.post(PAGE, {"can_read": "on"}).status_code == 400
    assert not ApiToken.objects.exists()


def test_the_page_says_which_scopes_the_account_cannot_use(client):
    client.force_login(user_with("view_campaign", username="viewer"))
    html = client.get(PAGE).content.decode()
    assert "may not send campaigns" in html and "may not read" not in html


def test_revoking_refuses_the_token_from_then_on(client, shop):
    raw = token_of(shop)
    client.force_login(shop)
    token = ApiToken.objects.get()
    response = client.post(reverse("campaigns:token-revoke", args=[token.pk]), follow=True)
    assert "Revoked" in response.content.decode() and "revoked 2" in response.content.decode()
    assert Api(raw).get("/templates").status_code == 401


def test_nobody_revokes_another_users_token(client, shop):
    raw = token_of(shop)
    client.force_login(user_with(username="intruder"))
    token = ApiToken.objects.get()
    response = client.post(reverse("campaigns:token-revoke", args=[token.pk]), follow=True)
    assert "not yours" in response.content.decode()
    assert Api(raw).get("/templates").status_code == 200
    assert "shop backend" not in client.get(PAGE).content.decode()


def test_staff_see_every_token_read_only_in_the_admin(admin_client, shop):
    token_of(shop)
    changelist = admin_client.get(reverse("admin:campaigns_apitoken_changelist"))
    assert changelist.status_code == 200 and "shop backend" in changelist.content.decode()
    assert admin_client.get(reverse("admin:campaigns_apitoken_add")).status_code == 403
