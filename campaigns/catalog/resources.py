"""The catalog as django-import-export reads and writes it: one `ProductResource` for the admin's
import (dry run, errors by line), its export, `manage.py import_catalog` and the background
import, so a feed means the same thing everywhere.

Tuned for 100,000-row feeds (catalog-notes I2, I4, I8): rows are saved in bulk, the products of a
chunk are loaded in one query, nothing is deep-copied for diffs; an unchanged row is skipped by
comparing the feed's fields, and every rule is checked on the row (bulk saves lose row numbers),
including an `id` given twice, which would otherwise fail a whole batch."""

from django.core.exceptions import ValidationError
from django.utils import timezone
from import_export import fields, resources, widgets
from import_export.instance_loaders import BaseInstanceLoader

from campaigns import limits
from campaigns.catalog import feed
from campaigns.models import Product

FEED_FIELDS = list(feed.COLUMNS)
# What an import writes; `currency` comes with `price`, `active` with every row seen.
SAVED_FIELDS = [*FEED_FIELDS, "currency", "active", "updated_at"]


class TextWidget(widgets.Widget):
    def __init__(self, column: str, max_length: int, *, required: bool = False):
        super().__init__()
        self.column, self.max_length, self.required = column, max_length, required

    def clean(self, value, row=None, **kwargs):
        return feed.read_text(
            self.column, str(value or ""), max_length=self.max_length, required=self.required
        )

    def render(self, value, obj=None, **kwargs):
        return value or ""


class DescriptionWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        return feed.read_description(str(value or ""))

    def render(self, value, obj=None, **kwargs):
        return value or ""


class LinkWidget(widgets.Widget):
    def __init__(self, column: str):
        super().__init__()
        self.column = column

    def clean(self, value, row=None, **kwargs):
        return feed.read_link(self.column, str(value or ""))

    def render(self, value, obj=None, **kwargs):
        return value or ""


class ChoiceWidget(widgets.Widget):
    def __init__(self, column: str, choices, *, default: str = ""):
        super().__init__()
        self.column, self.default = column, default
        self.choices = {feed.normalised_choice(value): value for value in choices.values}

    def clean(self, value, row=None, **kwargs):
        text = str(value or "")
        if not text.strip() and self.default:
            return self.default
        return feed.read_choice(self.column, text, self.choices)

    def render(self, value, obj=None, **kwargs):
        return value or ""


class PriceField(fields.Field):
    """`9.99 USD` in one column, two attributes on the product: the amount and the currency
    (`sale_price` takes the currency from `price`, and must match it: checked per row)."""

    def __init__(self, attribute: str, *, required: bool):
        super().__init__(attribute=attribute, column_name=feed.COLUMNS[attribute])
        self.required = required

    def clean(self, row, **kwargs):
        text = str(row.get(self.column_name) or "")
        return feed.read_price(self.column_name, text, required=self.required)

    def save(self, instance, row, is_m2m=False, **kwargs):
        amount, currency = self.clean(row)
        setattr(instance, self.attribute, amount)
        if self.attribute == "price":
            instance.currency = currency
        else:
            instance._sale_currency = currency

    def export(self, instance, **kwargs):
        return feed.price_text(getattr(instance, self.attribute), instance.currency)


class ProductLoader(BaseInstanceLoader):
    """The products of a chunk in one query, by `id` as written (an id too long for the column
    is simply not found; its row then fails its own check). Each row gets an instance of its
    own, so a refused row (an id given twice, say) never changes what another row saves."""

    def __init__(self, resource, dataset=None):
        super().__init__(resource, dataset)
        column = feed.COLUMNS["retailer_id"]
        ids = {str(value).strip() for value in dataset[column]} if dataset.height else set()
        ids = {value for value in ids if "\x00" not in value}  # never an id: its row is refused
        self.names = [field.attname for field in Product._meta.concrete_fields]
        rows = Product.objects.filter(retailer_id__in=ids).values_list(*self.names)
        at = self.names.index("retailer_id")
        self.rows = {row[at]: row for row in rows}

    def get_instance(self, row):
        found = self.rows.get(str(row.get(feed.COLUMNS["retailer_id"]) or "").strip())
        return None if found is None else Product.from_db(None, self.names, found)


