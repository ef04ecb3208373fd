"""Every validation rule at its boundary: the last allowed value passes, the first beyond fails."""

import copy

import pytest

from campaigns import limits
from campaigns.models import MessageTemplate, Product
from campaigns.payload import MpmContent, SectionContent, build_request
from campaigns.selectors import campaign_for_sending
from campaigns.validation import (
    ERROR,
    WARNING,
    campaign_problems,
    errors_only,
    override_problems,
    ref_problems,
    request_body_problems,
    section_problems,
    template_definition_errors,
    value_problems,
)
from tests.support.factories import add_section, make_campaign, make_product, make_template


def fields(problems) -> set[str]:
    return {problem.field for problem in problems}


def sendable(retailer_id="SKU-1") -> Product:
    """An unsaved, sendable product: section rules only look at retailer_id and availability."""
    return Product(retailer_id=retailer_id, name="x", price=1)


def products(count: int, prefix: str = "SKU") -> list[Product]:
    return [sendable(f"{prefix}-{n}") for n in range(count)]


def template(header_text="", body_text="Hello", **fields) -> MessageTemplate:
    """An unsaved template: the value and definition rules need no database."""
    defaults = {
        "name": "t",
        "language": "en_US",
        "header_text": header_text,
        "body_text": body_text,
    }
    return MessageTemplate(**{**defaults, **fields})


def checked(campaign):
    return campaign_problems(campaign_for_sending(campaign.pk))


def valid_body() -> dict:
    content = MpmContent(
        template_name="abandoned_cart",
        language="en_US",
        button_index=0,
        thumbnail_retailer_id="SKU-0",
        sections=(SectionContent("Premium Packages", ("SKU-1", "SKU-2")),),
        header_variable_count=1,
        body_variable_count=1,
        header_value="cart",
        body_values=("Asha",),
    )
    return build_request(content, "+919876543210")


# --- sections -----------------------------------------------------------------------------------


def test_section_title_of_24_characters_is_accepted():
    assert section_problems([("x" * 24, products(1))]) == []


def test_section_title_of_25_characters_is_an_error_naming_the_limit():
    problems = section_problems([("x" * 25, products(1))])
    assert fields(problems) == {"sections[1].title"}
    assert problems[0].level == ERROR
    assert "24" in problems[0].message
    assert "25" in problems[0].message


def test_blank_section_title_is_an_error():
    assert fields(section_problems([("   ", products(1))])) == {"sections[1].title"}


def test_ten_sections_are_accepted():
    sections = [(f"Section {n}", products(1, prefix=f"S{n}")) for n in range(10)]
    assert section_problems(sections) == []


def test_eleven_sections_are_an_error():
    sections = [(f"Section {n}", products(1, prefix=f"S{n}")) for n in range(11)]
    problems = section_problems(sections)
    assert fields(problems) == {"sections"}
    assert "11" in problems[0].message
    assert str(limits.MAX_SECTIONS) in problems[0].message


def test_thirty_products_across_sections_are_accepted():
    assert section_problems([("A", products(15, "A")), ("B", products(15, "B"))]) == []


def test_thirty_one_products_across_sections_are_an_error():
    problems = section_problems([("A", products(15, "A")), ("B", products(16, "B"))])
    assert fields(problems) == {"sections"}
    assert "31" in problems[0].message
    assert "30" in problems[0].message


def test_no_sections_is_an_error():
    problems = section_problems([])
    assert fields(problems) == {"sections"}


def test_a_section_without_products_is_an_error():
    problems = section_problems([("A", products(1)), ("Empty", [])])
    assert fields(problems) == {"sections[2].products"}
    assert "Section 2 has no products" in problems[0].message


@pytest.mark.django_db
def test_campaign_without_sections_is_reported():
    campaign = make_campaign(sections=())
    assert "sections" in fields(checked(campaign))


@pytest.mark.django_db
def test_campaign_with_an_empty_section_is_reported():
    campaign = make_campaign(sections=(("Full", 2), ("Empty", 0)))
    assert fields(checked(campaign)) == {"sections[2].products"}


