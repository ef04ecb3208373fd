"""The marketer's composer at /campaigns/: pages, permissions, live check and preview, drafts,
product search, test sends, the confirmed send, results and their export, and query counts."""

import csv
import io
import json
import re
from datetime import UTC
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns import limits, services
from campaigns.models import Campaign, Message, OptOut, Product
from campaigns.selectors import campaign_for_sending
from campaigns.services.composer import estimated_duration
from tests.support.composer import composer_data
from tests.support.factories import add_section_with, make_campaign, make_product, make_template

pytestmark = pytest.mark.django_db

ASHA = "+919876543210"
RAVI = "+919876543211"
MEERA = "+919876543212"
US_NUMBER = "+12015550123"
SANDBOX_BANNER = "Sandbox mode: messages go to the built-in Kaleyra sandbox"
ALL = ("view_campaign", "add_campaign", "change_campaign", "send_campaign")


def user_with(*codenames, username="marketer") -> User:
    """A marketer (not staff) with exactly these campaign permissions."""
    user = User.objects.create_user(username, password="x")
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def marketer(client) -> Client:
    client.force_login(user_with(*ALL))
    return client


def url(name, *args) -> str:
    return reverse(f"campaigns:{name}", args=args)


def sections_json(*sections) -> str:
    return json.dumps([{"title": title, "products": ids} for title, ids in sections])


def check(client, data) -> dict:
    response = client.post(url("check"), data)
    assert response.status_code == 200
    return response.json()


def messages_text(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


# --- every page -----------------------------------------------------------------------------------


@pytest.fixture
def sent_campaign(db):
    """A campaign sent to two numbers: one accepted, one failed."""
    campaign = make_campaign(name="Diwali sale")
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.COMPLETED)
    Message.objects.create(
        campaign=campaign,
        to=ASHA,
        state=Message.State.ACCEPTED,
        message_id="MID-1",
        last_code="WA202",
    )
    Message.objects.create(
        campaign=campaign,
        to=RAVI,
        state=Message.State.FAILED,
        last_code="WA401",
        detail="Phone number is not present or does not belong to the account.",
    )
    return campaign


def page_urls(draft, sent) -> list[str]:
    return [
        url("list"),
        url("create"),
        url("detail", draft.pk),
        url("detail", sent.pk),
        url("edit", draft.pk),
        url("send", draft.pk),
        url("progress", sent.pk),
        url("product_search") + "?q=sku",
        url("results_csv", sent.pk),
    ]


def test_every_page_renders_for_a_marketer_with_the_permissions(marketer, sent_campaign):
    draft = make_campaign()
    for page in page_urls(draft, sent_campaign):
        response = marketer.get(page)
        assert response.status_code == 200, page


def test_every_page_sends_an_anonymous_user_to_the_login(client, sent_campaign):
    draft = make_campaign()
    for page in [*page_urls(draft, sent_campaign), url("check")]:
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"].startswith(reverse("login") + "?next="), page


def test_the_root_goes_to_the_campaigns_and_the_login_page_is_bootstrap(client, marketer):
    assert marketer.get("/")["Location"] == url("list")
    client.logout()
    page = client.get(reverse("login")).content.decode()
    assert "vendor/bootstrap/css/bootstrap.min.css" in page
    assert 'for="id_username"' in page
    assert "cdn" not in page.lower()


def test_a_marketer_signs_in_and_lands_on_the_campaigns(client):
    user_with(*ALL)
    response = client.post(reverse("login"), {"username": "marketer", "password": "x"})
    assert response["Location"] == url("list")


def test_the_sandbox_banner_shows_in_sandbox_mode_only(marketer, settings):
    settings.KALEYRA_MODE = "sandbox"
    assert SANDBOX_BANNER in marketer.get(url("list")).content.decode()
    settings.KALEYRA_MODE = "live"
    assert SANDBOX_BANNER not in marketer.get(url("list")).content.decode()


def test_pages_have_a_skip_link_and_labelled_fields(marketer):
    make_template()
    page = marketer.get(url("create")).content.decode()
    assert 'href="#main"' in page and 'id="main"' in page
    for field in (
        "id_name",
        "id_template",
        "id_header_value",
        "thumbnail-search",
        "id_ref",
        "test_to",
    ):
        assert f'for="{field}"' in page, field
    assert 'aria-live="polite"' in page


# --- permissions ----------------------------------------------------------------------------------


def test_without_the_view_permission_every_page_is_403(client, sent_campaign):
    client.force_login(user_with())
    draft = make_campaign()
    for page in page_urls(draft, sent_campaign):
        assert client.get(page).status_code == 403, page
    page = client.get(url("list")).content.decode()
    assert "You do not have permission" in page


