"""Campaigns: a template, its values, a thumbnail and titled product sections."""

from django.conf import settings
from django.db import models

from campaigns import limits
from campaigns.models.catalog import MessageTemplate, Product


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
