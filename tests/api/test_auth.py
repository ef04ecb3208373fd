"""Who may call: a live token of an active user, with the scope and the permission the endpoint
needs; everything else is refused with the problem named."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import ApiToken
from tests.api.conftest import Api, token_of, user_with
from tests.support.factories import make_campaign

pytestmark = pytest.mark.django_db


def assert_refused(response, status: int, field: str) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert [p["field"] for p in body["problems"]] == [field]
    return body["detail"]


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer mpm_00000000_not-a-token", "Basic dXNlcjpwYXNz", "Bearer \x00"],
)
def test_no_token_or_a_wrong_one_is_401(header):
    headers = {"Authorization": header} if header else {}
    response = Api(None).get("/templates", headers=headers)
    detail = assert_refused(response, 401, "Authorization")
    assert "Authorization: Bearer" in detail
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_is_401(shop):
    api = Api(token_of(shop))
    assert api.get("/templates").status_code == 200
    ApiToken.objects.filter(user=shop).revoke()
    assert_refused(api.get("/templates"), 401, "Authorization")


def test_an_inactive_user_is_401(shop, api):
    shop.is_active = False
    shop.save()
    assert_refused(api.get("/templates"), 401, "Authorization")


def test_a_signed_in_session_is_not_a_token(client, shop):
    client.force_login(shop)
    assert client.get("/api/v1/templates").status_code == 401


def test_a_read_only_token_cannot_send_and_says_which_scope(shop):
    campaign = make_campaign()
    api = Api(token_of(shop, send=False))
    response = api.post(
        f"/campaigns/{campaign.pk}/send", {"recipients": [{"phone": "+919876543210"}]}
    )
    assert "“send” scope" in assert_refused(response, 403, "scope")
    assert not campaign.messages.exists()


def test_a_send_only_token_cannot_read(shop):
    api = Api(token_of(shop, read=False))
    assert "“read” scope" in assert_refused(api.get("/templates"), 403, "scope")


def test_the_users_own_permissions_apply():
    viewer = user_with("view_campaign", username="viewer")
    api = Api(token_of(viewer))
    campaign = make_campaign()
    assert api.get(f"/campaigns/{campaign.pk}").status_code == 200
    response = api.post(
        f"/campaigns/{campaign.pk}/send", {"recipients": [{"phone": "+919876543210"}]}
    )
    detail = assert_refused(response, 403, "permission")
    assert "campaigns.send_campaign" in detail and "Marketers" in detail
    nobody = Api(token_of(user_with(username="nobody")))
    assert "Viewers" in assert_refused(nobody.get("/templates"), 403, "permission")


def test_posts_need_no_csrf_token(shop):
    """Token-authenticated calls carry no cookie, so CSRF does not apply to them."""
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/campaigns/1/send",
        '{"recipients": [{"phone": "+919876543210"}]}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {token_of(shop)}"},
    )
    assert response.status_code == 404


def test_last_use_is_written_at_most_once_a_minute(shop):
    api = Api(token_of(shop))
    api.get("/templates")
    token = ApiToken.objects.get()
    first = token.last_used_at
    assert first is not None
    api.get("/templates")
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
    api.get("/templates")
    assert ApiToken.objects.get().last_used_at > first


def test_a_token_is_stored_only_as_its_hash(shop):
    raw = token_of(shop)
    token = ApiToken.objects.get()
    assert raw.startswith(f"mpm_{token.prefix}_") and len(raw) > 40
    assert raw not in str(list(ApiToken.objects.values()))