class ProductResource(resources.ModelResource):
    retailer_id = fields.Field(
        attribute="retailer_id",
        column_name="id",
        widget=TextWidget("id", limits.MAX_RETAILER_ID_LENGTH, required=True),
    )
    name = fields.Field(
        attribute="name",
        column_name="title",
        widget=TextWidget("title", limits.MAX_PRODUCT_NAME_LENGTH, required=True),
    )
    description = fields.Field(
        attribute="description", column_name="description", widget=DescriptionWidget()
    )
    availability = fields.Field(
        attribute="availability",
        column_name="availability",
        widget=ChoiceWidget("availability", Product.Availability),
    )
    condition = fields.Field(
        attribute="condition",
        column_name="condition",
        widget=ChoiceWidget("condition", Product.Condition, default=Product.Condition.NEW),
    )
    price = PriceField("price", required=True)
    sale_price = PriceField("sale_price", required=False)
    link = fields.Field(attribute="link", column_name="link", widget=LinkWidget("link"))
    image_url = fields.Field(
        attribute="image_url", column_name="image_link", widget=LinkWidget("image_link")
    )
    brand = fields.Field(
        attribute="brand",
        column_name="brand",
        widget=TextWidget("brand", limits.MAX_BRAND_LENGTH),
    )
    item_group_id = fields.Field(
        attribute="item_group_id",
        column_name="item_group_id",
        widget=TextWidget("item_group_id", limits.MAX_RETAILER_ID_LENGTH),
    )

    class Meta:
        model = Product
        fields = FEED_FIELDS
        import_id_fields = ["retailer_id"]
        instance_loader_class = ProductLoader
        use_bulk = True
        batch_size = 1000
        skip_diff = True
        report_skipped = False
        clean_model_instances = False  # every rule is the row's own (feed.py)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first_line = {}  # retailer_id -> the line it was first read on, across chunks
        self.lines: list[int] = []  # the file's line of each row of the current chunk

    def line_of(self, row_number: int) -> int:
        """Rows are numbered from 1 in a chunk; a quoted cell may span lines in the file."""
        return self.lines[row_number - 1] if self.lines else row_number + 1

    def remember_ids(self, dataset, lines: list[int]):
        """A chunk imported by an earlier run: its ids still count as seen first there."""
        for line, value in zip(lines, dataset[feed.COLUMNS["retailer_id"]], strict=True):
            self.first_line.setdefault(str(value).strip(), line)

    def get_bulk_update_fields(self):
        return SAVED_FIELDS

    def bulk_create(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        """A dry run writes nothing (every rule is checked on the row), rather than writing a
        batch and rolling it back: it takes half the time."""
        if dry_run:
            self.create_instances.clear()
            return
        super().bulk_create(using_transactions, dry_run, raise_errors, batch_size, result)

    def bulk_update(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        if dry_run:
            self.update_instances.clear()
            return
        super().bulk_update(using_transactions, dry_run, raise_errors, batch_size, result)

    def after_init_instance(self, instance, new, row, **kwargs):
        instance._as_read = None if new else self.feed_values(instance)

    def import_instance(self, instance, row, **kwargs):
        """An id seen on an earlier line is refused first; then every field is read (each
        problem kept), then the rules across fields. The first valid line of an id wins."""
        retailer_id = str(row.get(feed.COLUMNS["retailer_id"]) or "").strip()
        line = self.line_of(kwargs["row_number"])
        first = self.first_line.get(retailer_id)
        if first is not None and retailer_id:
            raise ValidationError(
                {
                    "retailer_id": [
                        f"id '{retailer_id}' is on line {first} already; this line is skipped."
                    ]
                }
            )
        problems = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            problems = exc.message_dict
        if not problems:
            try:
                self.check_sale_price(instance, row)
            except ValueError as exc:
                problems["sale_price"] = [str(exc)]
        if problems:
            raise ValidationError(problems)
        self.first_line[retailer_id] = line
        instance.active = True  # in the feed again

    @staticmethod
    def check_sale_price(instance, row):
        """A feed without the column keeps the stored sale price while it is still below the
        price (a lower price ends the sale)."""
        if feed.COLUMNS["sale_price"] in row:
            feed.check_sale_price(
                instance.price, instance.currency, instance.sale_price, instance._sale_currency
            )
        elif instance.sale_price is not None and instance.sale_price >= instance.price:
            instance.sale_price = None

    def skip_row(self, instance, original, row, import_validation_errors=None):
        if import_validation_errors:
            return False
        return instance._as_read is not None and instance._as_read == self.feed_values(instance)

    def before_save_instance(self, instance, row, **kwargs):
        instance.updated_at = timezone.now()  # bulk updates skip auto_now

    @staticmethod
    def feed_values(product) -> tuple:
        return tuple(getattr(product, name) for name in (*FEED_FIELDS, "currency", "active"))