@pytest.mark.django_db
def test_campaign_with_31_products_is_reported_and_30_is_not():
    campaign = make_campaign(sections=(("A", 15), ("B", 15)))
    assert checked(campaign) == []
    add_section(campaign, "C", 1, position=2)
    problems = checked(campaign)
    assert fields(problems) == {"sections"}
    assert "31 products" in problems[0].message


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"active": False}, "inactive"),
        ({"availability": Product.Availability.OUT_OF_STOCK}, "out of stock"),
        ({"availability": Product.Availability.DISCONTINUED}, "discontinued"),
    ],
)
def test_unsendable_product_in_a_section_is_reported(change, expected):
    campaign = make_campaign(sections=(("A", 2),))
    product = campaign.sections.get().items.order_by("position").last().product
    Product.objects.filter(pk=product.pk).update(**change)
    problems = checked(campaign)
    assert fields(problems) == {"sections[1].products"}
    assert product.retailer_id in problems[0].message
    assert expected in problems[0].message


@pytest.mark.django_db
def test_preorder_product_is_sendable():
    campaign = make_campaign()
    product = campaign.sections.get().items.get().product
    Product.objects.filter(pk=product.pk).update(availability=Product.Availability.PREORDER)
    assert checked(campaign) == []


# --- thumbnail ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_missing_thumbnail_is_reported():
    campaign = make_campaign(thumbnail_product=None)
    assert fields(checked(campaign)) == {"thumbnail_product"}


@pytest.mark.django_db
def test_inactive_thumbnail_is_reported():
    campaign = make_campaign(thumbnail_product=make_product(active=False))
    problems = checked(campaign)
    assert fields(problems) == {"thumbnail_product"}
    assert campaign.thumbnail_product.retailer_id in problems[0].message


@pytest.mark.django_db
def test_out_of_stock_thumbnail_is_reported():
    product = make_product(availability=Product.Availability.OUT_OF_STOCK)
    assert fields(checked(make_campaign(thumbnail_product=product))) == {"thumbnail_product"}


# --- templates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 9])
def test_button_index_0_to_9_is_accepted(index):
    assert template_definition_errors(template(button_index=index)) == []


def test_button_index_10_is_an_error():
    problems = template_definition_errors(template(button_index=10))
    assert fields(problems) == {"button_index"}
    assert "10" in problems[0].message
    assert "0 to 9" in problems[0].message


@pytest.mark.parametrize("code", ["en", "en_US", "pt_BR"])
def test_language_codes_like_kaleyra_writes_them_are_valid(code):
    assert template_definition_errors(template(language=code)) == []


@pytest.mark.parametrize("code", ["english", "en-us", "en-US", "EN", "en_us", ""])
def test_other_language_spellings_are_invalid(code):
    problems = template_definition_errors(MessageTemplate(name="t", language=code, body_text="x"))
    assert fields(problems) == {"language"}


def test_body_variables_with_a_gap_are_rejected():
    problems = template_definition_errors(template(body_text="Hi {{1}}, see {{3}}"))
    assert fields(problems) == {"body_text"}
    assert "{{3}}" in problems[0].message


def test_body_variables_not_starting_at_one_are_rejected():
    assert fields(template_definition_errors(template(body_text="Hi {{2}}"))) == {"body_text"}


def test_header_may_hold_only_variable_1():
    assert template_definition_errors(template(header_text="Your {{1}}")) == []
    assert fields(template_definition_errors(template(header_text="Your {{2}}"))) == {"header_text"}


@pytest.mark.django_db
def test_the_admins_template_form_uses_the_same_rules():
    from campaigns.forms import MessageTemplateForm

    data = {
        "name": "t",
        "language": "en-US",
        "category": MessageTemplate.Category.MARKETING,
        "body_text": "{{1}} {{3}}",
        "button_index": 0,
        "button_text": "View items",
        "status": MessageTemplate.Status.APPROVED,
    }
    form = MessageTemplateForm(data=data)
    assert not form.is_valid()
    assert set(form.errors) == {"body_text", "language"}
    assert "without gaps" in form.errors["body_text"][0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status",
    [s for s in MessageTemplate.Status if s != MessageTemplate.Status.APPROVED],
)
def test_unapproved_template_is_reported(status):
    campaign = make_campaign(template=make_template(status=status))
    problems = checked(campaign)
    assert fields(problems) == {"template"}
    assert status.label.lower() in problems[0].message
    assert "only approved" in problems[0].message


