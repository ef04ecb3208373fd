"""Each token's rate: MPM_API_BURST calls at once, then MPM_API_RATE a second; beyond it 429
with Retry-After, for that token only."""

import pytest

from tests.api.conftest import Api, token_of

pytestmark = pytest.mark.django_db


def test_a_token_beyond_its_burst_is_429_with_retry_after(shop, settings):
    settings.MPM_API_RATE = 0.5  # one call every two seconds once the burst is spent
    settings.MPM_API_BURST = 3
    api, other = Api(token_of(shop)), Api(token_of(shop, name="other"))
    assert [api.get("/templates").status_code for _ in range(3)] == [200] * 3
    refused = api.get("/templates")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "2"
    assert refused.json()["detail"].startswith("Too many requests for this token")
    assert other.get("/templates").status_code == 200


def test_the_rate_refills_with_time(shop, settings, monkeypatch):
    settings.MPM_API_RATE = 1
    settings.MPM_API_BURST = 1
    now = [1_000_000.0]
    monkeypatch.setattr("campaigns.api.throttling.time.time", lambda: now[0])
    api = Api(token_of(shop))
    assert api.get("/templates").status_code == 200
    assert api.get("/templates").status_code == 429
    now[0] += 1.01
    assert api.get("/templates").status_code == 200


def test_unauthenticated_calls_are_refused_before_any_rate_is_counted(shop, settings):
    settings.MPM_API_BURST = 1
    assert [Api("mpm_wrong").get("/templates").status_code for _ in range(3)] == [401] * 3
