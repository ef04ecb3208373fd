"""Each hostile input that once gave a 500, or a callback acknowledged but never applied, as a
plain test: what the app answers now (RELIABILITY.md lists them)."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from campaigns.callbacks import apply_pending_callbacks
from campaigns.models import CallbackInbox, Campaign, Order, StatusEvent
from tests.fuzz.conftest import SECRET
from tests.support.callbacks import order_message, v2_status
from tests.support.factories import make_message
from tests.support.hostile import nested

TOO_BIG = "99999999999999999999"
pytestmark = pytest.mark.usefixtures("callback_settings")


def post_callback(body: str, url="/callbacks/kaleyra/", **kwargs):
    return Client().post(url, body, content_type="application/json", headers=SECRET, **kwargs)


@pytest.mark.parametrize(
    "body, reason",
    [
        (nested(100), "nested more than 32 levels deep"),
        ('{"status": "sent", "price": NaN}', "NaN"),
        ('{"status": "sent\\u0000"}', "NUL"),
    ],
)
def test_a_callback_body_json_cannot_keep_is_refused_with_the_reason(body, reason):
    response = post_callback(body)
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert not CallbackInbox.objects.exists()


def test_a_callback_body_larger_than_any_callback_is_413():
    response = post_callback("{" + " " * 1_000_001 + "}")
    assert response.status_code == 413
    assert not CallbackInbox.objects.exists()


def test_a_form_callback_with_too_many_fields_is_400():
    fields = "&".join(f"f{n}=1" for n in range(1100))
    response = Client().post(
        "/callbacks/kaleyra/dynamic/",
        fields,
        content_type="application/x-www-form-urlencoded",
        headers=SECRET,
    )
    assert response.status_code == 400
    assert not CallbackInbox.objects.exists()


@pytest.mark.parametrize(
    "body, content_type, status",
    [
        ("x" * 3_000_000, "application/json", 413),
        ("client_id=" + "x" * 3_000_000, "application/x-www-form-urlencoded", 413),
        ("&".join(f"f{n}=1" for n in range(1100)), "application/x-www-form-urlencoded", 400),
        (nested(5000), "application/json", 401),
    ],
)
def test_the_token_endpoint_answers_4xx_to_oversized_and_unreadable_bodies(
    body, content_type, status
):
    response = Client().post("/callbacks/kaleyra/token/", body, content_type=content_type)
    assert response.status_code == status


def test_basic_auth_that_is_not_ascii_is_refused_not_a_500():
    response = Client().post(
        "/callbacks/kaleyra/token/",
        "",
        content_type="application/json",
        headers={"Authorization": "Basic \x80"},
    )
    assert response.status_code == 401


def stored(body: dict) -> CallbackInbox:
    return CallbackInbox.objects.create(kind=CallbackInbox.Kind.KALEYRA, body=json.dumps(body))


@pytest.mark.parametrize(
    "item, reason",
    [
        ({"quantity": 10**30, "item_price": "1"}, "quantity"),
        ({"quantity": 1, "item_price": "10000000000"}, "amount"),
        ({"quantity": 10000, "item_price": "999999999"}, "total"),
        ({"quantity": 1, "item_price": "NaN"}, "amount"),
    ],
)
def test_an_order_beyond_the_tables_is_kept_with_its_reason_and_the_batch_goes_on(
    campaign, item, reason
):
    message = make_message(campaign, "+919876543210")
    before = stored(v2_status("sent", message_id=message.message_id, ts="1750857380"))
    order = stored(
        order_message("+919876543210", [{"product_retailer_id": "SKU-1", **item}], ident="o1")
    )
    after = stored(v2_status("delivered", message_id=message.message_id, ts="1750857390"))
    apply_pending_callbacks()
    order.refresh_from_db()
    assert order.problem == CallbackInbox.Problem.OUT_OF_RANGE
    assert reason in order.error
    assert not Order.objects.exists()
    for row in (before, after):
        row.refresh_from_db()
        assert (row.processed_at is not None, row.problem) == (True, "")
    assert StatusEvent.objects.count() == 2


@pytest.mark.parametrize(
    "ts", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "99999999999999"]
)
def test_a_time_at_the_calendars_ends_keeps_the_callback_with_its_reason(campaign, ts):
    message = make_message(campaign, "+919876543210")
    row = stored(v2_status("read", message_id=message.message_id, ts=ts))
    order = stored(
        order_message(
            "+919876543210", [{"product_retailer_id": "SKU-1", "quantity": 1}], ident="o", ts=ts
        )
    )
    apply_pending_callbacks()
    for kept in (row, order):
        kept.refresh_from_db()
        assert kept.problem == CallbackInbox.Problem.OUT_OF_RANGE
        assert "outside 1970 to 2100" in kept.error
    assert not StatusEvent.objects.exists() and not Order.objects.exists()


def test_rows_stored_before_the_checks_are_kept_as_not_a_callback(campaign):
    row = CallbackInbox.objects.create(kind="kaleyra", body='{"status": "sent", "price": NaN}')
    apply_pending_callbacks()
    row.refresh_from_db()
    assert row.problem == CallbackInbox.Problem.NOT_A_CALLBACK


def test_staff_filter_kept_callbacks_by_reason(staff):
    CallbackInbox.objects.create(kind="kaleyra", body="{}", problem="out_of_range", error="x")
    page = staff.get("/admin/campaigns/callbackinbox/", {"problem": "out_of_range"})
    assert page.status_code == 200
    assert "A value beyond what can be stored" in page.text


@pytest.mark.parametrize(
    "path",
    [
        f"/campaigns/{TOO_BIG}/",
        f"/campaigns/{TOO_BIG}/progress/",
        f"/campaigns/{TOO_BIG}/dashboard.json",
        "/campaigns/9223372036854775808/edit/",
    ],
)
def test_an_id_beyond_the_databases_integers_is_a_404(staff, path):
    assert staff.get(path).status_code == 404


def test_a_results_page_beyond_the_databases_integers_is_an_empty_page(staff, campaign):
    response = staff.get(f"/campaigns/{campaign.pk}/", {"page": TOO_BIG})
    assert response.status_code == 200


def test_a_nul_in_the_product_search_is_400_naming_the_field(staff):
    response = staff.get("/campaigns/products/", {"q": "a\x00"})
    assert response.status_code == 400
    assert response.json()["problems"][0]["field"] == "q"


def composer_post(campaign, **fields):
    return {
        "name": "x",
        "template": str(campaign.template_id),
        "wa_source": "api",
        "sections": "[]",
        **fields,
    }


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"sections": nested(3000)}, "sections"),
        ({"sections": json.dumps([{"title": "a\x00", "products": []}])}, "sections"),
        ({"body_1": "a\x00"}, "body_1"),
        ({"thumbnail": "SKU\x00"}, "thumbnail"),
    ],
)
def test_the_composer_refuses_what_cannot_be_stored_naming_the_field(
    staff, campaign, fields, field
):
    before = Campaign.objects.values().get(pk=campaign.pk)
    response = staff.post(
        f"/campaigns/{campaign.pk}/edit/",
        composer_post(campaign, **fields),
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert field in {p["field"] for p in response.json()["problems"]}
    assert Campaign.objects.values().get(pk=campaign.pk) == before
    check = staff.post("/campaigns/check/", composer_post(campaign, **fields))
    assert field in {p["field"] for p in check.json()["problems"]}


def test_the_admin_refuses_a_nul_in_body_values_naming_the_line(staff, campaign):
    response = staff.post(
        "/admin/campaigns/campaign/add/",
        {
            "name": "x",
            "template": campaign.template_id,
            "body_values": "ok\nb\x00",
            "wa_source": "api",
        },
    )
    assert response.status_code == 200
    assert "Line 2 holds a NUL character" in response.text


def test_the_admin_reshows_a_choice_that_is_not_an_id(staff):
    response = staff.post("/admin/campaigns/campaign/add/", {"template": "9223372036854775808"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "content, error",
    [
        ("phone,body_" + "9" * 5000 + "\n+919876543210,x\n", "columns this app does not know"),
        ("phone,header\n+919876543210,a\x00b\n", "NUL character"),
        # The invalid line is kept to be shown; PostgreSQL's JSON cannot hold the NUL itself.
        ("phone\n+91987\x006543210\n+919876543210\n", "+91987\N{REPLACEMENT CHARACTER}6543210"),
    ],
)
def test_a_csv_with_hostile_columns_or_cells_is_refused_in_plain_words(
    staff, campaign, content, error
):
    upload = SimpleUploadedFile("list.csv", content.encode(), content_type="text/csv")
    response = staff.post(f"/campaigns/{campaign.pk}/send/", {"csv_file": upload}, follow=True)
    assert response.status_code in (200, 400)  # a checked file is shown on its upload's page
    assert error in response.text
