"""What Kaleyra tells us after the send: callbacks as they arrived, status events, opt-outs, orders and pacing."""

from django.db import models
from django.utils import timezone

from campaigns.models.campaigns import Campaign
from campaigns.models.catalog import Product
from campaigns.models.messages import Message


class CallbackInbox(models.Model):
    """One callback exactly as it arrived, stored before the 200 and applied later in batches
    (campaigns.callbacks): the webhook answers in milliseconds and a replay costs nothing."""

    class Kind(models.TextChoices):
        KALEYRA = "kaleyra", "v2 callback (statuses, replies, orders)"
        TEMPLATE = "template", "Template status"
        DYNAMIC = "dynamic", "Dynamic-variable callback"

    class Problem(models.TextChoices):
        """Why a callback was kept without being applied (blank: applied), or, for
        `unknown_sender`, what is odd about one that was applied."""

        NOT_A_CALLBACK = "not_a_callback", "Not a callback this app understands"
        OUT_OF_RANGE = "out_of_range", "A value beyond what can be stored"
        FAILED = "failed", "Applying it failed"
        # Applied (its statuses match messages by id, a STOP still opts out), and kept here
        # for staff: a number Kaleyra posts for that is none of the senders.
        UNKNOWN_SENDER = "unknown_sender", "For a business number that is no sender here"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.TextField(help_text="The raw body (for GET callbacks, the query as JSON).")
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the body could not be applied.")
    problem = models.CharField(max_length=20, choices=Problem.choices, blank=True)

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
        # "Did this number order since …?": segments' order conditions.
        indexes = [models.Index(fields=["from_phone", "received_at"], name="order_customer_recent")]
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


class Reply(models.Model):
    """A customer's own message to the business number (text, a button, media), kept for the
    contact page. Orders are Orders; a STOP or START is kept too, and changes consent."""

    provider_message_id = models.CharField(max_length=100, blank=True)
    from_phone = models.CharField(max_length=16)
    type = models.CharField(max_length=30, blank=True)
    text = models.TextField(blank=True)
    context_id = models.CharField(max_length=100, blank=True)  # the message it answers
    sent_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "replies"
        indexes = [models.Index(fields=["from_phone", "received_at"], name="reply_customer_recent")]
        constraints = [
            models.UniqueConstraint(  # a replayed callback is stored once
                fields=["provider_message_id"],
                condition=~models.Q(provider_message_id=""),
                name="one_reply_per_incoming_message",
            )
        ]

    def __str__(self):
        return f"Reply from {self.from_phone}: {self.text[:40]}"


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

    The engine multiplies its rate by `campaigns.sending.pacing.current_pacing_factor(sender)`.
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


class RateSlot(models.Model):
    """The next free send slot of one sender number (Unix seconds), shared by every process on
    every machine: `campaigns.sending.ratelimit` advances it a block of slots per statement."""

    sender = models.CharField(max_length=20, primary_key=True, help_text="Digits only.")
    next_free = models.FloatField(default=0.0)

    def __str__(self):
        return f"{self.sender}: next slot at {self.next_free:.3f}"
