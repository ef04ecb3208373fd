"""The sandbox's send endpoint (loopback only, but still input from outside the app): random and
malformed request bodies get one of Kaleyra's documented answers, never a 5xx of our own."""

import json

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from campaigns.kaleyra import SANDBOX_API_KEY
from campaigns.kaleyra.sandbox.views import TEST_NUMBERS
from tests.support import hostile

PATH = "/sandbox/v2/SANDBOX/whatsapp/+910000000000/messages"


@pytest.fixture
def sandbox_mode(settings, db):
    settings.KALEYRA_MODE = "sandbox"


def documents():
    messaging = hostile.documents(
        {"to": hostile.phones, "type": hostile.texts, "template": hostile.json_values}
    )
    return (
        hostile.documents({"messaging_object": messaging, "extra_info": hostile.json_values})
        | hostile.json_values
    )


@given(
    body=documents().map(json.dumps)
    | hostile.deep_json
    | st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
)
def test_any_body_gets_a_documented_answer(sandbox_mode, body):
    response = Client().post(
        PATH, body, content_type="application/json", headers={"api-key": SANDBOX_API_KEY}
    )
    if response.status_code >= 500:  # only the sandbox playing Kaleyra's WA500 or a proxy's 502
        to = str(json.loads(body)["messaging_object"]["to"])
        assert any(to.endswith(suffix) for suffix in TEST_NUMBERS), body
    assert response.status_code in (202, 400, 401, 429, 500, 502)
