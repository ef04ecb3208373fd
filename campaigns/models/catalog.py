"""The catalog and the approved templates campaigns are built from."""

import re

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from campaigns import limits

VARIABLE_RE = re.compile(r"\{\{\s*(\d+)\s*\}\}")

# A template's status as Kaleyra and Meta write it, in the list the sync reads and in status
# callbacks alike, so both paths give a status one meaning (compared lower-case, spaces and
# hyphens as underscores). Kaleyra: Approved, Rejected, Pending, Submission Rejected, Paused,
# Disabled (developers.kaleyra.io, "Get WhatsApp template status"); Meta adds IN_APPEAL,
# PENDING_DELETION, DELETED, ARCHIVED, LIMIT_EXCEEDED and, in webhooks, REINSTATED.
PROVIDER_TEMPLATE_STATUSES = {
    "approved": "approved",
    "reinstated": "approved",
    "pending": "pending",
    "in_review": "pending",
    "rejected": "rejected",
    "submission_rejected": "rejected",
    "in_appeal": "rejected",  # still rejected until the appeal is granted
    "paused": "paused",
    "disabled": "disabled",
    "pending_deletion": "disabled",
    "deleted": "disabled",
    "archived": "disabled",
    "limit_exceeded": "disabled",
}


def provider_template_status(word) -> str:
    """Our status for a provider's status word; "" when it has no meaning here."""
    if not isinstance(word, str):
        return ""
    return PROVIDER_TEMPLATE_STATUSES.get(re.sub(r"[\s\-]+", "_", word.strip()).lower(), "")


def template_variables(text: str) -> list[int]:
    """The distinct `{{n}}` numbers in a template text, in ascending order."""
    return sorted({int(n) for n in VARIABLE_RE.findall(text or "")})


class Product(models.Model):
    """A catalog item, referenced by the provider as `product_retailer_id` (SKU / Content ID)."""

    class Availability(models.TextChoices):
        IN_STOCK = "in stock", "In stock"
        OUT_OF_STOCK = "out of stock", "Out of stock"
        PREORDER = "preorder", "Preorder"
        AVAILABLE_FOR_ORDER = "available for order", "Available for order"
        DISCONTINUED = "discontinued", "Discontinued"
        PENDING = "pending", "Pending"

    class Condition(models.TextChoices):
        """Meta's values (catalog-notes M4); a feed without the column means new."""

        NEW = "new", "New"
        REFURBISHED = "refurbished", "Refurbished"
        USED = "used", "Used"
        USED_LIKE_NEW = "used_like_new", "Used, like new"
        USED_GOOD = "used_good", "Used, good"
        USED_FAIR = "used_fair", "Used, fair"
        CPO = "cpo", "Certified pre-owned"
        OPEN_BOX_NEW = "open_box_new", "Open box, new"

    SENDABLE_AVAILABILITY = (
        Availability.IN_STOCK,
        Availability.PREORDER,
        Availability.AVAILABLE_FOR_ORDER,
    )

    retailer_id = models.CharField(
        "retailer ID (SKU)",
        max_length=limits.MAX_RETAILER_ID_LENGTH,
        unique=True,
        help_text="The catalog's SKU, labelled Content ID in Meta's Commerce Manager.",
    )
    name = models.CharField(max_length=limits.MAX_PRODUCT_NAME_LENGTH)
    description = models.TextField(max_length=limits.MAX_PRODUCT_DESCRIPTION_LENGTH, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    sale_price = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="In the price's currency."
    )
    currency = models.CharField(max_length=3, default="INR", help_text="ISO 4217 code, e.g. INR.")
    image_url = models.URLField("image URL", max_length=limits.MAX_PRODUCT_URL_LENGTH, blank=True)
    link = models.URLField(max_length=limits.MAX_PRODUCT_URL_LENGTH, blank=True)
    availability = models.CharField(
        max_length=20, choices=Availability.choices, default=Availability.IN_STOCK
    )
    condition = models.CharField(max_length=20, choices=Condition.choices, default=Condition.NEW)
    brand = models.CharField(max_length=limits.MAX_BRAND_LENGTH, blank=True)
    item_group_id = models.CharField(
        "item group ID",
        max_length=limits.MAX_RETAILER_ID_LENGTH,
        blank=True,
        help_text="Variants of one product (sizes, colours) share it.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["name"]),
            models.Index(fields=["brand"]),
            models.Index(fields=["item_group_id"]),
        ]

    def __str__(self):
        return f"{self.name} ({self.retailer_id})"

    @property
    def is_sendable(self) -> bool:
        return self.active and self.availability in self.SENDABLE_AVAILABILITY


