"""SKUs pasted into a composer section in bulk: known and sendable ones added in the order given,
every other one named with why (unknown, inactive, out of stock, given twice, already there,
over the 30-product limit), the limit applied at once; and the catalog search finding a whole
item group or brand. Any text is an answer, never a 500."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from campaigns.models import Product

pytestmark = pytest.mark.django_db
PASTE_URL = reverse("campaigns:product_paste")
SEARCH_URL = reverse("campaigns:product_search")


@pytest.fixture
def marketer(client):
    user = User.objects.create_user("meera", password="x")
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_campaign", "add_campaign", "change_campaign"])
    )
    client.force_login(user)
    return client


def catalog(count: int, **fields):
    Product.objects.bulk_create(
        Product(retailer_id=f"SKU-{n:02d}", name=f"Item {n}", price=Decimal("10"), **fields)
        for n in range(count)
    )


def paste(client, skus: str, *, taken=(), room=30):
    answer = client.post(PASTE_URL, {"skus": skus, "taken": ",".join(taken), "room": room})
    return answer.status_code, answer.json()


def test_thirty_skus_pasted_in_one_go_are_added_in_the_order_given(marketer):
    catalog(40)
    skus = [f"SKU-{n:02d}" for n in reversed(range(30))]
    status, data = paste(marketer, "\n".join(skus[:10]) + "\n" + ", ".join(skus[10:]))
    assert status == 200 and data["refused"] == []
    assert [p["retailer_id"] for p in data["added"]] == skus
    assert data["summary"] == "30 products added."
    assert data["added"][0]["name"] == "Item 29" and data["added"][0]["sendable"]


def test_every_sku_left_out_is_named_with_why(marketer):
    catalog(3)
    Product.objects.filter(retailer_id="SKU-01").update(availability="out of stock")
    Product.objects.filter(retailer_id="SKU-02").update(active=False)
    Product.objects.create(retailer_id="SKU-03", name="Kept", price=1)
    text = 'SKU-00;"SKU-01"\tSKU-02|NOPE\r\nSKU-00\n\n SKU-03 ,' + "x" * 101
    status, data = paste(marketer, text, taken=["SKU-03"])
    assert status == 200
    assert [p["retailer_id"] for p in data["added"]] == ["SKU-00"]
    assert data["refused"] == [
        {"retailer_id": "SKU-01", "reason": "out of stock"},
        {"retailer_id": "SKU-02", "reason": "inactive"},
        {"retailer_id": "NOPE", "reason": "not in the catalog"},
        {"retailer_id": "SKU-00", "reason": "given twice"},
        {"retailer_id": "SKU-03", "reason": "already in this section"},
        {"retailer_id": "x" * 101, "reason": "not in the catalog"},
    ]
    assert data["summary"] == "1 product added; 6 not added."


def test_the_limit_is_applied_at_once_to_what_the_message_has_room_for(marketer):
    catalog(12)
    assert paste(marketer, "x", room=0)[0] == 200
    _, data = paste(marketer, " ".join(f"SKU-{n:02d}," for n in range(12)), room=5)
    assert [p["retailer_id"] for p in data["added"]] == [f"SKU-{n:02d}" for n in range(5)]
    assert len(data["refused"]) == 7
    assert {r["reason"] for r in data["refused"]} == {
        "over the limit of 30 products in one message"
    }


def test_a_paste_is_read_in_one_query(marketer, django_assert_max_num_queries):
    catalog(30)
    with django_assert_max_num_queries(5):  # session, user, permissions (2), the products
        _, data = paste(marketer, "\n".join(f"SKU-{n:02d}" for n in range(30)))
    assert len(data["added"]) == 30


def test_bad_requests_are_400_naming_the_field_and_need_the_permissions(client, marketer):
    status, data = paste(marketer, "", room=30)
    assert status == 400 and data["problems"][0]["field"] == "skus"
    status, data = paste(marketer, "SKU-1\nSKU-\x002")
    assert status == 400 and data["problems"][0]["message"] == "Null characters are not allowed."
    status, data = paste(marketer, "SKU-1", room=31)
    assert status == 400 and "30" in data["problems"][0]["message"]
    client.logout()
    client.force_login(User.objects.create_user("viewer", password="x"))
    assert client.post(PASTE_URL, {"skus": "A", "room": 1}).status_code == 403
    assert client.get(PASTE_URL).status_code == 405


@given(text=st.text(max_size=300), room=st.integers(-2, 40), taken=st.text(max_size=40))
def test_any_paste_is_an_answer_never_a_500(marketer, text, room, taken):
    answer = marketer.post(PASTE_URL, {"skus": text, "taken": taken, "room": room})
    assert answer.status_code in (200, 400)
    data = answer.json()
    assert len(data["added"]) <= max(room, 0)


def test_the_search_finds_a_whole_item_group_or_brand(marketer):
    for n, (group, brand) in enumerate(
        [("tee-1", "Acme"), ("tee-1", "Acme"), ("cap", "acme"), ("x", "Zeta")]
    ):
        Product.objects.create(
            retailer_id=f"P-{n}", name=f"Item {n}", price=1, item_group_id=group, brand=brand
        )

    def search(q):
        return [r["retailer_id"] for r in marketer.get(SEARCH_URL, {"q": q}).json()["results"]]

    assert search("tee-1") == ["P-0", "P-1"]
    assert search("ACME") == ["P-0", "P-1", "P-2"]
    result = marketer.get(SEARCH_URL, {"q": "zeta"}).json()["results"][0]
    assert (result["brand"], result["item_group_id"]) == ("Zeta", "x")
