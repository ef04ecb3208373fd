"""Sending through the API: each recipient with its own values, queued and sent by the same
service as the composer's confirmed send; refusals say why in the composer's words."""

import json

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from campaigns.api.schemas import RecipientIn
from campaigns.models import Campaign, Message, Section
from tests.api.conftest import ASHA, RAVI
from tests.support import hostile
from tests.support.factories import make_campaign, make_product, make_template

pytestmark = pytest.mark.django_db

US_NUMBER = "+12015550123"


def send_path(campaign) -> str:
    return f"/campaigns/{campaign.pk}/send"


def test_recipients_with_their_own_values_are_queued_and_sent(
    api, provider, django_capture_on_commit_callbacks
):
    provider.answer()
    campaign = make_campaign(template=make_template(body_text="Hi {{1}}, {{2}} is waiting"))
    body = {
        "recipients": [
            {"phone": ASHA, "header": "cart", "body": ["Asha", "your tea"], "ref": "order-1"},
            {"phone": "+91 98765 43211"},
            {"phone": US_NUMBER},
            {"phone": ASHA},
        ]
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(send_path(campaign), body)
    assert response.status_code == 202, response.content
    answer = response.json()
    assert (answer["queued"], answer["skipped"], answer["duplicates"]) == (2, 1, 1)
    assert answer["skipped_recipients"][0]["phone"] == US_NUMBER
    assert "1 duplicate number(s) were removed." in answer["notes"]
    assert len(provider.requests) == 2
    messages = {m["index"]: m for m in answer["messages"]}
    asha = Message.objects.get(to=ASHA)
    assert messages[0] == {
        "index": 0,
        "phone": ASHA,
        "to": ASHA,
        "id": asha.pk,
        "state": "queued",
    }  # as the answer left: the send goes on in the background
    assert asha.state == Message.State.ACCEPTED
    assert messages[1]["to"] == RAVI and messages[1]["phone"] == "+91 98765 43211"
    assert messages[3]["id"] == asha.pk and messages[2]["state"] == "skipped"
    assert asha.overrides == {
        "header": "cart",
        "body_1": "Asha",
        "body_2": "your tea",
        "ref": "order-1",
    }
    sent = json.dumps(next(r.json() for r in provider.requests if r.to == ASHA))
    assert "Asha" in sent and "order-1" in sent
    assert Message.objects.get(to=RAVI).overrides == {}


def test_a_recipients_products_travel_as_a_csv_rows_columns():
    """What `campaigns.recipients` reads a CSV row's products from: skus and each section's
    SKUs joined by |, section_N_title / section_N_skus from N = 1, the thumbnail; values left
    out or empty are not sent at all."""
    recipient = RecipientIn(
        phone=ASHA,
        body=["Asha", ""],
        skus=["SKU1", "SKU2"],
        sections=[{"title": "Your cart", "skus": ["A", "B"]}, {"title": "More", "skus": ["C"]}],
        thumbnail="SKU1",
        ref2="",
    )
    assert recipient.overrides() == {
        "body_1": "Asha",
        "skus": "SKU1|SKU2",
        "section_1_title": "Your cart",
        "section_1_skus": "A|B",
        "section_2_title": "More",
        "section_2_skus": "C",
        "thumbnail": "SKU1",
    }
    assert RecipientIn(phone=ASHA).overrides() == {}


def test_an_invalid_recipient_sends_nothing_and_is_named(api, provider):
    campaign = make_campaign()
    body = {
        "recipients": [
            {"phone": ASHA},
            {"phone": "not a number"},
            {"phone": RAVI, "header": "x" * 61},
        ]
    }
    response = api.post(send_path(campaign), body)
    assert response.status_code == 422
    answer = response.json()
    assert answer["detail"].startswith("Nothing was sent: 2 recipient(s) are not valid.")
    assert [p["field"] for p in answer["problems"]] == ["recipients[1].phone", "recipients[2]"]
    assert "the limit is 60" in answer["problems"][1]["message"]
    assert [(r["index"], r["line"]) for r in answer["invalid_recipients"]] == [(1, 2), (2, 3)]
    assert not Message.objects.exists() and len(provider.requests) == 0


def test_valid_only_sends_the_others_and_lists_the_invalid(
    api, provider, django_capture_on_commit_callbacks
):
    provider.answer()
    campaign = make_campaign()
    body = {"recipients": [{"phone": "12"}, {"phone": ASHA}], "valid_only": True}
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(send_path(campaign), body)
    assert response.status_code == 202
    answer = response.json()
    assert (answer["queued"], answer["invalid"]) == (1, 1)
    assert answer["invalid_recipients"][0]["phone"] == "12"
    assert "1 invalid line(s) were left out." in answer["notes"]
    assert Message.objects.get().state == Message.State.ACCEPTED


def test_a_campaign_that_breaks_a_rule_is_422_with_its_problems(api, provider):
    campaign = make_campaign(thumbnail_product=None)
    response = api.post(send_path(campaign), {"recipients": [{"phone": ASHA}]})
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert problems and all(p["field"].startswith("campaign.") for p in problems)
    assert any("thumbnail" in p["message"] for p in problems)
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("state", "words"),
    [(Campaign.State.CANCELLED, "cancelled"), (Campaign.State.PAUSED, "paused")],
)
def test_a_cancelled_or_paused_campaign_is_409(api, provider, state, words):
    campaign = make_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(state=state)
    response = api.post(send_path(campaign), {"recipients": [{"phone": ASHA}]})
    assert response.status_code == 409
    assert words in response.json()["detail"] and response.json()["detail"].startswith("Nothing")
    assert not Message.objects.exists()