def test_viewing_does_not_allow_editing_cloning_or_sending(client, provider, sent_campaign):
    client.force_login(user_with("view_campaign"))
    draft = make_campaign()
    assert client.get(url("detail", draft.pk)).status_code == 200
    assert client.get(url("create")).status_code == 403
    assert client.get(url("edit", draft.pk)).status_code == 403
    assert client.post(url("edit", draft.pk), composer_data(draft)).status_code == 403
    assert client.post(url("check"), composer_data(draft)).status_code == 403
    assert client.get(url("product_search")).status_code == 403
    assert client.post(url("clone", draft.pk)).status_code == 403
    assert client.get(url("send", draft.pk)).status_code == 403
    assert (
        client.post(url("send", draft.pk), {"numbers": ASHA, "confirm": "yes"}).status_code == 403
    )
    assert client.post(url("control", sent_campaign.pk, "cancel")).status_code == 403
    assert Campaign.objects.count() == 2
    assert len(provider.requests) == 0


def test_editing_without_the_send_permission_cannot_test_or_send(client, provider):
    client.force_login(user_with("view_campaign", "add_campaign", "change_campaign"))
    campaign = make_campaign()
    page = client.get(url("edit", campaign.pk)).content.decode()
    assert "Send a test" not in page
    data = composer_data(campaign, action="test", to=ASHA)
    assert client.post(url("edit", campaign.pk), data).status_code == 403
    data = composer_data(campaign, action="send")
    assert client.post(url("edit", campaign.pk), data).status_code == 403
    saved = client.post(url("edit", campaign.pk), composer_data(campaign, name="Renamed"))
    assert saved.status_code == 302
    assert Campaign.objects.get(pk=campaign.pk).name == "Renamed"
    assert len(provider.requests) == 0


def test_every_write_is_a_post(marketer, sent_campaign):
    draft = make_campaign()
    assert marketer.get(url("clone", draft.pk)).status_code == 405
    assert marketer.get(url("control", sent_campaign.pk, "cancel")).status_code == 405
    assert marketer.get(url("check")).status_code == 405
    assert Campaign.objects.get(pk=sent_campaign.pk).state == Campaign.State.COMPLETED


def test_writes_need_the_csrf_token(provider):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_with(*ALL))
    campaign = make_campaign()
    assert client.post(url("clone", campaign.pk)).status_code == 403
    assert (
        client.post(url("send", campaign.pk), {"numbers": ASHA, "confirm": "yes"}).status_code
        == 403
    )
    assert client.post(url("edit", campaign.pk), composer_data(campaign)).status_code == 403
    assert Campaign.objects.count() == 1
    assert len(provider.requests) == 0


def test_an_unknown_campaign_is_a_404(marketer):
    for name in ("detail", "edit", "send", "progress", "results_csv"):
        assert marketer.get(url(name, 999999)).status_code == 404, name


# --- composing and drafts -------------------------------------------------------------------------


def test_a_new_draft_is_saved_with_its_sections_in_order(marketer):
    template = make_template(body_text="Hi {{1}}, {{2}} is back.")
    shoes, socks, cap = make_product(name="Shoes"), make_product(name="Socks"), make_product()
    data = composer_data(
        template=str(template.pk),
        header_value="cart",
        body_1="Asha",
        body_2="  two spaces kept",
        thumbnail=shoes.retailer_id,
        sections=sections_json(
            ("Run season", [socks.retailer_id, shoes.retailer_id]), ("Caps", [cap.retailer_id])
        ),
        ref1="diwali",
        action="save",
    )
    response = marketer.post(url("create"), data)
    campaign = Campaign.objects.get()
    assert response["Location"] == url("edit", campaign.pk)
    campaign = campaign_for_sending(campaign.pk)
    assert campaign.body_values == ["Asha", "  two spaces kept"]
    assert campaign.thumbnail_product == shoes
    assert campaign.state == Campaign.State.DRAFT
    assert campaign.created_by.username == "marketer"
    assert [(s.title, [i.product for i in s.items.all()]) for s in campaign.sections.all()] == [
        ("Run season", [socks, shoes]),
        ("Caps", [cap]),
    ]
    assert services.campaign_check(campaign) == []


def test_saving_replaces_the_sections_and_items(marketer):
    campaign = make_campaign(sections=(("Old", 2), ("Older", 1)))
    product = make_product()
    data = composer_data(campaign, sections=sections_json(("New", [product.retailer_id])))
    marketer.post(url("edit", campaign.pk), data)
    campaign = campaign_for_sending(campaign.pk)
    assert [(s.title, [i.product for i in s.items.all()]) for s in campaign.sections.all()] == [
        ("New", [product])
    ]


def test_a_draft_keeps_a_25_character_title_and_names_the_limit_of_24(marketer):
    campaign = make_campaign()
    title = "A" * 25
    product = make_product()
    data = composer_data(campaign, sections=sections_json((title, [product.retailer_id])))
    response = marketer.post(url("edit", campaign.pk), data, follow=True)
    assert "saved" in messages_text(response)
    assert campaign_for_sending(campaign.pk).sections.get().title == title
    page = response.content.decode()
    assert f"Section 1 title “{title}” is 25 characters; the limit is 24." in page
    assert title in page  # the title is kept in the composer's state
    # The summary counts it, and sending stays off until it is fixed.
    assert "1 thing keeps this campaign from being sent:" in page
    assert re.search(r'value="send" class="btn btn-primary" data-needs-valid disabled', page)