class MessageTemplateQuerySet(models.QuerySet):
    def for_mpm(self):
        """Templates an MPM campaign may be built from: with an MPM button, still in Kaleyra's
        list. Templates without one, or that vanished from the list, are kept but not offered."""
        return self.filter(has_mpm_button=True, vanished_at__isnull=True)


class MessageTemplate(models.Model):
    """A WhatsApp template exactly as approved: name, language and texts must match Meta's copy.

    Typed in the admin, or read from Kaleyra's template list by `sync_templates` (which keeps the
    template's JSON as received in `raw` and marks one that left the list `vanished_at`)."""

    class Category(models.TextChoices):
        MARKETING = "MARKETING", "Marketing"
        UTILITY = "UTILITY", "Utility"
        AUTHENTICATION = "AUTHENTICATION", "Authentication"

    class Status(models.TextChoices):
        APPROVED = "approved", "Approved"
        PENDING = "pending", "Pending"
        REJECTED = "rejected", "Rejected"
        PAUSED = "paused", "Paused"
        DISABLED = "disabled", "Disabled"

    name = models.CharField(
        max_length=limits.MAX_TEMPLATE_NAME_LENGTH,
        help_text="Exactly as approved in WhatsApp, e.g. abandoned_cart.",
    )
    language = models.CharField(
        max_length=15,
        help_text="The approved language code in the provider's form: en_US, en, pt_BR.",
    )
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.MARKETING)
    header_text = models.CharField(
        max_length=limits.MAX_HEADER_TEXT_LENGTH,
        blank=True,
        help_text="Header text; may hold one variable {{1}}.",
    )
    body_text = models.TextField(
        max_length=limits.MAX_BODY_TEXT_LENGTH, help_text="Body text with variables {{1}} … {{n}}."
    )
    footer_text = models.CharField(max_length=limits.MAX_FOOTER_TEXT_LENGTH, blank=True)
    button_index = models.PositiveSmallIntegerField(
        "MPM button index",
        default=0,
        validators=[
            MinValueValidator(limits.MIN_BUTTON_INDEX),
            MaxValueValidator(limits.MAX_BUTTON_INDEX),
        ],
        help_text="Position of the 'View items' button, 0 to 9.",
    )
    button_text = models.CharField(max_length=25, default="View items", blank=True)
    has_mpm_button = models.BooleanField(
        "MPM button",
        default=True,
        help_text="The template has a 'View items' (MPM) button; only such templates carry products.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    provider_id = models.CharField(
        "WhatsApp template ID", max_length=100, blank=True, help_text="Set by the template sync."
    )
    raw = models.JSONField(
        "as received", default=dict, blank=True, help_text="The template's JSON from Kaleyra."
    )
    synced_at = models.DateTimeField(null=True, blank=True)
    vanished_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a complete sync no longer found it in Kaleyra's list; kept, not offered.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MessageTemplateQuerySet.as_manager()

    class Meta:
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(fields=["name", "language"], name="unique_template_language")
        ]

    def __str__(self):
        return f"{self.name} ({self.language})"

    @property
    def header_variable_count(self) -> int:
        return len(template_variables(self.header_text))

    @property
    def body_variable_count(self) -> int:
        return len(template_variables(self.body_text))
