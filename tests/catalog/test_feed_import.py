"""Meta catalog feeds imported: prices with their currency, Meta's availability and condition
values, HTML stripped, BOM and TSV, bad rows reported by line beside kept ones, ids given twice,
products that left the feed marked inactive (and active again when they come back), the dry run's
counts equal to the import's, a resumed import, and the export read back as the same feed."""

from decimal import Decimal

import pytest

from campaigns.catalog.importing import FeedFile, FeedFileError, catalog_import
from campaigns.catalog.resources import ProductResource
from campaigns.models import Product

pytestmark = pytest.mark.django_db
HEADER = "id,title,description,availability,condition,price,sale_price,link,image_link,brand,item_group_id"


def written(tmp_path, text: str, *, bom: bool = False, name="feed.csv") -> FeedFile:
    path = tmp_path / name
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return FeedFile(path, shown_as=name)


def line(**cells) -> str:
    values = {
        "id": "SKU-1",
        "title": "Linen shirt",
        "description": "Soft linen",
        "availability": "in stock",
        "condition": "new",
        "price": "999.00 INR",
        "sale_price": "",
        "link": "https://shop.example/p/1",
        "image_link": "https://shop.example/i/1.jpg",
        "brand": "Acme",
        "item_group_id": "shirts",
    }
    values.update(cells)
    quoted = (
        '"' + v.replace('"', '""') + '"' if set(v) & set(',"\n') else v for v in values.values()
    )
    return ",".join(quoted)


def feed_of(*lines: str) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


def test_a_row_becomes_a_product_with_every_field(tmp_path):
    text = feed_of(
        line(
            description="<p>Soft <b>linen</b> &amp; cool</p><p>Hand wash</p>",
            price="1,299.00 INR".replace(",", ""),
            sale_price="999.50 INR",
            availability="In Stock",
            condition="refurbished",
        )
    )
    report = catalog_import(written(tmp_path, text), dry_run=False)
    assert (report.rows, report.new, report.errors) == (1, 1, 0), report.first_errors
    product = Product.objects.get()
    assert product.retailer_id == "SKU-1" and product.name == "Linen shirt"
    assert product.description == "Soft linen & cool\n\nHand wash"
    assert (product.price, product.sale_price, product.currency) == (
        Decimal("1299.00"),
        Decimal("999.50"),
        "INR",
    )
    assert product.availability == Product.Availability.IN_STOCK
    assert product.condition == Product.Condition.REFURBISHED
    assert (product.brand, product.item_group_id) == ("Acme", "shirts")
    assert product.image_url == "https://shop.example/i/1.jpg" and product.is_sendable


@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_csv_and_tsv_with_or_without_a_byte_order_mark(tmp_path, bom, delimiter):
    text = "\t".join(["id", "title", "availability", "price"]) + "\n"
    text += "\t".join(["SKU-9", "Cap", "out_of_stock", "10 USD"]) + "\n"
    feed_file = written(tmp_path, text.replace("\t", delimiter), bom=bom, name="feed.tsv")
    report = catalog_import(feed_file, dry_run=False)
    assert (report.new, report.errors) == (1, 0), report.first_errors
    product = Product.objects.get(retailer_id="SKU-9")  # not "\ufeffid": the BOM is dropped
    assert (product.price, product.currency) == (Decimal("10.00"), "USD")
    assert product.availability == Product.Availability.OUT_OF_STOCK and not product.is_sendable
    assert product.condition == Product.Condition.NEW  # no condition column: new


