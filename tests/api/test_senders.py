"""The API's `sender`: a send goes out from the sender named by id or business number (the
campaign keeps it); an unknown or inactive one is a plain-words 400 naming the field, and a
sending campaign keeps its sender (409)."""

import pytest

from campaigns.models import Campaign, Message
from tests.api.conftest import ASHA
from tests.api.test_send import send_path
from tests.support.factories import make_campaign, make_sender

BRAND2_KEY = "brand2-api-key-99"


@pytest.fixture
def senders(db, monkeypatch):
    monkeypatch.setenv("KALEYRA_API_KEY_BRAND2", BRAND2_KEY)
    main = make_sender(display_name="Main", business_number="+919000000001", is_default=True)
    second = make_sender(
        display_name="Brand 2",
        business_number="+919000000002",
        api_key_variable="KALEYRA_API_KEY_BRAND2",
    )
    return main, second


@pytest.mark.parametrize("reference", ["+919000000002", "919000000002", "id"])
def test_a_send_goes_out_from_the_sender_named_by_number_or_id(
    api, provider, senders, reference, django_capture_on_commit_callbacks
):
    second = senders[1]
    provider.answer()
    campaign = make_campaign()
    body = {
        "recipients": [{"phone": ASHA}],
        "sender": second.pk if reference == "id" else reference,
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(send_path(campaign), body)
    assert response.status_code == 202, response.content
    [request] = provider.requests
    assert "/whatsapp/+919000000002/messages" in request.path
    assert request.headers["api-key"] == BRAND2_KEY
    assert Campaign.objects.get(pk=campaign.pk).sender == second
    assert Message.objects.get().state == Message.State.ACCEPTED


def test_without_a_sender_the_campaigns_default_is_used(
    api, provider, senders, django_capture_on_commit_callbacks
):
    provider.answer()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(send_path(make_campaign()), {"recipients": [{"phone": ASHA}]})
    assert response.status_code == 202, response.content
    assert "/whatsapp/+919000000001/messages" in provider.requests[0].path


@pytest.mark.parametrize(
    ("reference", "words"),
    [
        ("+919999999999", "There is no sender '+919999999999'"),
        (987654, "There is no sender 987654"),
        ("not a number", "There is no sender 'not a number'"),
    ],
)
def test_an_unknown_sender_is_a_400_naming_the_field(api, provider, senders, reference, words):
    campaign = make_campaign()
    response = api.post(send_path(campaign), {"recipients": [{"phone": ASHA}], "sender": reference})
    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["detail"].startswith("Nothing was sent: " + words)
    assert answer["problems"][0]["field"] == "sender"
    assert words in answer["problems"][0]["message"]
    assert not Message.objects.exists() and not provider.requests
    assert Campaign.objects.get(pk=campaign.pk).sender is None


def test_an_inactive_sender_is_a_400(api, provider, senders):
    retired = make_sender(display_name="Retired", active=False)
    response = api.post(
        send_path(make_campaign()), {"recipients": [{"phone": ASHA}], "sender": retired.pk}
    )
    assert response.status_code == 400
    [problem] = response.json()["problems"]
    assert problem["field"] == "sender"
    assert "Retired" in problem["message"] and "is inactive" in problem["message"]
    assert not Message.objects.exists()


def test_a_sending_campaign_keeps_its_sender(api, provider, senders):
    campaign = make_campaign(state=Campaign.State.SENDING, triggered=True)
    response = api.post(
        send_path(campaign), {"recipients": [{"phone": ASHA}], "sender": senders[1].pk}
    )
    assert response.status_code == 409, response.content
    assert response.json()["problems"][0]["field"] == "sender"
    assert "keeps that sender" in response.json()["detail"]
    assert not Message.objects.exists()


def test_the_schema_documents_the_sender_field(api):
    schema = api.get("/openapi.json").json()
    send_in = schema["components"]["schemas"]["SendIn"]["properties"]
    assert "sender" in send_in


def test_a_refused_call_leaves_the_campaigns_sender_as_it_was(api, provider, senders):
    campaign = make_campaign()
    body = {"recipients": [{"phone": "not a number"}], "sender": "+919000000002"}
    response = api.post(send_path(campaign), body)
    assert response.status_code == 422, response.content
    assert Campaign.objects.get(pk=campaign.pk).sender is None
    assert provider.requests == []


def test_a_campaign_that_went_out_keeps_its_sender(
    api, provider, senders, django_capture_on_commit_callbacks
):
    provider.answer()
    campaign = make_campaign()
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(send_path(campaign), {"recipients": [{"phone": ASHA}]}).status_code == 202
    response = api.post(
        send_path(campaign), {"recipients": [{"phone": ASHA}], "sender": "+919000000002"}
    )
    assert response.status_code == 409, response.content
    assert "went out from Main (+919000000001) already; clone it" in response.json()["detail"]
    assert Campaign.objects.get(pk=campaign.pk).sender == senders[0]  # kept as it sent