@pytest.mark.django_db
def test_campaign_with_gapped_template_is_reported():
    campaign = make_campaign(
        template=make_template(body_text="{{1}} and {{3}}"), body_values=["a", "b"]
    )
    problems = checked(campaign)
    assert fields(problems) == {"template"}
    assert "{{3}}" in problems[0].message


# --- values -------------------------------------------------------------------------------------


def test_wrong_number_of_body_values_names_the_expected_count():
    tpl = template(body_text="Hi {{1}}, your {{2}} waits")
    problems = value_problems(tpl, "", ["Asha"])
    assert fields(problems) == {"body_values"}
    assert "2 variables" in problems[0].message
    assert "1 value was given" in problems[0].message
    too_many = value_problems(tpl, "", ["a", "b", "c"])
    assert fields(too_many) == {"body_values"}
    assert "3 values were given" in too_many[0].message


def test_header_value_missing_when_template_has_a_header_variable():
    problems = value_problems(template(header_text="Your {{1}}"), "", [])
    assert fields(problems) == {"header_value"}
    assert "{{1}}" in problems[0].message


def test_header_value_given_when_template_header_has_no_variable():
    problems = value_problems(template(header_text="Your cart"), "cart", [])
    assert fields(problems) == {"header_value"}
    assert "no variable" in problems[0].message


def test_header_value_of_60_characters_is_accepted():
    assert value_problems(template(header_text="{{1}}"), "h" * 60, []) == []


def test_header_value_of_61_characters_is_an_error():
    problems = value_problems(template(header_text="{{1}}"), "h" * 61, [])
    assert fields(problems) == {"header_value"}
    assert "61" in problems[0].message
    assert "60" in problems[0].message


def test_empty_body_value_is_an_error():
    problems = value_problems(template(body_text="{{1}} {{2}}"), "", ["a", ""])
    assert fields(problems) == {"body_2"}
    assert "{{2}}" in problems[0].message


@pytest.mark.parametrize("value", ["two\nlines", "carriage\rreturn", "a\ttab", "five     spaces"])
def test_body_value_with_newline_tab_or_five_spaces_is_an_error(value):
    problems = value_problems(template(body_text="Hi {{1}}"), "", [value])
    assert fields(problems) == {"body_1"}


def test_body_value_with_four_spaces_is_accepted():
    assert value_problems(template(body_text="Hi {{1}}"), "", ["four    spaces"]) == []


def test_header_value_with_a_newline_is_an_error():
    problems = value_problems(template(header_text="{{1}}"), "a\nb", [])
    assert fields(problems) == {"header_value"}


def test_filled_body_of_1024_characters_is_accepted():
    tpl = template(body_text="Hi {{1}}")
    assert value_problems(tpl, "", ["x" * (1024 - len("Hi "))]) == []


def test_filled_body_over_1024_characters_is_an_error():
    tpl = template(body_text="Hi {{1}}")
    problems = value_problems(tpl, "", ["x" * (1025 - len("Hi "))])
    assert fields(problems) == {"body_values"}
    assert "1025" in problems[0].message
    assert "1024" in problems[0].message


def test_field_prefix_names_where_the_values_came_from():
    problems = value_problems(template(header_text="{{1}}"), "", [], field_prefix="line 3: ")
    assert fields(problems) == {"line 3: header_value"}


# --- refs ---------------------------------------------------------------------------------------


def test_ref_of_255_characters_gives_no_warning():
    assert ref_problems({"ref": "r" * 255, "ref1": "r" * 255, "ref2": "r" * 255}) == []


@pytest.mark.parametrize("name", limits.REF_FIELDS)
def test_ref_of_256_characters_is_a_warning_that_it_will_be_cut(name):
    problems = ref_problems({name: "r" * 256})
    assert fields(problems) == {name}
    assert problems[0].level == WARNING
    assert errors_only(problems) == []
    assert "cut" in problems[0].message
    assert "255" in problems[0].message


@pytest.mark.django_db
def test_long_campaign_ref_is_a_warning_not_an_error():
    campaign = make_campaign(ref="r" * 256)
    problems = checked(campaign)
    assert [(p.field, p.level) for p in problems] == [("ref", WARNING)]
    assert errors_only(problems) == []


