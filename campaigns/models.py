"""The data: catalog, approved templates, campaigns with their sections, and every send's record."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

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
        # From Kaleyra's status callbacks (campaigns.callbacks), after `accepted`.
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        NOT_SENT = "not_sent", "Not sent by Kaleyra"

    # Kaleyra took the request; callbacks may have moved it further along since.
    ACCEPTED_OR_LATER = (State.ACCEPTED, State.SENT, State.DELIVERED, State.READ)
    # Messages that count towards the frequency cap: on their way to the customer, or there.
    CAP_STATES = (*ACCEPTED_OR_LATER, State.SENDING, State.UNKNOWN)

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="messages")
    to = models.CharField("recipient", max_length=16, help_text="E.164, e.g. +919876543210.")
    overrides = models.JSONField(
        default=dict, blank=True, help_text="Per-recipient header, body values and refs."
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    message_id = models.CharField("provider message ID", max_length=100, blank=True, db_index=True)
    last_code = models.CharField("provider code", max_length=20, blank=True)
    # Set by status callbacks; `db_default` because the engine's raw INSERTs name their columns.
    meta_code = models.CharField(
        "Meta error code",
        max_length=10,
        blank=True,
        default="",
        db_default="",
        help_text="The code of Meta's failure callback, e.g. 131049.",
    )
    meta_retried = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Queued once more after Meta's 131049 (per-user marketing limit).",
    )
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
        indexes = [
            models.Index(fields=["campaign", "state", "id"], name="message_claim_order"),
            # "What did this number get lately?": the frequency cap, opt-outs, order attribution.
            models.Index(fields=["to", "claimed_at"], name="message_recipient_recent"),
        ]

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


# --- callbacks: what Kaleyra tells us after the send ---------------------------------------------


class CallbackInbox(models.Model):
    """One callback exactly as it arrived, stored before the 200 and applied later in batches
    (campaigns.callbacks): the webhook answers in milliseconds and a replay costs nothing."""

    class Kind(models.TextChoices):
        KALEYRA = "kaleyra", "v2 callback (statuses, replies, orders)"
        TEMPLATE = "template", "Template status"
        DYNAMIC = "dynamic", "Dynamic-variable callback"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.TextField(help_text="The raw body (for GET callbacks, the query as JSON).")
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the body could not be applied.")

    class Meta:
        ordering = ["-id"]
        verbose_name = "callback received"
        verbose_name_plural = "callbacks received"
        # The applier reads "the oldest rows not yet processed": a small partial index.
        indexes = [
            models.Index(
                fields=["id"],
                condition=models.Q(processed_at__isnull=True),
                name="callback_inbox_pending",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}"


class StatusEvent(models.Model):
    """One delivery status from a callback, stored once (see `event_key`), raw value kept."""

    class Status(models.TextChoices):
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        FAILED = "failed", "Failed"
        NOT_SENT = "not_sent", "Not sent"
        UNKNOWN = "unknown", "Unknown"

    # Null until matched: an event may arrive before the send answer that names its id.
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, null=True, blank=True, related_name="status_events"
    )
    # Unique: "<id>|<status>|<timestamp>" (a hash of the event when it has no timestamp), so a
    # replayed callback is stored once. One column rather than a three-column constraint
    # because the timestamp may be missing, and NULLs never collide in a unique constraint.
    event_key = models.CharField(max_length=255, unique=True)
    provider_message_id = models.CharField(max_length=100, blank=True)
    alt_message_id = models.CharField(
        max_length=100, blank=True, help_text="Another id the callback carried (e.g. Meta's)."
    )
    ref = models.CharField(max_length=255, blank=True)
    recipient = models.CharField(max_length=20, blank=True)
    sender = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    status_raw = models.CharField(max_length=30)
    timestamp = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=20, blank=True)
    error_title = models.CharField(max_length=300, blank=True)
    error_details = models.TextField(blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    raw = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=timezone.now)
    # False while its Message is unknown or not yet answered (`queued`/`sending`): retried.
    applied = models.BooleanField(default=False)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=models.Q(applied=False),
                name="status_event_pending",
            )
        ]

    def __str__(self):
        return f"{self.status_raw} {self.provider_message_id or self.ref}"


class OptOut(models.Model):
    """A number that asked not to get marketing messages: every send path skips it."""

    class Reason(models.TextChoices):
        STOP_KEYWORD = "stop_keyword", "Replied with a stop word"
        META_131050 = "meta_131050", "Stopped marketing messages in WhatsApp (Meta 131050)"
        MANUAL = "manual", "Added by an operator"

    phone = models.CharField(max_length=16, unique=True, help_text="E.164, e.g. +919876543210.")
    reason = models.CharField(max_length=20, choices=Reason.choices, default=Reason.MANUAL)
    keyword = models.CharField(max_length=100, blank=True, help_text="The reply that opted out.")
    created_at = models.DateTimeField(auto_now_add=True)
    source = models.ForeignKey(
        CallbackInbox, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "opt-out"

    def __str__(self):
        return self.phone


class Order(models.Model):
    """An order placed from an MPM cart, attributed to the customer's latest campaign message."""

    provider_message_id = models.CharField(max_length=100, blank=True)
    from_phone = models.CharField(max_length=16)
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="orders"
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="orders"
    )
    catalog_id = models.CharField(max_length=100, blank=True)
    text = models.TextField(blank=True)
    currency = models.CharField(max_length=3, blank=True)
    total = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    received_at = models.DateTimeField(default=timezone.now)
    raw = models.JSONField(default=dict)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            # A replayed order callback is stored once.
            models.UniqueConstraint(
                fields=["provider_message_id"],
                condition=~models.Q(provider_message_id=""),
                name="one_order_per_incoming_message",
            )
        ]

    def __str__(self):
        return f"Order from {self.from_phone}: {self.total} {self.currency}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    # Null when the catalog here does not know the product; its retailer id is always kept.
    product = models.ForeignKey(
        Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    retailer_id = models.CharField(max_length=100)
    quantity = models.PositiveIntegerField(default=1)
    item_price = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, blank=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self):
        return f"{self.quantity} x {self.retailer_id}"


class SenderPacing(models.Model):
    """A slow-down for one sender number after Meta's 130429 / 131056, until `until`.

    The engine multiplies its rate by `campaigns.callbacks.current_pacing_factor(sender)`.
    """

    sender = models.CharField(max_length=20, unique=True, help_text="Digits only.")
    factor = models.FloatField(default=1.0)
    code = models.CharField(max_length=10, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    until = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "sender pacing"

    def __str__(self):
        return f"{self.sender} at {self.factor:g} of its rate"
