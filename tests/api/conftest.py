"""What the API tests share: users with given permissions, their tokens, and a client that
sends a token."""

import json

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.test import Client

from campaigns.services.api import api_token_create

ALL = ("view_campaign", "add_campaign", "change_campaign", "send_campaign")
ASHA = "+919876543210"
RAVI = "+919876543211"


@pytest.fixture(autouse=True)
def fresh_rate():
    """Each test starts with every token's rate unused (the cache is per process)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def unlimited(settings):
    """No rate limit, for the fuzz tests (set once per test: Hypothesis runs many examples)."""
    settings.MPM_API_RATE = 10_000
    settings.MPM_API_BURST = 100_000


def user_with(*codenames, username="shop") -> User:
    user = User.objects.create_user(username, password="x")
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def token_of(user, *, read=True, send=True, name="shop backend") -> str:
    return api_token_create(user=user, name=name, can_read=read, can_send=send)[1]


class Api:
    """The test client, each call with `Authorization: Bearer <token>`."""

    def __init__(self, token: str | None):
        self.client = Client()
        self.token = token

    def headers(self, extra):
        auth = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**auth, **(extra or {})}

    def get(self, path, data=None, headers=None):
        return self.client.get(f"/api/v1{path}", data, headers=self.headers(headers))

    def post(self, path, body, headers=None):
        raw = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.client.post(
            f"/api/v1{path}", raw, content_type="application/json", headers=self.headers(headers)
        )


@pytest.fixture
def shop(db) -> User:
    return user_with(*ALL)


@pytest.fixture
def api(shop) -> Api:
    return Api(token_of(shop))
