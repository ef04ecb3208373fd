"""The catalog written back as a Meta feed, CSV or TSV, through `ProductResource` (the columns
and cell formats the import reads), streamed a chunk at a time so that 100,000 products never
sit in memory at once. Only active products: a feed is what the catalog holds."""

from collections.abc import Iterator

from campaigns.catalog.resources import ProductResource
from campaigns.models import Product

CHUNK = 2000
FORMATS = {"csv": "text/csv", "tsv": "text/tab-separated-values"}


def feed_text(form: str) -> Iterator[str]:
    """The feed in `form` ("csv" or "tsv"): the header line, then the products by retailer ID."""
    resource = ProductResource()
    active = Product.objects.filter(active=True).order_by("retailer_id")
    pks = list(active.values_list("pk", flat=True))
    if not pks:
        yield resource.export(Product.objects.none()).export(form)
    for start in range(0, len(pks), CHUNK):
        chunk = active.filter(pk__in=pks[start : start + CHUNK])
        text = resource.export(chunk).export(form)
        yield text if start == 0 else text.split("\n", 1)[1]
