"""Each recipient's own products: CSV columns resolved against the catalog when the list is
checked, every limit held per recipient, and the request the engine sends carrying exactly them."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns import limits
from campaigns.models import Message, Product, Section
from campaigns.payload import build_request, serialize
from campaigns.recipients import CsvRecipients, RecipientInput, campaign_queue_recipients
from campaigns.recipients.products import NO_PRODUCTS_REASON
from campaigns.selectors import campaign_content, campaign_for_sending
from campaigns.services import campaign_dry_run, campaign_send, run_options
from campaigns.services.composer import message_preview, recipient_state, state_from_campaign
from tests.support.factories import add_section_with, make_campaign, make_product
from tests.support.recipients import phone, write_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def cart():
    """A campaign whose first section is each recipient's cart and whose second is fixed."""
    campaign = make_campaign(sections=())
    Section.objects.create(campaign=campaign, title="Your cart", position=0, personalised=True)
    recommended = [make_product(retailer_id=f"REC-{n}") for n in range(2)]
    add_section_with(campaign, "You may also like", recommended, position=1)
    for n in range(1, 6):
        make_product(retailer_id=f"CART-{n}")
    make_product(retailer_id="GONE", availability=Product.Availability.OUT_OF_STOCK)
    make_product(retailer_id="OFF", active=False)
    return campaign_for_sending(campaign.pk)


def queue(campaign, *rows: dict, **kwargs):
    inputs = [
        RecipientInput(
            row.get("phone", phone(n)), {k: v for k, v in row.items() if k != "phone"}, n
        )
        for n, row in enumerate(rows, start=2)
    ]
    return campaign_queue_recipients(campaign, inputs, **kwargs)


def stored(campaign, n: int) -> dict:
    return Message.objects.get(campaign=campaign, to=phone(n)).overrides


def test_each_recipient_gets_their_own_cart_beside_the_fixed_section(cart):
    report = queue(cart, {"skus": "CART-1|CART-2"}, {"skus": "CART-3"})
    assert (report.queued, report.invalid_count) == (2, 0)
    first = stored(cart, 2)
    assert first["sections"] == [
        {"title": "Your cart", "retailer_ids": ["CART-1", "CART-2"]},
        {"title": "You may also like", "retailer_ids": ["REC-0", "REC-1"]},
    ]
    # The campaign's own thumbnail, unless it asks for each recipient's first product.
    assert first["thumbnail"] == cart.thumbnail_product.retailer_id
    assert stored(cart, 3)["sections"][0]["retailer_ids"] == ["CART-3"]


def test_unknown_and_unavailable_products_are_left_out_with_a_note(cart):
    report = queue(cart, {"skus": "CART-1|NOPE|GONE|OFF|CART-1"})
    assert report.queued == 1
    mine = stored(cart, 2)
    assert mine["sections"][0]["retailer_ids"] == ["CART-1"]  # twice in the cart, shown once
    assert mine["left_out"] == [
        "NOPE (not in the catalog)",
        "GONE (out of stock)",
        "OFF (inactive)",
    ]


def test_a_recipient_left_with_no_product_is_skipped_with_the_reason(settings):
    campaign = make_campaign(sections=())
    Section.objects.create(campaign=campaign, title="Your cart", personalised=True)
    make_product(retailer_id="GONE", availability=Product.Availability.OUT_OF_STOCK)
    campaign = campaign_for_sending(campaign.pk)

    report = queue(campaign, {"skus": "GONE|NOPE"}, {})

    assert (report.queued, report.skipped_count) == (0, 2)
    skipped = dict(Message.objects.filter(campaign=campaign).values_list("to", "detail"))
    assert skipped[phone(2)] == (
        f"{NO_PRODUCTS_REASON}: GONE (out of stock), NOPE (not in the catalog)"
    )
    assert skipped[phone(3)] == f"{NO_PRODUCTS_REASON}: the recipient has no products"
    assert set(Message.objects.filter(campaign=campaign).values_list("state", flat=True)) == {
        "skipped"
    }


def test_an_empty_cart_leaves_out_its_section_and_keeps_the_fixed_one(cart):
    queue(cart, {"skus": "NOPE"})
    assert stored(cart, 2)["sections"] == [
        {"title": "You may also like", "retailer_ids": ["REC-0", "REC-1"]}
    ]


