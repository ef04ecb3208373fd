"""Shared fixtures: one HTTP seam around `responses` for the provider, and ready campaigns."""

import re

import pytest
import responses
from django.test import Client

from campaigns.selectors import campaign_for_sending
from tests.support.factories import make_campaign

KALEYRA_BASE = "https://kaleyra.test"
MESSAGES_URL = re.compile(r"https://kaleyra\.test/v2/[^/]+/whatsapp/[^/]+/messages")
TEST_API_KEY = "test-secret-key-5f2b9c"


def pytest_collection_modifyitems(config, items):
    """Browser tests (marked e2e) run last: the quick tests report first, and Playwright's
    session-wide event loop starts only after them."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


@pytest.fixture
def kaleyra_settings(settings):
    """Real (non-sandbox) Kaleyra settings pointing at a mocked host."""
    settings.KALEYRA_SANDBOX = False
    settings.KALEYRA_SID = "HXAP16TEST97IN"
    settings.KALEYRA_API_KEY = TEST_API_KEY
    settings.KALEYRA_SENDER = "+919000000001"
    settings.KALEYRA_BASE_URL = KALEYRA_BASE
    return settings


class ProviderMock:
    """The provider seam: say what Kaleyra answers, then check what it was sent."""

    def __init__(self, mock: responses.RequestsMock):
        self.mock = mock

    def set_response(self, status=202, json=None, body=None, **kwargs):
        if json is None and body is None:
            json = {
                "code": "WA202",
                "message": "Request Accepted",
                "data": {"message_id": "AXXXXXXXXXXXXXXXXXXX"},
                "error": {},
            }
        self.mock.add(responses.POST, MESSAGES_URL, status=status, json=json, body=body, **kwargs)

    @property
    def calls(self):
        return self.mock.calls


@pytest.fixture
def provider(kaleyra_settings):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield ProviderMock(mock)


@pytest.fixture
def sandbox(settings):
    """Sandbox mode, with the client's HTTP routed into the app's own sandbox view."""
    settings.KALEYRA_SANDBOX = True
    settings.KALEYRA_SANDBOX_BASE_URL = "http://sandbox.test/sandbox"
    client = Client()

    def forward(request):
        path = request.path_url
        response = client.post(
            path,
            data=request.body,
            content_type="application/json",
            headers={"api-key": request.headers.get("api-key", "")},
        )
        return response.status_code, dict(response.headers), response.content

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, re.compile(r"http://sandbox\.test/.*"), callback=forward)
        yield mock


@pytest.fixture
def campaign(db):
    return campaign_for_sending(make_campaign().pk)
