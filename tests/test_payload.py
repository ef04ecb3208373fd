"""The request body: the provider's own sample rebuilt from models, and every rule of its shape."""

import json

import pytest

from campaigns import limits
from campaigns.models import MessageTemplate
from campaigns.payload import (
    BodyTemplate,
    MpmContent,
    SectionContent,
    build_request,
    pretty,
    serialize,
)
from campaigns.selectors import campaign_content, campaign_for_sending
from campaigns.services import campaign_preview
from tests.conftest import TEST_API_KEY
from tests.support.factories import add_section_with, make_campaign, make_product, make_template

# The "Sample Request Format" of Kaleyra's "Send Multi-Product Template Messages" page, as a
# Python literal (the page's JSON has trailing commas after the last product and section).
SEED_SAMPLE = {
    "messaging_object": {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+91XXXXXXXXXX",
        "type": "template",
        "template": {
            "name": "abandoned_cart",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "header",
                    "parameters": [{"type": "text", "text": "subscription"}],
                },
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "This is the sample message"}],
                },
                {
                    "type": "button",
                    "sub_type": "mpm",
                    "index": 0,
                    "parameters": [
                        {
                            "type": "action",
                            "action": {
                                "thumbnail_product_retailer_id": "2lc20XXXpt",
                                "sections": [
                                    {
                                        "title": "Premium Packages",
                                        "product_items": [{"product_retailer_id": "2lc2XXXpt"}],
                                    },
                                ],
                            },
                        }
                    ],
                },
            ],
        },
    },
    "extra_info": {
        "ref": "customer1",
        "ref1": "marketing",
        "ref2": "dictionary",
        "wa_source": "api",
    },
}


@pytest.fixture
def seed_campaign(db):
    template = make_template(
        name="abandoned_cart",
        language="en_US",
        header_text="Your {{1}}",
        body_text="{{1}}",
        button_index=0,
        status=MessageTemplate.Status.APPROVED,
    )
    campaign = make_campaign(
        template=template,
        sections=(),
        header_value="subscription",
        body_values=["This is the sample message"],
        thumbnail_product=make_product(retailer_id="2lc20XXXpt"),
        ref="customer1",
        ref1="marketing",
        ref2="dictionary",
        wa_source="api",
    )
    add_section_with(campaign, "Premium Packages", [make_product(retailer_id="2lc2XXXpt")])
    return campaign_for_sending(campaign.pk)


def content(**fields) -> MpmContent:
    defaults = {
        "template_name": "abandoned_cart",
        "language": "en_US",
        "button_index": 0,
        "thumbnail_retailer_id": "THUMB",
        "sections": (SectionContent("Premium Packages", ("SKU-1", "SKU-2")),),
        "header_variable_count": 1,
        "body_variable_count": 2,
        "header_value": "cart",
        "body_values": ("Asha", "shoes"),
    }
    return MpmContent(**{**defaults, **fields})


def components(body: dict) -> list[dict]:
    return body["messaging_object"]["template"]["components"]


# --- the golden test ----------------------------------------------------------------------------


def test_the_seed_sample_request_is_rebuilt_from_models(seed_campaign):
    body = build_request(campaign_content(seed_campaign), "+91XXXXXXXXXX")
    assert body == SEED_SAMPLE
    # Same keys in the same order too: the bytes match the documented sample exactly.
    assert serialize(body) == serialize(SEED_SAMPLE)


def test_the_seed_campaign_is_valid(seed_campaign):
    from campaigns.validation import campaign_problems

    assert campaign_problems(seed_campaign) == []


# --- components ---------------------------------------------------------------------------------


def test_header_and_body_components_are_omitted_without_variables():
    body = build_request(
        content(header_variable_count=0, body_variable_count=0, header_value="", body_values=()),
        "+919876543210",
    )
    assert [c["type"] for c in components(body)] == ["button"]


def test_only_the_header_component_when_only_the_header_has_a_variable():
    body = build_request(content(body_variable_count=0, body_values=()), "+919876543210")
    assert [c["type"] for c in components(body)] == ["header", "button"]


@pytest.mark.django_db
def test_template_without_variables_gives_only_the_button():
    template = make_template(header_text="Your cart", body_text="Your cart misses you.")
    campaign = campaign_for_sending(make_campaign(template=template).pk)
    body = build_request(campaign_content(campaign), "+919876543210")
    assert [c["type"] for c in components(body)] == ["button"]


def test_body_parameters_follow_variable_order():
    body = build_request(content(), "+919876543210")
    assert components(body)[1] == {
        "type": "body",
        "parameters": [{"type": "text", "text": "Asha"}, {"type": "text", "text": "shoes"}],
    }


@pytest.mark.django_db
def test_sections_and_products_keep_their_positions():
    campaign = make_campaign(sections=())
    a, b, c = (make_product(retailer_id=r) for r in ("A", "B", "C"))
    add_section_with(campaign, "Second", [c], position=1)
    add_section_with(campaign, "First", [b, a], position=0)
    body = build_request(campaign_content(campaign_for_sending(campaign.pk)), "+919876543210")
    sections = components(body)[-1]["parameters"][0]["action"]["sections"]
    assert sections == [
        {
            "title": "First",
            "product_items": [{"product_retailer_id": "B"}, {"product_retailer_id": "A"}],
        },
        {"title": "Second", "product_items": [{"product_retailer_id": "C"}]},
    ]


def test_button_index_is_the_templates():
    assert components(build_request(content(button_index=7), "+919876543210"))[-1]["index"] == 7


# --- extra_info ---------------------------------------------------------------------------------