def test_section_columns_give_titles_products_and_new_sections(cart):
    queue(
        cart,
        {
            "section_1_title": "Asha's cart",
            "section_1_skus": "CART-4",
            "section_2_skus": "CART-5",  # the fixed section, replaced for this recipient
            "section_3_title": "Back in stock",
            "section_3_skus": "CART-2|CART-3",
            "thumbnail": "CART-5",
        },
    )
    mine = stored(cart, 2)
    assert mine["sections"] == [
        {"title": "Asha's cart", "retailer_ids": ["CART-4"]},
        {"title": "You may also like", "retailer_ids": ["CART-5"]},
        {"title": "Back in stock", "retailer_ids": ["CART-2", "CART-3"]},
    ]
    assert mine["thumbnail"] == "CART-5"


def test_the_recipients_first_own_product_heads_their_message_when_asked(cart):
    type(cart).objects.filter(pk=cart.pk).update(
        thumbnail_from_recipient=True, thumbnail_product=None
    )
    campaign = campaign_for_sending(cart.pk)
    queue(campaign, {"skus": "GONE|CART-3|CART-1"}, {"skus": "CART-2", "thumbnail": "OFF"}, {})
    assert stored(campaign, 2)["thumbnail"] == "CART-3"
    mine = stored(campaign, 3)
    assert mine["thumbnail"] == "CART-2"
    assert "thumbnail OFF (inactive)" in mine["left_out"]
    # Nothing of their own: the message's first product heads it.
    assert stored(campaign, 4)["thumbnail"] == "REC-0"


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ({"section_1_title": "x" * 25, "skus": "CART-1"}, "sections[1].title", "the limit is 24"),
        (
            {f"section_{n}_title": f"S{n}" for n in range(3, 13)}
            | {f"section_{n}_skus": "CART-1" for n in range(3, 13)},
            "section_11_skus",
            f"at most {limits.MAX_SECTIONS} sections",
        ),
        ({"section_3_skus": "CART-1"}, "section_3_title", "give it a title"),
    ],
)
def test_a_row_that_breaks_a_limit_is_refused_naming_the_field_and_the_limit(
    cart, row, field, words
):
    report = queue(cart, row)
    assert report.refused and report.queued == 0
    (line, _, reason) = report.invalid[0]
    assert line == 2 and f"{field}: " in reason and words in reason
    assert not Message.objects.filter(campaign=cart).exists()


def test_more_than_30_products_in_one_message_is_refused(cart):
    for n in range(6, 40):
        make_product(retailer_id=f"CART-{n}")
    report = queue(cart, {"skus": "|".join(f"CART-{n}" for n in range(1, 30))})
    reason = report.invalid[0][2]
    assert "31 products; the limit is 30" in reason


def test_skus_without_a_personalised_section_is_refused():
    campaign = campaign_for_sending(make_campaign().pk)
    make_product(retailer_id="CART-1")
    report = queue(campaign, {"skus": "CART-1"})
    assert "skus: The campaign has no section filled per recipient" in report.invalid[0][2]


def test_a_csv_gives_each_row_its_products_and_refuses_unknown_section_columns(cart, tmp_path):
    path = write_csv(
        tmp_path / "carts.csv",
        "phone;skus;thumbnail",
        [f"{phone(1)};CART-1|CART-2;CART-2", f"{phone(2)};CART-3;"],
    )
    report = campaign_queue_recipients(cart, CsvRecipients(path))
    assert report.queued == 2
    assert stored(cart, 1)["thumbnail"] == "CART-2"
    bad = write_csv(tmp_path / "bad.csv", "phone,section_1_sku", [f"{phone(1)},CART-1"])
    with pytest.raises(Exception, match="section_1_sku"):
        CsvRecipients(bad)


def test_what_is_sent_is_what_the_payload_builder_makes_for_each_recipient(cart, provider):
    queue(cart, {"skus": "CART-1|CART-2", "body_1": "Asha"}, {"skus": "CART-3|GONE"})
    campaign_send(cart, options=run_options(concurrency=4))

    content = campaign_content(campaign_for_sending(cart.pk))
    sent = {request.to: request.body for request in provider.requests}
    assert len(sent) == 2
    for message in Message.objects.filter(campaign=cart):
        overrides = {**message.overrides, "ref": f"mpm-{message.pk}"}
        assert sent[message.to] == serialize(build_request(content, message.to, overrides))
    action = json.loads(sent[phone(3)])["messaging_object"]["template"]["components"][-1]
    sections = action["parameters"][0]["action"]["sections"]
    assert [item["product_retailer_id"] for item in sections[0]["product_items"]] == ["CART-3"]