# --- all at once --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_problem_of_a_campaign_is_reported_in_one_call():
    tpl = make_template(
        status=MessageTemplate.Status.PENDING,
        header_text="Your {{1}}",
        body_text="Hi {{1}}, see {{2}}",
    )
    campaign = make_campaign(
        template=tpl,
        header_value="",
        body_values=["Asha"],
        thumbnail_product=None,
        ref1="r" * 300,
        sections=(("A", 1), ("Empty", 0)),
    )
    problems = checked(campaign)
    assert fields(problems) == {
        "template",
        "header_value",
        "body_values",
        "thumbnail_product",
        "sections[2].products",
        "ref1",
    }
    assert len(errors_only(problems)) == len(problems) - 1


@pytest.mark.django_db
def test_factory_campaign_is_valid():
    assert checked(make_campaign(sections=(("A", 3), ("B", 2)))) == []


# --- per-recipient overrides --------------------------------------------------------------------


def test_header_override_when_template_has_no_header_variable():
    problems = override_problems(
        template(header_text="Your cart", body_text="{{1}}"), {"header": "x"}
    )
    assert fields(problems) == {"header"}


def test_header_override_accepted_when_template_has_header_variable():
    assert override_problems(template(header_text="{{1}}"), {"header": "x"}) == []


def test_header_override_of_61_characters_is_an_error():
    problems = override_problems(template(header_text="{{1}}"), {"header": "h" * 61})
    assert fields(problems) == {"header"}
    assert "61" in problems[0].message


def test_body_override_beyond_the_template_variables_is_an_error():
    problems = override_problems(template(body_text="Hi {{1}}"), {"body_5": "x"})
    assert fields(problems) == {"body_5"}
    assert "{{5}}" in problems[0].message
    assert override_problems(template(body_text="Hi {{1}}"), {"body_1": "x"}) == []


def test_body_override_with_a_tab_is_an_error():
    problems = override_problems(template(body_text="Hi {{1}}"), {"body_1": "a\tb"})
    assert fields(problems) == {"body_1"}


def test_long_ref_override_is_a_warning():
    problems = override_problems(template(), {"ref2": "r" * 256})
    assert [(p.field, p.level) for p in problems] == [("ref2", WARNING)]


# --- request bodies (the sandbox's check) -------------------------------------------------------


def test_a_built_request_body_has_no_problems():
    assert request_body_problems(valid_body()) == []


def button(body):
    return body["messaging_object"]["template"]["components"][-1]


@pytest.mark.parametrize("index", [0, 9])
def test_request_body_button_index_0_to_9_is_accepted(index):
    body = valid_body()
    button(body)["index"] = index
    assert request_body_problems(body) == []


@pytest.mark.parametrize("index", [10, -1, "0", True, None])
def test_request_body_button_index_outside_0_to_9_is_an_error(index):
    body = valid_body()
    button(body)["index"] = index
    assert fields(request_body_problems(body)) == {"button_index"}


def test_request_body_section_rules_match_campaign_rules():
    body = valid_body()
    action = button(body)["parameters"][0]["action"]
    action["sections"] = [
        {"title": "x" * 25, "product_items": [{"product_retailer_id": "A"}]},
        {"title": "Empty", "product_items": []},
    ]
    assert fields(request_body_problems(body)) == {"sections[1].title", "sections[2].products"}


def test_request_body_header_value_over_60_is_an_error():
    body = valid_body()
    body["messaging_object"]["template"]["components"][0]["parameters"][0]["text"] = "h" * 61
    assert fields(request_body_problems(body)) == {"header"}


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda o: o.update(to="919876543210"), "messaging_object.to"),
        (lambda o: o.update(to="+91 98765 43210"), "messaging_object.to"),
        (lambda o: o.update(messaging_product="sms"), "messaging_object.messaging_product"),
        (lambda o: o["template"]["language"].update(code="english"), "template.language.code"),
        (lambda o: o["template"].update(name=""), "template.name"),
    ],
)
def test_request_body_problems_name_the_field(mutate, field):
    body = copy.deepcopy(valid_body())
    mutate(body["messaging_object"])
    assert field in fields(request_body_problems(body))


@pytest.mark.django_db
def test_the_template_form_with_a_field_that_is_not_a_number_says_so_without_a_crash():
    from campaigns.forms import MessageTemplateForm

    form = MessageTemplateForm(
        data={"name": "t", "language": "en", "body_text": "{{2}}", "button_index": "x"}
    )
    assert not form.is_valid()
    assert {"button_index", "body_text"} <= set(form.errors)
