"""The pure parser of one entry of Kaleyra's template list: fields, statuses, the MPM button,
and odd entries in plain words. No database; a property test: it never raises."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.models import MessageTemplate
from campaigns.services.template_parsing import parse_template
from tests.support.templates import mpm_template, utility_template

Status = MessageTemplate.Status


def test_an_mpm_template_becomes_our_fields():
    entry = mpm_template("spring_sale", ident="1234567890")

    parsed = parse_template(entry)

    assert parsed.problems == []
    assert parsed.fields == {
        "name": "spring_sale",
        "language": "en_US",
        "status": Status.APPROVED,
        "category": "MARKETING",
        "provider_id": "1234567890",
        "raw": entry,
        "header_text": "Your {{1}} is waiting",
        "body_text": "Hi {{1}}, the items you left are selling fast: {{2}}.",
        "footer_text": "Reply STOP to unsubscribe",
        "has_mpm_button": True,
        "button_index": 0,
        "button_text": "View items",
    }


def test_the_mpm_button_index_is_its_position_among_the_buttons():
    buttons = [
        {"type": "QUICK_REPLY", "text": "Stop"},
        {"type": "URL", "text": "Shop", "url": "https://example.com"},
        {"type": "mpm", "text": "See the picks"},
    ]
    fields = parse_template(mpm_template("picks", buttons=buttons)).fields

    assert fields["has_mpm_button"] is True
    assert fields["button_index"] == 2 and fields["button_text"] == "See the picks"


def test_a_template_without_an_mpm_button_is_kept_as_such():
    parsed = parse_template(utility_template())

    assert parsed.problems == []
    assert parsed.fields["has_mpm_button"] is False and parsed.fields["category"] == "UTILITY"


@pytest.mark.parametrize(
    ("given", "ours"),
    [
        ("APPROVED", Status.APPROVED),
        ("Approved", Status.APPROVED),
        ("PENDING", Status.PENDING),
        ("REJECTED", Status.REJECTED),
        ("Submission Rejected", Status.REJECTED),
        ("PAUSED", Status.PAUSED),
        ("Paused", Status.PAUSED),
        ("DISABLED", Status.DISABLED),
        ("PENDING_DELETION", Status.DISABLED),
        ("IN_APPEAL", Status.REJECTED),
    ],
)
def test_kaleyra_and_meta_statuses_map_to_ours(given, ours):
    parsed = parse_template(mpm_template("t", status=given))

    assert parsed.fields["status"] == ours and parsed.unknown_status == ""


def test_an_unknown_status_is_named_and_kept_unsendable():
    parsed = parse_template(mpm_template("t", status="FLAGGED_FOR_REVIEW"))

    assert parsed.fields["status"] == Status.PENDING
    assert parsed.unknown_status == "FLAGGED_FOR_REVIEW"
    assert "Template t (en_US): status 'FLAGGED_FOR_REVIEW'" in parsed.problems[0]


def test_a_rejection_reason_is_kept_to_say_why():
    parsed = parse_template(mpm_template("t", status="REJECTED", rejected_reason="PROMOTIONAL"))

    assert parsed.reason == "PROMOTIONAL"
    assert parse_template(mpm_template("t", rejected_reason="NONE")).reason == ""


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("not a template", "not a template object (str); skipped"),
        ({"language": "en"}, "has no name; skipped"),
        ({"name": "t", "language": "English"}, "Template t: language 'English'"),
        ({"name": "x" * 600, "language": "en"}, "over WhatsApp's 512; skipped"),
    ],
)
def test_entries_that_cannot_be_stored_say_why(entry, words):
    parsed = parse_template(entry)

    assert parsed.fields is None
    assert words in parsed.problems[0]


def test_a_text_over_the_limit_names_the_template_and_the_field():
    entry = mpm_template("long_header")
    entry["components"][0]["text"] = "h" * 61

    parsed = parse_template(entry)

    assert parsed.fields is None
    assert parsed.problems == [
        "Template long_header (en_US): header text is 61 characters, over WhatsApp's 60; skipped."
    ]


def test_odd_parts_are_named_and_the_rest_kept():
    entry = mpm_template("odd", category="PROMOTION")
    entry["components"] = [{"type": "BODY"}, "junk", {"type": "BUTTONS", "buttons": "MPM"}]

    parsed = parse_template(entry)

    assert parsed.fields is not None and "category" not in parsed.fields
    text = " ".join(parsed.problems)
    assert "Template odd (en_US): category 'PROMOTION'" in text
    assert "the BODY component has no text" in text
    assert "a component is not an object" in text
    assert "BUTTONS holds no list" in text
    assert "no BODY text found" in text
    assert parsed.fields["has_mpm_button"] is False


def test_an_image_header_leaves_no_header_text():
    entry = mpm_template("pictured")
    entry["components"][0] = {"type": "HEADER", "format": "IMAGE", "example": {}}

    assert parse_template(entry).fields["header_text"] == ""


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(["id", "name", "language", "status", "category", "components"])
COMPONENT = st.fixed_dictionaries(
    {"type": st.sampled_from(["HEADER", "BODY", "FOOTER", "BUTTONS", "x"]) | JSON},
    optional={
        "text": JSON,
        "format": JSON,
        "buttons": st.lists(
            JSON
            | st.fixed_dictionaries({"type": st.sampled_from(["MPM", "URL"]) | JSON, "text": JSON}),
            max_size=12,
        )
        | JSON,
    },
)
TEMPLATE_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "id": JSON,
        "name": st.text(max_size=20) | JSON,
        "language": st.sampled_from(["en", "en_US", "pt_BR", "xx-YY"]) | JSON,
        "status": st.sampled_from(["APPROVED", "Paused", "Submission Rejected"]) | JSON,
        "category": st.sampled_from(["MARKETING", "UTILITY"]) | JSON,
        "components": st.lists(COMPONENT | JSON, max_size=6) | JSON,
        "rejected_reason": JSON,
    },
)


@given(entry=JSON | TEMPLATE_LIKE | st.dictionaries(KEYS, JSON))
def test_the_parser_never_raises(entry):
    parsed = parse_template(entry)

    assert parsed.fields is not None or parsed.problems
    if parsed.fields is not None:
        assert 0 <= parsed.fields["button_index"] <= 9
        assert parsed.fields["status"] in Status.values
