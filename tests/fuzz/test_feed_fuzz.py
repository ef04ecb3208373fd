"""Any feed file is imported or refused in plain words: never an exception, and the products
written are exactly the rows reported imported, each within Meta's limits."""

import string

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from campaigns import limits
from campaigns.catalog.importing import FeedFile, FeedFileError, catalog_import
from campaigns.models import Product

pytestmark = pytest.mark.django_db
COLUMNS = [
    "id",
    "title",
    "description",
    "availability",
    "condition",
    "price",
    "sale_price",
    "link",
    "image_link",
    "brand",
    "item_group_id",
    "color",
]
cells = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "in stock",
            "Out_Of_Stock",
            "new",
            "used_good",
            "9.99 USD",
            "1e3 INR",
            "-1 INR",
            "<b>x</b>&amp;",
            "SKU\x00NUL",
            "https://a.example/x",
            "",
            "x" * 101,
        ]
    ),
    st.from_regex(r"\d{1,14}(\.\d{1,4})? [A-Za-z]{3}", fullmatch=True),
)


def quoted(cell: str, delimiter: str) -> str:
    if set(cell) & {delimiter, '"', "\n", "\r"}:
        return '"' + cell.replace('"', '""') + '"'
    return cell


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    header=st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=12, unique=True),
    rows=st.lists(st.lists(cells, max_size=13), max_size=8),
    delimiter=st.sampled_from([",", "\t"]),
    bom=st.booleans(),
    raw_tail=st.binary(max_size=20),
)
def test_any_feed_is_imported_or_refused_in_plain_words(
    tmp_path_factory, header, rows, delimiter, bom, raw_tail
):
    Product.objects.all().delete()
    lines = [delimiter.join(header)] + [
        delimiter.join(quoted(c, delimiter) for c in row) for row in rows
    ]
    path = tmp_path_factory.mktemp("feed") / "feed.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + "\n".join(lines).encode() + raw_tail)
    try:
        report = catalog_import(FeedFile(path, shown_as="feed.csv"), dry_run=False)
    except FeedFileError as exc:
        assert str(exc).startswith("feed.csv") and str(exc).endswith(".")
        return
    assert Product.objects.count() == report.new
    assert report.new + report.unchanged + report.updated + report.errors == report.rows
    for product in Product.objects.all():
        assert 0 < len(product.retailer_id) <= limits.MAX_RETAILER_ID_LENGTH
        assert product.currency and set(product.currency) <= set(string.ascii_uppercase)
        assert product.sale_price is None or product.sale_price < product.price
    for problem in report.first_errors:
        assert problem.startswith("Line ")