def test_sending_without_kaleyra_settings_is_409_before_anything_is_queued(api, settings):
    settings.KALEYRA_MODE = "live"
    campaign = make_campaign()
    response = api.post(send_path(campaign), {"recipients": [{"phone": ASHA}]})
    assert response.status_code == 409
    assert "not configured" in response.json()["detail"]
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["recipients"]),
        ({"recipients": []}, ["recipients"]),
        ({"recipients": [{"phone": ASHA}] * 1001}, ["recipients"]),
        ({"recipients": [{"phone": ASHA}, {"phone": 919876543210}]}, ["recipients[1].phone"]),
        ({"recipients": [{}]}, ["recipients[0].phone"]),
        ({"recipients": [{"phone": ASHA, "bodyy": ["x"]}]}, ["recipients[0].bodyy"]),
        ({"recipients": [{"phone": ASHA, "skus": ["A|B"]}]}, ["recipients[0].skus[0]"]),
        (
            {"recipients": [{"phone": ASHA, "sections": [{"title": "t"}]}]},
            ["recipients[0].sections[0].skus"],
        ),
        ({"recipients": [{"phone": ASHA}], "valid_only": "maybe"}, ["valid_only"]),
        ([1, 2], ["body"]),
    ],
)
def test_a_malformed_body_is_422_naming_each_field(api, body, fields):
    campaign = make_campaign()
    response = api.post(send_path(campaign), body)
    assert response.status_code == 422, response.content
    answer = response.json()
    assert [p["field"] for p in answer["problems"]] == fields
    assert answer["detail"] == f"The request is not valid: {len(fields)} problem(s)."
    assert not Message.objects.exists()


def test_a_limit_is_named_in_the_message(api):
    response = api.post(send_path(make_campaign()), {"recipients": [{"phone": ASHA}] * 1001})
    assert "1000" in response.json()["problems"][0]["message"]
    response = api.post(
        send_path(make_campaign()), {"recipients": [{"phone": ASHA, "skus": ["A|B"]}]}
    )
    assert (
        response.json()["problems"][0]["message"] == "A SKU cannot hold “|”, which separates SKUs."
    )


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b"[" * 100_000, b"NaN"])
def test_a_body_that_is_not_json_is_400(api, raw):
    response = api.post(send_path(make_campaign()), raw)
    assert response.status_code in (400, 422)
    assert response.json()["problems"][0]["field"] == "body"