def test_the_dry_run_and_the_preview_show_each_recipients_own_products(cart):
    rows = [RecipientInput(phone(1), {"skus": "CART-4|NOPE"}, 2)]
    dry = campaign_dry_run(cart, rows)
    body = json.loads(dry.bodies[0])
    action = body["messaging_object"]["template"]["components"][-1]["parameters"][0]["action"]
    assert action["sections"][0]["product_items"] == [{"product_retailer_id": "CART-4"}]

    state = state_from_campaign(cart)
    assert message_preview(state, {}).sections[0][2] is True  # shown as filled per recipient
    mine = recipient_state(state, stored_overrides(cart, {"skus": "CART-4"}))
    catalog = {p.retailer_id: p for p in Product.objects.all()}
    preview = message_preview(mine, catalog)
    assert [(title, [i.retailer_id for i in items]) for title, items, _ in preview.sections] == [
        ("Your cart", ["CART-4"]),
        ("You may also like", ["REC-0", "REC-1"]),
    ]


def stored_overrides(campaign, own: dict) -> dict:
    from campaigns.recipients.eligibility import RowProblems, check_recipient
    from campaigns.recipients.products import CatalogLookup

    checked = check_recipient(
        campaign.template,
        campaign_content(campaign),
        RecipientInput(phone(9), own, 2),
        RowProblems(),
        CatalogLookup(),
    )
    return checked.overrides


SKUS = st.lists(
    st.sampled_from(["CART-1", "CART-2", "CART-3", "GONE", "OFF", "NOPE", "", " CART-4 "]),
    max_size=40,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    carts=st.lists(SKUS, min_size=1, max_size=6),
    titles=st.lists(st.text(max_size=30), max_size=6),
)
def test_any_carts_are_queued_or_refused_and_every_queued_message_holds_every_limit(
    cart, carts, titles
):
    Message.objects.filter(campaign=cart).delete()
    rows = [
        {"skus": "|".join(skus), **({"section_1_title": titles[n]} if n < len(titles) else {})}
        for n, skus in enumerate(carts)
    ]
    report = queue(cart, *rows, valid_only=True)
    sendable = {"CART-1", "CART-2", "CART-3", "CART-4", "REC-0", "REC-1"}
    thumbnails = sendable | {cart.thumbnail_product.retailer_id}
    for message in Message.objects.filter(campaign=cart):
        sections = message.overrides["sections"]
        ids = [rid for s in sections for rid in s["retailer_ids"]]
        assert set(ids) <= sendable and ids
        assert len(sections) <= limits.MAX_SECTIONS and len(ids) <= limits.MAX_PRODUCTS
        assert all(len(s["title"].strip()) > 0 and len(s["title"]) <= 24 for s in sections)
        assert message.overrides["thumbnail"] in thumbnails
    assert report.queued + report.skipped_count + report.invalid_count == len(rows)


@pytest.mark.timeout(300)
def test_a_10000_row_csv_of_carts_sends_each_customer_exactly_their_own_items(
    cart, provider, tmp_path
):
    provider.answer()
    for n in range(6, 51):
        make_product(retailer_id=f"CART-{n}")
    rows = {
        f"+9198{n:08d}": [f"CART-{1 + (n * k) % 50}" for k in (1, 7, 13)] for n in range(10_000)
    }
    path = write_csv(
        tmp_path / "carts.csv", "phone,skus", (f"{p},{'|'.join(s)}" for p, s in rows.items())
    )
    report = campaign_queue_recipients(cart, CsvRecipients(path))
    assert (report.queued, report.invalid_count) == (10_000, 0)

    summary = campaign_send(cart, options=run_options(concurrency=64))

    assert summary.accepted == 10_000
    sent = {}
    for request in provider.requests:
        action = request.json()["messaging_object"]["template"]["components"][-1]
        sections = action["parameters"][0]["action"]["sections"]
        sent[request.to] = [i["product_retailer_id"] for i in sections[0]["product_items"]]
    assert sent == {p: list(dict.fromkeys(s)) for p, s in rows.items()}


def test_a_test_send_of_a_personalised_campaign_carries_the_skus_it_is_given(cart, provider):
    from campaigns.services import CampaignNotSendable, campaign_send_test

    provider.answer()
    result = campaign_send_test(cart, to=phone(1), skus="CART-2|NOPE")
    assert result.accepted
    sent = provider.requests[0].json()["messaging_object"]["template"]["components"][-1]
    sections = sent["parameters"][0]["action"]["sections"]
    assert [i["product_retailer_id"] for i in sections[0]["product_items"]] == ["CART-2"]

    only_own = make_campaign(sections=())
    Section.objects.create(campaign=only_own, title="Your cart", personalised=True)
    with pytest.raises(CampaignNotSendable) as refused:
        campaign_send_test(campaign_for_sending(only_own.pk), to=phone(1))
    (problem,) = refused.value.problems
    assert problem.field == "skus" and "Give the test recipient's products" in problem.message
    assert len(provider.requests) == 1