def test_bad_rows_are_reported_by_line_and_the_good_ones_beside_them_kept(tmp_path):
    text = feed_of(
        line(id="OK-1"),
        line(id="BAD-PRICE", price="9,99 EUR"),
        line(id="BAD-AVAIL", availability="sold out"),
        line(id="x" * 101),
        line(id="BAD-SALE", sale_price="1500.00 INR"),
        line(id="BAD-CURRENCY", sale_price="5.00 USD"),
        line(id="BAD-LINK", link="javascript:alert(1)"),
        line(id="BAD-COND", condition="broken"),
        line(id="", title=""),
        line(id="OK-2", description='He said "hi", twice\non two lines'),
        line(id="NUL-1", title="Bad\x00title"),
        line(id="OK-1", title="Again"),
    )
    report = catalog_import(written(tmp_path, text), dry_run=False)
    assert sorted(Product.objects.values_list("retailer_id", flat=True)) == ["OK-1", "OK-2"]
    assert Product.objects.get(retailer_id="OK-1").name == "Linen shirt"  # the first one kept
    assert report.new == 2 and report.errors == 10
    errors = "\n".join(report.first_errors)
    assert "Line 3 (id 'BAD-PRICE'): price: '9,99 EUR' is not a price" in errors
    assert "Line 4 (id 'BAD-AVAIL'): availability: 'sold out' is not one of Meta's values" in errors
    assert "Line 5 (id '" + "x" * 40 + "…'): id is 101 characters; at most 100" in errors
    assert "Line 6 (id 'BAD-SALE'): sale_price 1500.00 must be lower than price 999.00" in errors
    assert "Line 7 (id 'BAD-CURRENCY'): sale_price is in USD but price is in INR" in errors
    assert "Line 8 (id 'BAD-LINK'): link: 'javascript:alert(1)' is not an http" in errors
    assert "Line 9 (id 'BAD-COND'): condition: 'broken' is not one of Meta's values" in errors
    assert "Line 10: id is required. title is required." in errors
    # OK-2's description spans two lines of the file: the next row starts on line 13.
    assert "Line 13 (id 'NUL-1'): title holds a NUL character, which cannot be stored." in errors
    assert "Line 14 (id 'OK-1'): id 'OK-1' is on line 2 already" in errors


def test_a_file_that_is_not_a_feed_says_which_columns_it_needs(tmp_path):
    with pytest.raises(
        FeedFileError, match="needs the columns id, title, availability, price; price is missing"
    ):
        written(tmp_path, "id,title,availability\nA,B,in stock\n")
    with pytest.raises(FeedFileError, match="only a header line"):
        written(tmp_path, HEADER + "\n\n")
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,title,availability,price\nA,Caf\xe9,in stock,1 EUR\n".encode("latin-1"))
    with pytest.raises(FeedFileError, match="not a UTF-8 CSV or TSV file"):
        catalog_import(FeedFile(path, shown_as="latin1.csv"), dry_run=False)


def test_the_dry_run_writes_nothing_and_counts_what_the_import_does(tmp_path):
    Product.objects.create(retailer_id="OLD", name="Old", price=1, currency="INR")
    catalog_import(written(tmp_path, feed_of(line(id="SAME"))), dry_run=False, keep_missing=True)
    text = feed_of(line(id="SAME"), line(id="NEW"), line(id="BAD", price="free"))
    feed_file = written(tmp_path, text)
    checked = catalog_import(feed_file, dry_run=True)
    assert Product.objects.filter(retailer_id="NEW").count() == 0
    assert Product.objects.get(retailer_id="OLD").active
    imported = catalog_import(feed_file, dry_run=False)
    assert (
        checked.done_counts()
        == imported.done_counts()
        == {
            "new": 1,
            "updated": 0,
            "unchanged": 1,
            "deactivated": 1,
            "errors": 1,
        }
    )
    assert checked.missing_examples == ["OLD"]


def test_products_that_left_the_feed_are_inactive_and_come_back_when_it_lists_them(tmp_path):
    catalog_import(written(tmp_path, feed_of(line(id="A"), line(id="B"))), dry_run=False)
    report = catalog_import(written(tmp_path, feed_of(line(id="A"))), dry_run=False)
    assert report.deactivated == 1
    assert dict(Product.objects.values_list("retailer_id", "active")) == {"A": True, "B": False}
    kept = catalog_import(
        written(tmp_path, feed_of(line(id="A"))), dry_run=False, keep_missing=True
    )
    assert kept.deactivated == 0
    back = catalog_import(written(tmp_path, feed_of(line(id="A"), line(id="B"))), dry_run=False)
    assert (back.updated, back.unchanged) == (1, 1)
    assert set(Product.objects.values_list("active", flat=True)) == {True}


