"""The API's send to a list or a segment: exactly one of recipients, list or segment, errors
naming the field; the answer in the same shape, the contacts sent to as the send starts."""

import pytest

from campaigns.audiences.consent import Provenance, consent_record
from campaigns.models import Consent, Contact, ContactList, Segment
from tests.api.conftest import ASHA, RAVI
from tests.support.factories import make_campaign

pytestmark = pytest.mark.django_db


def send_path(campaign) -> str:
    return f"/campaigns/{campaign.pk}/send"


def test_a_segment_is_sent_to_with_the_same_answer_shape(
    api, provider, django_capture_on_commit_callbacks
):
    provider.answer()
    consent_record(ASHA, Consent.OPTED_IN, Provenance("import"))
    Contact.objects.create(phone=RAVI)  # no consent: counted as such
    segment = Segment.objects.create(name="All", rules=[])
    campaign = make_campaign()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(send_path(campaign), {"segment": segment.pk})
    assert response.status_code == 202, response.content
    answer = response.json()
    assert answer["queued"] == 2 and answer["messages"] == []
    assert "1 without consent" in answer["notes"][0]
    assert provider.requests  # sent as the task started


def test_a_list_is_sent_to(api, provider, django_capture_on_commit_callbacks):
    provider.answer()
    vip = ContactList.objects.create(name="VIP")
    vip.contacts.add(Contact.objects.create(phone=ASHA))
    campaign = make_campaign()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(send_path(campaign), {"list": vip.pk})
    assert response.status_code == 202, response.content
    assert [r.json()["messaging_object"]["to"] for r in provider.requests] == [ASHA]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({}, "recipients", "Give exactly one of recipients, list or segment."),
        ({"list": 1, "segment": 1}, "segment", "this call gave list and segment"),
        ({"list": 999}, "list", "There is no list with id 999."),
        ({"segment": 999}, "segment", "There is no segment with id 999."),
    ],
)
def test_audience_errors_name_the_field(api, provider, body, field, words):
    response = api.post(send_path(make_campaign()), body)
    assert response.status_code == 422, response.content
    problem = response.json()["problems"][0]
    assert problem["field"] == field and words in problem["message"]
    assert not provider.requests


def test_a_segment_whose_rules_broke_is_refused_in_words(api, provider):
    segment = Segment.objects.create(name="Old", rules=[{"op": "read_campaign", "campaign": 999}])
    response = api.post(send_path(make_campaign()), {"segment": segment.pk})
    assert response.status_code == 422
    assert response.json()["problems"][0] == {
        "field": "segment",
        "message": "condition 1: campaign 999 does not exist",
    }


def test_the_list_id_must_be_a_positive_number(api):
    response = api.post(send_path(make_campaign()), {"list": "VIP"})
    assert response.status_code == 422
    assert response.json()["problems"][0]["field"] == "list"