def test_bad_input_shows_the_field_and_limit_and_loses_nothing(marketer):
    template = make_template()
    product = make_product()
    data = composer_data(
        name="Keep me",
        template=str(template.pk),
        header_value="h" * 61,
        body_1="Asha",
        sections=sections_json(("Typed title", [product.retailer_id])),
        ref="r" * 1001,
    )
    response = marketer.post(url("create"), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was saved" in page
    assert "The header value is 61 characters; the limit is 60." in page
    assert "ref is 1001 characters; the limit is 1000." in page
    assert 'value="Keep me"' in page
    assert "h" * 61 in page and "r" * 1001 in page
    assert "Typed title" in page and product.retailer_id in page
    assert not Campaign.objects.exists()


def test_a_title_too_long_even_for_a_draft_is_refused_and_kept(marketer):
    campaign = make_campaign()
    product = make_product()
    title = "T" * 101
    data = composer_data(campaign, sections=sections_json((title, [product.retailer_id])))
    response = marketer.post(url("edit", campaign.pk), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Section 1 title is 101 characters; even a draft keeps at most 100" in page
    assert title in page and product.retailer_id in page
    assert campaign_for_sending(campaign.pk).sections.get().title == "Premium Packages"


def test_a_draft_without_a_template_is_refused_in_plain_words(marketer):
    response = marketer.post(url("create"), composer_data(name="No template yet"))
    assert response.status_code == 400
    assert "Choose a template: the message is built on it." in response.content.decode()
    assert not Campaign.objects.exists()


def test_products_missing_from_the_catalog_are_left_out_and_named(marketer):
    campaign = make_campaign()
    kept = make_product()
    data = composer_data(campaign, sections=sections_json(("Mixed", [kept.retailer_id, "GONE-1"])))
    response = marketer.post(url("edit", campaign.pk), data, follow=True)
    assert "Product GONE-1 is not in the catalog; it was left out." in messages_text(response)
    items = campaign_for_sending(campaign.pk).sections.get().items.all()
    assert [i.product for i in items] == [kept]


def test_a_sent_campaign_is_not_edited_but_can_be_cloned(marketer, sent_campaign):
    response = marketer.get(url("edit", sent_campaign.pk))
    assert response["Location"] == url("detail", sent_campaign.pk)
    response = marketer.post(url("edit", sent_campaign.pk), composer_data(sent_campaign, name="X"))
    assert response.status_code == 302
    assert Campaign.objects.get(pk=sent_campaign.pk).name == "Diwali sale"


def test_clone_copies_the_content_as_a_new_draft(marketer, sent_campaign):
    response = marketer.post(url("clone", sent_campaign.pk))
    clone = Campaign.objects.exclude(pk=sent_campaign.pk).get()
    assert response["Location"] == url("edit", clone.pk)
    assert clone.name == "Copy of Diwali sale"
    assert clone.state == Campaign.State.DRAFT
    assert not clone.messages.exists()
    original, copy = campaign_for_sending(sent_campaign.pk), campaign_for_sending(clone.pk)
    assert services.campaign_preview(copy) == services.campaign_preview(original)
    assert copy.sections.get().pk != original.sections.get().pk


# --- the live check and preview -------------------------------------------------------------------


def test_check_of_saved_content_gives_exactly_the_preview_the_service_gives(marketer):
    template = make_template(body_text="Hi {{1}}, {{2}} is back.")
    campaign = make_campaign(template=template, sections=(("Premium", 2), ("More", 1)), ref1="x")
    result = check(marketer, composer_data(campaign))
    assert result["problems"] == [] and result["errors"] == 0
    assert result["json"] == services.campaign_preview(campaign_for_sending(campaign.pk))


def test_check_reports_each_problem_by_field_as_it_is_typed(marketer):
    campaign = make_campaign()
    product = make_product()
    data = composer_data(
        campaign, header_value="", sections=sections_json(("A" * 25, [product.retailer_id]))
    )
    result = check(marketer, data)
    by_field = {p["field"]: p["message"] for p in result["problems"]}
    assert "the limit is 24" in by_field["sections[1].title"]
    assert "give it a value" in by_field["header_value"]
    assert result["errors"] == 2
    data["sections"] = sections_json(("A" * 24, [product.retailer_id]))
    data["header_value"] = "cart"
    assert check(marketer, data)["problems"] == []


def test_check_counts_products_and_sections_against_the_limits(marketer):
    campaign = make_campaign()
    products = [make_product().retailer_id for _ in range(limits.MAX_PRODUCTS + 1)]
    many = [(f"S{n}", [products[n]]) for n in range(limits.MAX_SECTIONS + 1)]
    many[0] = ("S0", products[limits.MAX_SECTIONS :])
    result = check(marketer, composer_data(campaign, sections=sections_json(*many)))
    messages = [p["message"] for p in result["problems"] if p["field"] == "sections"]
    assert "There are 11 sections; the limit is 10." in messages
    assert "The sections hold 31 products; the limit is 30 across all sections." in messages


def test_check_previews_the_message_with_its_values_filled(marketer):
    campaign = make_campaign(header_value="basket", body_values=["Asha"])
    result = check(marketer, composer_data(campaign))
    preview = result["preview"]
    assert "Your basket is waiting" in preview
    assert "Hi Asha, the items in your cart are almost gone." in preview
    assert "Reply STOP to opt out" in preview
    assert campaign.thumbnail_product.image_url in preview
    assert "View items" in preview
    assert "Premium Packages" in preview and "₹499.00" in preview


def test_check_of_unsaved_content_names_unknown_and_unavailable_products(marketer):
    template = make_template()
    gone = make_product(availability=Product.Availability.OUT_OF_STOCK)
    data = composer_data(
        template=str(template.pk),
        header_value="cart",
        body_1="Asha",
        thumbnail="NOPE",
        sections=sections_json(("Picks", ["MISSING", gone.retailer_id])),
    )
    messages = [p["message"] for p in check(marketer, data)["problems"]]
    assert "Thumbnail product NOPE is not in the catalog; choose another." in messages
    assert "Product MISSING is not in the catalog." in messages
    assert f"Product {gone.retailer_id} in section 1 is out of stock." in messages


def test_check_without_a_template_asks_for_one(marketer):
    result = check(marketer, composer_data())
    assert result["json"] == ""
    assert "Choose a template" in result["preview"]
    assert any(p["field"] == "template" for p in result["problems"])


# --- product search -------------------------------------------------------------------------------


def test_product_search_by_sku_prefix_and_name(marketer):
    make_product(retailer_id="SHOE-RUN-01", name="Trail runner", price=Decimal("3499"))
    make_product(retailer_id="SHOE-CAS-02", name="Canvas sneakers")
    make_product(retailer_id="BAG-01", name="Shoe bag")
    make_product(retailer_id="SHOE-OLD", name="Old shoe", active=False)

    def search(q):
        return marketer.get(url("product_search"), {"q": q}).json()["results"]

    assert [r["retailer_id"] for r in search("shoe-")] == ["SHOE-CAS-02", "SHOE-RUN-01"]
    assert [r["retailer_id"] for r in search("shoe")] == ["SHOE-CAS-02", "SHOE-RUN-01", "BAG-01"]
    assert [r["retailer_id"] for r in search("RUNNER")] == ["SHOE-RUN-01"]
    first = search("SHOE-RUN")[0]
    assert first == {
        "retailer_id": "SHOE-RUN-01",
        "name": "Trail runner",
        "price": "3499.00",
        "currency": "INR",
        "price_display": "₹3,499.00",
        "image_url": first["image_url"],
        "availability": "in stock",
        "availability_label": "In stock",
        "sendable": True,
        "brand": "",
        "item_group_id": "",
    }
    assert search("nothing like this") == []


def test_product_search_returns_at_most_a_messages_worth_in_four_queries(
    marketer, django_assert_max_num_queries
):
    Product.objects.bulk_create(
        Product(retailer_id=f"SKU-{n:04d}", name=f"Item {n}", price=Decimal("10"))
        for n in range(300)
    )
    # Session, user, permissions (2); then SKU prefix, item group, brand, name.
    with django_assert_max_num_queries(8):
        results = marketer.get(url("product_search"), {"q": "item"}).json()["results"]
    assert len(results) == limits.MAX_PRODUCTS


# --- test sends -----------------------------------------------------------------------------------


def test_a_test_send_saves_the_draft_sends_and_says_so_inline(marketer, provider):
    provider.answer()
    campaign = make_campaign()
    data = composer_data(campaign, name="Renamed", action="test", to=ASHA)
    response = marketer.post(url("edit", campaign.pk), data, HTTP_ACCEPT="application/json")
    result = response.json()
    assert result["accepted"] is True
    assert "Test sent to +919876543210: Kaleyra accepted it" in result["html"]
    assert len(provider.requests) == 1
    assert Campaign.objects.get(pk=campaign.pk).name == "Renamed"
    message = Message.objects.get()
    assert message.is_test and message.state == Message.State.ACCEPTED
    # The number is remembered for this user.
    assert f'value="{ASHA}"' in marketer.get(url("edit", campaign.pk)).content.decode()


def test_a_test_send_of_a_new_campaign_returns_its_new_address(marketer, provider):
    provider.answer()
    campaign = make_campaign()
    data = composer_data(campaign, action="test", to=ASHA)
    result = marketer.post(url("create"), data, HTTP_ACCEPT="application/json").json()
    new = Campaign.objects.exclude(pk=campaign.pk).get()
    assert result["saved_url"] == url("edit", new.pk)


def test_a_failed_test_explains_the_code(marketer, provider):
    provider.answer(
        status=400,
        json={"code": "E110", "message": "Please check your balance", "data": {}, "error": {}},
    )
    campaign = make_campaign()
    data = composer_data(campaign, action="test", to=ASHA)
    result = marketer.post(url("edit", campaign.pk), data, HTTP_ACCEPT="application/json").json()
    assert result["accepted"] is False
    assert "(E110)" in result["html"] and "Top up the balance" in result["html"]


def test_a_test_to_an_opted_out_number_is_not_sent_and_says_why(marketer, provider):
    OptOut.objects.create(phone=ASHA, reason=OptOut.Reason.STOP_KEYWORD, keyword="STOP")
    campaign = make_campaign()
    data = composer_data(campaign, action="test", to=ASHA)
    result = marketer.post(url("edit", campaign.pk), data, HTTP_ACCEPT="application/json").json()
    assert result["accepted"] is False
    assert "Not sent: this number opted out on " in result["html"]
    assert "Replied with a stop word" in result["html"]
    assert len(provider.requests) == 0 and not Message.objects.exists()


def test_a_test_of_a_broken_draft_sends_nothing_and_lists_why(marketer, provider):
    campaign = make_campaign()
    data = composer_data(campaign, action="test", to=ASHA, thumbnail="")
    result = marketer.post(url("edit", campaign.pk), data, HTTP_ACCEPT="application/json").json()
    assert "Nothing was sent" in result["html"]
    assert "Choose a thumbnail product" in result["html"]
    assert len(provider.requests) == 0


def test_a_test_to_a_bad_number_names_the_number_field(marketer, provider):
    campaign = make_campaign()
    data = composer_data(campaign, action="test", to="98765")
    response = marketer.post(url("edit", campaign.pk), data, HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    problems = response.json()["problems"]
    assert problems[0]["field"] == "to" and "has no country code" in problems[0]["message"]
    assert len(provider.requests) == 0


def test_without_javascript_a_test_send_redirects_with_the_outcome(marketer, provider):
    provider.answer()
    campaign = make_campaign()
    data = composer_data(campaign, action="test", to=ASHA)
    response = marketer.post(url("edit", campaign.pk), data, follow=True)
    assert "Test sent to +919876543210" in messages_text(response)


def test_a_test_send_without_a_sender_setting_explains_instead_of_failing(
    marketer, provider, settings
):
    settings.KALEYRA_SENDER = ""
    campaign = make_campaign()
    data = composer_data(campaign, action="test", to=ASHA)
    response = marketer.post(url("edit", campaign.pk), data, HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response.json()["accepted"] is False
    assert "KALEYRA_SENDER" in response.content.decode()
    assert len(provider.requests) == 0 and not Message.objects.exists()


# --- sending ----------------------------------------------------------------------------------------


def test_pasted_numbers_are_confirmed_then_queued_and_sent(
    marketer, provider, django_capture_on_commit_callbacks, settings
):
    settings.KALEYRA_RATE_PER_SECOND = 2
    provider.answer()
    campaign = make_campaign()
    typed = f"{ASHA}, {RAVI}\n{ASHA}\n{US_NUMBER}\n{MEERA}"
    confirm = marketer.post(url("send", campaign.pk), {"numbers": typed})
    page = confirm.content.decode()
    plan = confirm.context["plan"]
    assert (plan.valid_count, plan.duplicate_count, plan.skipped_count, plan.to_send) == (
        4,
        1,
        1,
        3,
    )
    assert "1 duplicate removed" in " ".join(page.split()).replace("</strong>", "")
    assert US_NUMBER in page
    assert "takes about 2 seconds at 2 messages a second" in page
    assert 'name="confirm"' in page
    assert not Message.objects.exists() and len(provider.requests) == 0

    # The send itself unpaced: the limiter reserves slots on a connection of its own, which on
    # SQLite cannot write while this test's transaction holds the lock (pacing: tests/sending/).
    settings.KALEYRA_RATE_PER_SECOND = 0
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = marketer.post(
            url("send", campaign.pk), {"numbers": typed, "confirm": "yes"}, follow=True
        )
    assert len(callbacks) == 1  # the background send, enqueued once the queue committed
    assert response.redirect_chain[-1][0] == url("detail", campaign.pk)
    assert "to 3 recipient(s) in the background" in messages_text(response)
    assert "1 duplicate number(s) were removed." in messages_text(response)
    assert len(provider.requests) == 3
    assert dict(Message.objects.values_list("to", "state")) == {
        ASHA: Message.State.ACCEPTED,
        RAVI: Message.State.ACCEPTED,
        MEERA: Message.State.ACCEPTED,
        US_NUMBER: Message.State.SKIPPED,
    }
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.COMPLETED


def test_invalid_numbers_are_listed_by_line_next_to_send_to_the_valid_ones(
    marketer, provider, django_capture_on_commit_callbacks
):
    provider.answer()
    campaign = make_campaign()
    typed = f"{ASHA}\nnot a number\n{RAVI}"
    response = marketer.post(url("send", campaign.pk), {"numbers": typed})
    page = response.content.decode()
    assert "<td>2</td>" in page and "not a number" in page and "has no country code" in page
    assert "1 invalid line: not sent" in page
    assert "Send to the 2 valid recipients" in page and 'name="valid_only"' in page
    download = marketer.post(url("send", campaign.pk), {"numbers": typed, "download_invalid": "1"})
    assert b"".join(download.streaming_content).decode().splitlines()[:2] == [
        "line,value,reason",
        "2,not a number,"
        + next(reason for line, _, reason in response.context["plan"].invalid if line == 2),
    ]
    response = marketer.post(url("send", campaign.pk), {"numbers": typed, "confirm": "yes"})
    assert response.status_code == 400  # without the choice, all or nothing
    assert not Message.objects.exists() and len(provider.requests) == 0

    with django_capture_on_commit_callbacks(execute=True):
        response = marketer.post(
            url("send", campaign.pk),
            {"numbers": typed, "confirm": "yes", "valid_only": "yes"},
            follow=True,
        )
    assert "to 2 recipient(s) in the background" in messages_text(response)
    assert "1 invalid line(s) were left out." in messages_text(response)
    assert sorted(Message.objects.values_list("to", "state")) == [
        (ASHA, Message.State.ACCEPTED),
        (RAVI, Message.State.ACCEPTED),
    ]


def test_a_broken_campaign_cannot_reach_the_confirmation(marketer, provider):
    campaign = make_campaign(thumbnail_product=None)
    response = marketer.post(url("send", campaign.pk), {"numbers": ASHA, "confirm": "yes"})
    assert "Choose a thumbnail product" in response.content.decode()
    assert not Message.objects.exists()


def test_pause_resume_and_cancel(marketer, provider, django_capture_on_commit_callbacks):
    provider.answer()
    campaign = make_campaign()
    Message.objects.create(campaign=campaign, to=ASHA)
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.SENDING)
    response = marketer.post(url("control", campaign.pk, "pause"), follow=True)
    assert "Paused" in messages_text(response)
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.PAUSED
    assert "Resume" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        marketer.post(url("control", campaign.pk, "resume"))
    assert Message.objects.get().state == Message.State.ACCEPTED
    marketer.post(url("control", campaign.pk, "cancel"))
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.CANCELLED
    assert marketer.post(url("control", campaign.pk, "explode")).status_code == 404


def test_a_paused_campaign_shows_paused_not_sending(marketer):
    """Paused, a claimed message is one in flight when it stopped, and the queued ones wait."""
    campaign = make_campaign()
    Message.objects.bulk_create(
        [Message(campaign=campaign, to=ASHA), Message(campaign=campaign, to=RAVI, state="sending")]
    )
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.SENDING)
    panel = progress_panel(marketer.get(url("detail", campaign.pk)).content.decode())
    assert '<th scope="col" data-label="sending">Sending</th>' in panel
    assert '<strong data-field="state">Sending</strong>' in panel

    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.PAUSED)
    panel = progress_panel(marketer.get(url("detail", campaign.pk)).content.decode())
    assert '<strong data-field="state">Paused</strong>' in panel
    assert '<th scope="col" data-label="sending">In flight when it stopped</th>' in panel
    assert '<th scope="col" data-label="queued">Waiting for Resume</th>' in panel
    assert ">Sending<" not in panel
    progress = marketer.get(url("progress", campaign.pk)).json()
    assert (progress["state_label"], progress["labels"]["queued"]) == (
        "Paused",
        "Waiting for Resume",
    )


def progress_panel(page: str) -> str:
    start = page.index('id="mpm-progress"')
    return page[start : page.index("</section>", start)]


def test_cancel_asks_first_saying_what_it_skips_and_the_controls_lead_the_page(marketer):
    campaign = make_campaign()
    Message.objects.bulk_create(
        [Message(campaign=campaign, to=ASHA), Message(campaign=campaign, to=RAVI)]
    )
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.SENDING)
    page = marketer.get(url("detail", campaign.pk)).content.decode()
    confirm = page[page.index('<details class="confirm-cancel">') :]
    assert "<summary" in confirm and "Cancel the rest…" in confirm
    assert "the 2 messages not sent yet are skipped and never sent" in confirm
    assert confirm.index("Yes, cancel the rest") < confirm.index("</details>")
    assert page.index('id="mpm-progress"') < page.index('id="dashboard"')