def test_a_changed_row_updates_the_product_and_an_unchanged_one_is_left_alone(tmp_path):
    catalog_import(written(tmp_path, feed_of(line(id="A"), line(id="B"))), dry_run=False)
    before = Product.objects.get(retailer_id="B").updated_at
    text = feed_of(line(id="A", price="899.00 INR", availability="out of stock"), line(id="B"))
    report = catalog_import(written(tmp_path, text), dry_run=False)
    assert (report.updated, report.unchanged) == (1, 1)
    a = Product.objects.get(retailer_id="A")
    assert (a.price, a.availability) == (Decimal("899.00"), "out of stock")
    assert Product.objects.get(retailer_id="B").updated_at == before


def test_a_resumed_import_goes_on_after_the_last_committed_line(tmp_path, settings):
    settings.MPM_IMPORT_CHUNK_ROWS = 100
    rows = [line(id=f"SKU-{n}") for n in range(250)] + [line(id="SKU-3", title="Twice")]
    feed_file = written(tmp_path, feed_of(*rows))
    # The first run committed two chunks (lines 2-201) and then its worker died.
    first = catalog_import(feed_file, dry_run=False, keep_missing=True)
    Product.objects.filter(retailer_id__in=[f"SKU-{n}" for n in range(200, 250)]).delete()
    done = {"new": 200}
    resumed = catalog_import(feed_file, dry_run=False, after_line=201, done=done)
    assert first.new == 250
    assert (resumed.new, resumed.errors) == (250, 1)  # 200 before, 50 now; SKU-3 still a duplicate
    assert Product.objects.count() == 250


def test_the_export_is_the_same_feed(tmp_path):
    text = feed_of(
        line(id="A", sale_price="500.00 INR", description="Two\n\nparagraphs"),
        line(
            id="B", availability="preorder", condition="used_like_new", brand="", item_group_id=""
        ),
    )
    catalog_import(written(tmp_path, text), dry_run=False)
    exported = ProductResource().export(Product.objects.order_by("retailer_id")).csv
    assert exported.splitlines()[0] == HEADER
    Product.objects.all().delete()
    again = written(tmp_path, exported, name="exported.csv")
    report = catalog_import(again, dry_run=False)
    assert (report.new, report.errors) == (2, 0), report.first_errors
    b = Product.objects.get(retailer_id="B")
    assert (b.availability, b.condition, b.sale_price) == ("preorder", "used_like_new", None)
    assert Product.objects.get(retailer_id="A").sale_price == Decimal("500.00")


def test_an_id_given_twice_keeps_its_first_valid_line_for_an_existing_product_too(tmp_path):
    catalog_import(written(tmp_path, feed_of(line(id="A", price="10.00 INR"))), dry_run=False)
    text = feed_of(
        line(id="A", price="12.00 INR"),
        line(id="A", price="99.00 INR"),
        line(id="B", price="free"),  # invalid: the next B is its first valid line
        line(id="B", price="5.00 INR"),
    )
    report = catalog_import(written(tmp_path, text), dry_run=False)
    assert (report.updated, report.new, report.errors) == (1, 1, 2), report.first_errors
    assert Product.objects.get(retailer_id="A").price == Decimal("12.00")
    assert Product.objects.get(retailer_id="B").price == Decimal("5.00")
    assert (
        "Line 3 (id 'A'): id 'A' is on line 2 already; this line is skipped." in report.first_errors
    )


def test_a_feed_without_sale_prices_keeps_them_while_they_are_below_the_price(tmp_path):
    text = feed_of(line(id="A", sale_price="500.00 INR"), line(id="B", sale_price="500.00 INR"))
    catalog_import(written(tmp_path, text), dry_run=False)
    minimal = "id,title,availability,price\nA,Shirt,out of stock,999.00 INR\nB,Shirt,in stock,400.00 INR\n"
    report = catalog_import(written(tmp_path, minimal), dry_run=False)
    assert (report.updated, report.errors) == (2, 0), report.first_errors
    a, b = Product.objects.get(retailer_id="A"), Product.objects.get(retailer_id="B")
    assert (a.availability, a.sale_price) == ("out of stock", Decimal("500.00"))
    assert (b.price, b.sale_price) == (Decimal("400.00"), None)  # a lower price ends the sale