def test_extra_info_is_omitted_when_nothing_is_set():
    body = build_request(content(extra_info={}), "+919876543210")
    assert "extra_info" not in body


def test_extra_info_holds_only_the_fields_set():
    body = build_request(
        content(extra_info={"ref": "", "ref1": "spring", "ref2": "", "wa_source": ""}),
        "+919876543210",
    )
    assert body["extra_info"] == {"ref1": "spring"}


@pytest.mark.django_db
def test_campaign_without_refs_sends_only_the_default_wa_source():
    # wa_source defaults to "api", the value Kaleyra would use anyway; empty refs are left out.
    campaign = campaign_for_sending(make_campaign().pk)
    body = build_request(campaign_content(campaign), "+919876543210")
    assert body["extra_info"] == {"wa_source": limits.DEFAULT_WA_SOURCE}


@pytest.mark.parametrize("name", limits.REF_FIELDS)
def test_refs_are_cut_to_exactly_255_characters(name):
    value = "".join(str(n % 10) for n in range(300))
    body = build_request(content(extra_info={name: value}), "+919876543210")
    assert body["extra_info"][name] == value[:255]
    assert len(body["extra_info"][name]) == limits.MAX_REF_LENGTH


def test_ref_of_255_characters_is_kept_whole():
    body = build_request(content(extra_info={"ref": "r" * 255}), "+919876543210")
    assert body["extra_info"]["ref"] == "r" * 255


# --- per-recipient overrides --------------------------------------------------------------------


def test_overrides_win_for_header_body_value_and_ref():
    body = build_request(
        content(extra_info={"ref": "campaign-ref", "ref1": "campaign-ref1"}),
        "+919876543210",
        {"header": "basket", "body_2": "sandals", "ref": "row-7"},
    )
    header, body_component, _ = components(body)
    assert header["parameters"] == [{"type": "text", "text": "basket"}]
    assert [p["text"] for p in body_component["parameters"]] == ["Asha", "sandals"]
    assert body["extra_info"] == {"ref": "row-7", "ref1": "campaign-ref1"}


def test_empty_overrides_do_not_win():
    body = build_request(
        content(extra_info={"ref": "campaign-ref"}),
        "+919876543210",
        {"header": "", "body_1": "", "body_2": "", "ref": ""},
    )
    header, body_component, _ = components(body)
    assert header["parameters"][0]["text"] == "cart"
    assert [p["text"] for p in body_component["parameters"]] == ["Asha", "shoes"]
    assert body["extra_info"] == {"ref": "campaign-ref"}


def test_ref_override_is_cut_to_255_too():
    body = build_request(content(), "+919876543210", {"ref": "r" * 400})
    assert body["extra_info"]["ref"] == "r" * 255


def test_the_recipient_goes_in_to():
    assert build_request(content(), "+14165550123")["messaging_object"]["to"] == "+14165550123"


# --- bytes --------------------------------------------------------------------------------------


def test_serialize_gives_compact_utf8_that_round_trips():
    body = build_request(
        content(body_values=("Señora Aña", "₹499 chappals"), extra_info={"ref": "café"}),
        "+919876543210",
    )
    wire = serialize(body)
    assert isinstance(wire, bytes)
    assert json.loads(wire.decode("utf-8")) == body
    assert b"\n" not in wire
    assert b", " not in wire
    assert b'": ' not in wire
    assert "₹499 chappals".encode() in wire  # kept as UTF-8, not \u20b9 escapes
    assert b"\\u" not in wire


def test_pretty_is_the_same_body_indented():
    body = build_request(content(), "+919876543210")
    text = pretty(body)
    assert "\n  " in text
    assert json.loads(text) == json.loads(serialize(body)) == body


@pytest.mark.django_db
def test_preview_is_the_pretty_body_and_never_holds_the_api_key(kaleyra_settings):
    campaign = campaign_for_sending(make_campaign(ref="spring").pk)
    preview = campaign_preview(campaign, to="+919876543210")
    assert preview == pretty(build_request(campaign_content(campaign), "+919876543210"))
    assert json.loads(preview)["messaging_object"]["to"] == "+919876543210"
    assert TEST_API_KEY not in preview
    assert "api-key" not in preview


# --- many recipients, one template --------------------------------------------------------------

TEMPLATE_CONTENTS = {
    "header and body": content(),
    "no variables": content(header_variable_count=0, body_variable_count=0, body_values=()),
    "refs and wa_source": content(extra_info={"ref1": "spring", "ref2": "x", "wa_source": "api"}),
    "non-ASCII and quotes": content(
        header_value='“cart” \\ "quoted"', body_values=("Señora Aña", "₹499 chappals")
    ),
}


@pytest.mark.parametrize("name", TEMPLATE_CONTENTS)
@pytest.mark.parametrize("ref", ["mpm-42", "r" * 300, 'with "quotes" and ünïcode'])
def test_a_body_template_gives_the_same_bytes_as_building_the_body(name, ref):
    mpm = TEMPLATE_CONTENTS[name]
    template = BodyTemplate(mpm, with_ref=True)
    for to in ("+919876543210", "+14165550123"):
        assert template.render(to, ref) == serialize(build_request(mpm, to, {"ref": ref}))


@pytest.mark.parametrize("extra_info", [{}, {"ref": "campaign-ref", "wa_source": "api"}])
def test_a_body_template_without_a_ref_leaves_extra_info_as_the_campaign_set_it(extra_info):
    mpm = content(extra_info=extra_info)
    template = BodyTemplate(mpm, with_ref=False)
    assert template.render("+919876543210") == serialize(build_request(mpm, "+919876543210"))
