"""The data: catalog, approved templates, campaigns with their sections, and every send's record."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from . import limits

VARIABLE_RE = re.compile(r"\{\{\s*(\d+)\s*\}\}")


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

    SENDABLE_AVAILABILITY = (
        Availability.IN_STOCK,
        Availability.PREORDER,
        Availability.AVAILABLE_FOR_ORDER,
    )

    retailer_id = models.CharField(
        "retailer ID (SKU)",
        max_length=100,
        unique=True,
        help_text="The catalog's SKU, labelled Content ID in Meta's Commerce Manager.",
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="INR", help_text="ISO 4217 code, e.g. INR.")
    image_url = models.URLField("image URL", max_length=500, blank=True)
    link = models.URLField(max_length=500, blank=True)
    availability = models.CharField(
        max_length=20, choices=Availability.choices, default=Availability.IN_STOCK
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["name"])]

    def __str__(self):
        return f"{self.name} ({self.retailer_id})"

    @property
    def is_sendable(self) -> bool:
        return self.active and self.availability in self.SENDABLE_AVAILABILITY


class MessageTemplate(models.Model):
    """A WhatsApp template exactly as approved: name, language and texts must match Meta's copy."""

    class Category(models.TextChoices):
        MARKETING = "MARKETING", "Marketing"
        UTILITY = "UTILITY", "Utility"

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
    button_text = models.CharField(max_length=25, default="View items")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

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

    def clean(self):
        from .validation import template_definition_errors

        errors = template_definition_errors(self)
        if errors:
            raise ValidationError({problem.field: problem.message for problem in errors})


class Campaign(models.Model):
    """An MPM a marketer builds: one template, its values, a thumbnail and titled product sections."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        SENDING = "sending", "Sending"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    WaSource = models.TextChoices("WaSource", [(s, s) for s in limits.WA_SOURCES])

    name = models.CharField(max_length=200)
    template = models.ForeignKey(
        MessageTemplate, on_delete=models.PROTECT, related_name="campaigns"
    )
    header_value = models.CharField(
        max_length=limits.MAX_HEADER_VALUE_LENGTH,
        blank=True,
        help_text="Fills {{1}} in the template's header (only when it has one).",
    )
    body_values = models.JSONField(
        default=list,
        blank=True,
        help_text="Values for {{1}} … {{n}} in the template's body, in order.",
    )
    thumbnail_product = models.ForeignKey(
        Product,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Its image heads the message.",
    )
    ref = models.CharField(max_length=1000, blank=True, help_text="extra_info.ref (max 255 sent).")
    ref1 = models.CharField(
        max_length=1000, blank=True, help_text="extra_info.ref1 (max 255 sent)."
    )
    ref2 = models.CharField(
        max_length=1000, blank=True, help_text="extra_info.ref2 (max 255 sent)."
    )
    wa_source = models.CharField(
        "WA source", max_length=20, choices=WaSource.choices, default=limits.DEFAULT_WA_SOURCE
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    paused_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("send_campaign", "Can send campaigns")]

    def __str__(self):
        return self.name


class Section(models.Model):
    """A titled group of products behind the 'View items' button; shown in `position` order."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="sections")
    position = models.PositiveSmallIntegerField(default=0)
    # Drafts may hold a longer title; validation (not the database) enforces the 24 characters.
    title = models.CharField(
        max_length=100,
        help_text=f"At most {limits.MAX_SECTION_TITLE_LENGTH} characters; no markdown.",
    )

    class Meta:
        ordering = ["campaign", "position", "id"]

    def __str__(self):
        return self.title


class SectionItem(models.Model):
    section = models.ForeignKey(Section, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField(default=0)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["section", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["section", "product"], name="unique_product_per_section"
            )
        ]

    def __str__(self):
        return self.product.retailer_id


class Message(models.Model):
    """One recipient of one campaign: at most one per (campaign, number), so a rerun never resends."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        ACCEPTED = "accepted", "Accepted"
        FAILED = "failed", "Failed"
        # The request may have reached Kaleyra (a read timeout): resent only on an operator's choice.
        UNKNOWN = "unknown", "Unknown (may have been sent)"
        SKIPPED = "skipped", "Skipped"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="messages")
    to = models.CharField("recipient", max_length=16, help_text="E.164, e.g. +919876543210.")
    overrides = models.JSONField(
        default=dict, blank=True, help_text="Per-recipient header, body values and refs."
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    message_id = models.CharField("provider message ID", max_length=100, blank=True, db_index=True)
    last_code = models.CharField("provider code", max_length=20, blank=True)
    detail = models.CharField(max_length=500, blank=True, help_text="Why it failed or was skipped.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="HTTP exchanges so far.")
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="A retry waits until then (e.g. after WA500)."
    )
    claimed_by = models.CharField(max_length=100, blank=True, help_text="host:pid of the sender.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    is_test = models.BooleanField("test send", default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # Test sends may repeat; a real recipient gets one Message per campaign.
            models.UniqueConstraint(
                fields=["campaign", "to"],
                condition=models.Q(is_test=False),
                name="one_message_per_recipient",
            )
        ]
        # Claims read "this campaign's queued rows in id order": the index gives them in order.
        indexes = [models.Index(fields=["campaign", "state", "id"], name="message_claim_order")]

    def __str__(self):
        return f"{self.to} ({self.get_state_display()})"


class SendAttempt(models.Model):
    """One HTTP exchange with Kaleyra, kept as it happened (never with the API key)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attempts_log")
    request_body = models.JSONField()
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    code = models.CharField(max_length=20, blank=True, db_index=True)
    message_text = models.CharField(max_length=500, blank=True)
    error = models.JSONField(default=dict, blank=True)
    response_body = models.TextField(blank=True)
    # Named apart from `message_id`, which Django gives the `message` foreign key.
    provider_message_id = models.CharField("provider message ID", max_length=100, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]  # ids grow with time; one index fewer to write per send

    def __str__(self):
        return f"{self.code or self.http_status or 'no answer'} for {self.message.to}"