def test_a_wa500_retry_shows_its_time_and_can_be_given_up(marketer, provider, settings):
    """One WA500 would keep the campaign sending for half an hour: the page says until when,
    and the marketer can give up that retry so the campaign completes now."""
    from campaigns.services import campaign_send, run_options

    settings.KALEYRA_WA500_RETRY_DELAYS = [1800]
    provider.answer_error("WA500")
    campaign = make_campaign()
    Message.objects.create(campaign=campaign, to=ASHA)
    campaign_send(campaign, options=run_options(wait_for_retries=False))
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.SENDING

    page = marketer.get(url("detail", campaign.pk)).content.decode()
    message = Message.objects.get()
    assert "1 message waits for a retry; the next at" in page
    assert f'<time datetime="{message.next_attempt_at.isoformat()}' in page
    assert "Give up retries now" in page
    assert marketer.get(url("progress", campaign.pk)).json()["retrying"] == 1

    response = marketer.post(url("control", campaign.pk, "give-up"), follow=True)
    assert "Gave up 1 retry(ies)" in messages_text(response)
    message.refresh_from_db()
    assert message.state == Message.State.FAILED and "given up by an operator" in message.detail
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.COMPLETED
    assert "Give up retries now" not in response.content.decode()


# --- progress and results -------------------------------------------------------------------------