def test_a_body_larger_than_django_takes_is_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"recipients": [{"phone": ASHA, "ref": "x" * 2000}]}
    response = api.post(send_path(make_campaign()), body)
    assert response.status_code == 413
    assert response.json()["problems"][0]["field"] == "body"


JSON = hostile.json_values
TEXT = st.none() | st.text(max_size=70)
SKUS = st.none() | st.lists(st.text(max_size=8), max_size=3)
# Well typed, so that some calls get past the schema to the rules (and some are sent).
RECIPIENT = st.fixed_dictionaries(
    {"phone": st.sampled_from([ASHA, RAVI, US_NUMBER, "", "+91", "0"]) | hostile.texts},
    optional={
        "header": TEXT,
        "body": st.none() | st.lists(st.text(max_size=40), max_size=3),
        "ref": TEXT,
        "skus": SKUS,
        "sections": st.none()
        | st.lists(
            st.fixed_dictionaries({"title": st.text(max_size=30), "skus": SKUS}), max_size=2
        ),
        "thumbnail": TEXT,
    },
)
BODY = JSON | st.fixed_dictionaries(
    {"recipients": st.lists(RECIPIENT | JSON, max_size=3) | JSON},
    optional={"valid_only": st.booleans() | JSON},
)


@given(body=BODY)
def test_no_body_makes_a_500(api, provider, unlimited, campaign, body):
    """Whatever JSON arrives, the answer is 202 or a 4xx in the problem shape."""
    response = api.post(f"/campaigns/{campaign.pk}/send", body)
    event(f"{response.status_code} {response.json().get('detail', '')[:25]}")
    assert response.status_code in (202, 400, 404, 409, 413, 422), response.content
    if response.status_code >= 400:
        assert isinstance(response.json()["detail"], str)
        assert all(set(p) == {"field", "message"} for p in response.json()["problems"])


def test_each_recipient_gets_their_own_products(api, provider, django_capture_on_commit_callbacks):
    """A campaign whose first section is filled per recipient: each cart given in the call is
    resolved against the catalog and sent (an unknown SKU is left out with a note)."""
    provider.answer()
    campaign = make_campaign(sections=())
    Section.objects.create(campaign=campaign, title="Your cart", position=0, personalised=True)
    for sku in ("TEA-1", "MUG-1", "CUP-1"):
        make_product(retailer_id=sku)
    body = {
        "recipients": [
            {"phone": ASHA, "sections": [{"title": "Asha's cart", "skus": ["TEA-1", "MUG-1"]}]},
            {"phone": RAVI, "skus": ["CUP-1", "NOPE"]},
        ]
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(send_path(campaign), body)
    assert response.status_code == 202, response.content
    assert response.json()["queued"] == 2
    sent = {r.to: json.dumps(r.json()) for r in provider.requests}
    assert "TEA-1" in sent[ASHA] and "MUG-1" in sent[ASHA] and "CUP-1" not in sent[ASHA]
    assert "CUP-1" in sent[RAVI] and "NOPE" not in sent[RAVI]


def test_a_sku_holding_a_nul_character_is_refused_in_plain_words_not_a_500(api, provider):
    """PostgreSQL refuses a NUL character even in a query (found by the fuzz test above)."""
    campaign = make_campaign(sections=())
    Section.objects.create(campaign=campaign, title="Your cart", position=0, personalised=True)
    body = {"recipients": [{"phone": ASHA, "sections": [{"title": "", "skus": ["\x00"]}]}]}
    response = api.post(send_path(campaign), body)
    assert response.status_code == 422, response.content
    assert "holds a NUL character" in response.content.decode()
    assert not Message.objects.exists()