def test_progress_is_json_from_the_selector(marketer, sent_campaign):
    progress = marketer.get(url("progress", sent_campaign.pk)).json()
    assert progress["counts"]["accepted"] == 1 and progress["counts"]["failed"] == 1
    assert (progress["total"], progress["percent"]) == (2, 100)


def test_results_filter_by_state_and_code(marketer, sent_campaign):
    page = marketer.get(url("detail", sent_campaign.pk), {"state": "failed"})
    assert [m.to for m in page.context["rows"]] == [RAVI]
    assert "Phone number is not present" in page.content.decode()
    page = marketer.get(url("detail", sent_campaign.pk), {"code": "WA202"})
    assert [m.to for m in page.context["rows"]] == [ASHA]
    partial = marketer.get(
        url("detail", sent_campaign.pk),
        {"state": "accepted"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="results",
    )
    assert partial.content.decode().lstrip().startswith('<div id="results">')


def test_results_are_paginated_without_counting(marketer, django_assert_max_num_queries):
    campaign = make_campaign()
    Message.objects.bulk_create(
        Message(campaign=campaign, to=f"+9198{n:08d}", state=Message.State.ACCEPTED)
        for n in range(120)
    )
    page = marketer.get(url("detail", campaign.pk))
    assert page.context["has_next"] and not page.context["has_previous"]
    ids = list(Message.objects.filter(campaign=campaign).values_list("pk", flat=True))
    second = marketer.get(url("detail", campaign.pk), {"after": ids[49], "row": 51})
    assert [m.pk for m in second.context["rows"]] == ids[50:100]
    # Keyset pages: each a range of the index, however deep (no OFFSET).
    with django_assert_max_num_queries(40) as queries:
        last = marketer.get(url("detail", campaign.pk), {"after": ids[99], "row": 101})
    assert not any("OFFSET" in q["sql"] for q in queries.captured_queries)
    assert [m.pk for m in last.context["rows"]] == ids[100:]
    assert not last.context["has_next"] and last.context["has_previous"]
    assert "Rows 101\N{EN DASH}120 of 120" in last.content.decode()
    back = marketer.get(url("detail", campaign.pk), {"before": ids[100], "row": 51})
    assert [m.pk for m in back.context["rows"]] == ids[50:100]
    assert back.context["has_previous"] and back.context["has_next"]
    assert f"after={ids[99]}&amp;row=101" in back.content.decode()
    garbage = marketer.get(url("detail", campaign.pk), {"after": "x\x00", "row": "-5"})
    assert garbage.status_code == 200 and garbage.context["first_row"] == 1


def test_results_export_streams_every_row_as_csv(marketer, sent_campaign):
    response = marketer.get(url("results_csv", sent_campaign.pk))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["phone", "state", "code", "message_id", "reason", "attempts", "updated_at"]
    assert [row[:4] for row in rows[1:]] == [
        [ASHA, "accepted", "WA202", "MID-1"],
        [RAVI, "failed", "WA401", ""],
    ]
    assert rows[2][4].startswith("Phone number is not present")
    # The time in UTC, to the second, as the database writes it (on SQLite and PostgreSQL).
    for row, message in zip(rows[1:], Message.objects.order_by("pk"), strict=True):
        assert row[5] == str(message.attempts)
        assert row[6] == message.updated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    filtered = marketer.get(url("results_csv", sent_campaign.pk), {"state": "failed"})
    assert len(list(csv.reader(io.StringIO(b"".join(filtered.streaming_content).decode())))) == 2
    # With DEBUG on, Django formats each query with its parameters for the log: the time's
    # format must survive that too (SQLite's strftime is all % signs).
    with CaptureQueriesContext(connection):
        debugged = marketer.get(url("results_csv", sent_campaign.pk))
        text = b"".join(debugged.streaming_content).decode()
        assert list(csv.reader(io.StringIO(text))) == rows


def test_results_export_never_starts_a_spreadsheet_formula(marketer):
    campaign = make_campaign()
    Message.objects.create(campaign=campaign, to=ASHA, detail="=HYPERLINK(1)")
    response = marketer.get(url("results_csv", campaign.pk))
    assert "'=HYPERLINK(1)" in b"".join(response.streaming_content).decode()


# --- the list -------------------------------------------------------------------------------------


def test_the_list_searches_by_name_and_filters_by_state(marketer, sent_campaign):
    make_campaign(name="Summer draft")
    names = lambda response: [c.name for c in response.context["campaigns"]]  # noqa: E731
    assert names(marketer.get(url("list"), {"q": "summer"})) == ["Summer draft"]
    assert names(marketer.get(url("list"), {"state": "completed"})) == ["Diwali sale"]
    partial = marketer.get(url("list"), {"q": "diwali"}, HTTP_HX_REQUEST="true")
    assert "<html" not in partial.content.decode() and "Diwali sale" in partial.content.decode()


# --- query counts ---------------------------------------------------------------------------------


def test_the_list_page_runs_a_bounded_number_of_queries(marketer, django_assert_max_num_queries):
    for n in range(30):
        campaign = make_campaign(name=f"Campaign {n}")
        Message.objects.create(campaign=campaign, to=ASHA, state=Message.State.ACCEPTED)
        Message.objects.create(campaign=campaign, to=RAVI, state=Message.State.FAILED)
    # session, user, permissions (2), count, page ids, the page's campaigns, their counters,
    # the senders (for the sender filter)
    with django_assert_max_num_queries(9):
        response = marketer.get(url("list"))
    rows = response.context["campaigns"]
    assert len(rows) == 25
    assert (rows[0].recipients, rows[0].accepted, rows[0].failed) == (2, 1, 1)


def test_the_campaign_page_with_1000_messages_runs_a_bounded_number_of_queries(
    marketer, django_assert_max_num_queries
):
    campaign = make_campaign(sections=(("One", 10), ("Two", 10)))
    Message.objects.bulk_create(
        Message(campaign=campaign, to=f"+9198{n:08d}", state=Message.State.ACCEPTED)
        for n in range(1000)
    )
    # session, user, permissions (2), campaign + template (1), sections, items, products (3),
    # progress (2), one page of results (1), the results dashboard (8: funnel, failures, skip
    # reasons, the chart's span and its two timelines, orders per product and totals)
    with django_assert_max_num_queries(18):
        response = marketer.get(url("detail", campaign.pk))
    assert len(response.context["rows"]) == 50
    assert "Rows 1\N{EN DASH}50 of 1000" in response.content.decode()


def test_the_composer_and_its_check_run_a_bounded_number_of_queries(
    marketer, django_assert_max_num_queries
):
    campaign = make_campaign(sections=(("One", 15), ("Two", 15)))
    # session, user, permissions (2), campaign + template, sections, items + products, the
    # template choices and their texts (2), the active senders (the select and the preview's
    # name)
    with django_assert_max_num_queries(10):
        assert marketer.get(url("edit", campaign.pk)).status_code == 200
    data = composer_data(campaign)
    # session, user, permissions (2), template, products, the active senders
    with django_assert_max_num_queries(7):
        check(marketer, data)


def test_sections_json_survives_a_product_named_with_quotes(marketer):
    product = make_product(retailer_id='Q"1', name='The "best" <mug>')
    campaign = make_campaign()
    add_section_with(campaign, "Quotes", [product], position=5)
    page = marketer.get(url("edit", campaign.pk)).content.decode()
    assert "&lt;mug&gt;" in page and "<mug>" not in page


@pytest.mark.parametrize(
    ("count", "rate", "words"),
    [
        (0, 80, "takes no time: there is nothing to send"),
        (5, 0, "goes as fast as Kaleyra answers (no rate limit is set)"),
        (1, 80, "takes about 1 second"),
        (2000, 80, "takes about 25 seconds"),
        (100_000, 80, "takes about 21 minutes"),
        (1_000_000, 80, "takes about 3 hours 28 minutes"),
    ],
)
def test_the_estimated_duration_in_plain_words(count, rate, words):
    assert estimated_duration(count, rate) == words


def test_a_send_without_a_sender_setting_says_so_and_leaves_the_campaign_a_draft(
    marketer, provider, settings
):
    settings.KALEYRA_SENDER = ""
    campaign = make_campaign()
    response = marketer.post(
        url("send", campaign.pk), {"numbers": ASHA, "confirm": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert "Nothing was sent: Sending is not configured" in messages_text(response)
    assert "KALEYRA_SENDER" in messages_text(response)
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.DRAFT
    assert len(provider.requests) == 0


def test_looking_at_a_sending_campaign_books_its_recovery_once(marketer, settings):
    """If the recovery chain ended with a killed worker, the campaign's page starts it again."""
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    campaign = make_campaign()
    Message.objects.create(campaign=campaign, to=ASHA)
    marketer.get(url("detail", campaign.pk))
    assert not DBTaskResult.objects.exists()  # a draft has nothing to recover
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.SENDING)
    marketer.get(url("detail", campaign.pk))
    marketer.get(url("detail", campaign.pk))
    [booked] = DBTaskResult.objects.all()
    assert booked.task_path == "campaigns.tasks.recover_campaigns_task"
    assert booked.status == "READY"
