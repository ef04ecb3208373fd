"""Outbound webhooks: the endpoints that receive our events, each event's delivery to each of
them (with every attempt), and where the dispatcher has read each source of events up to.

Deliveries are rows, so any dispatcher picks up what a dead one left (after its lease)."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from campaigns.models.campaigns import Campaign


class WebhookEvent(models.TextChoices):
    MESSAGE_ACCEPTED = "message.accepted", "Message accepted by Kaleyra"
    MESSAGE_SENT = "message.sent", "Message sent by WhatsApp"
    MESSAGE_DELIVERED = "message.delivered", "Message delivered"
    MESSAGE_READ = "message.read", "Message read"
    MESSAGE_FAILED = "message.failed", "Message failed"
    ORDER_RECEIVED = "order.received", "Order received"
    OPTOUT_CREATED = "optout.created", "Number opted out"


class WebhookEndpoint(models.Model):
    """A URL that receives the events it subscribes to, signed with a secret derived from the
    signing key, its id and `secret_version` (never stored: `campaigns.webhooks.signing`)."""

    name = models.CharField(max_length=100)
    url = models.CharField(
        "URL",
        max_length=500,
        help_text="https:// (http:// only to 127.0.0.1 or localhost in development).",
    )
    event_types = models.JSONField(
        "events", default=list, help_text="The event types this endpoint receives."
    )
    is_active = models.BooleanField("active", default=True)
    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Only this campaign's message and order events (opt-outs always). "
        "Empty: every campaign.",
    )
    secret_version = models.PositiveIntegerField(default=1, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "webhook endpoint"

    def __str__(self):
        return self.name

    def wants(self, event_type: str, campaign_id: int | None) -> bool:
        """An opt-out belongs to a number, not a campaign: every subscribed endpoint gets it."""
        if event_type not in self.event_types:
            return False
        return (
            self.campaign_id is None
            or event_type == WebhookEvent.OPTOUT_CREATED
            or campaign_id == self.campaign_id
        )


class WebhookDeliveryQuerySet(models.QuerySet):
    def waiting(self):
        """Not delivered yet and still tried: new, or failed with a retry booked."""
        return self.filter(state__in=WebhookDelivery.WAITING_STATES)

    def due(self, now):
        """Waiting, due, and not leased by a live dispatcher."""
        return self.waiting().filter(
            models.Q(leased_until__isnull=True) | models.Q(leased_until__lt=now),
            next_attempt_at__lte=now,
        )

    def replay(self, now) -> int:
        """Deliver these once more, now, with a new 24 hours of retries (an operator's choice)."""
        return self.update(
            state=WebhookDelivery.State.PENDING,
            next_attempt_at=now,
            first_attempt_at=None,
            leased_until=None,
            lease_token="",
        )


class WebhookDelivery(models.Model):
    """One event for one endpoint: posted until a 2xx, retried with backoff for 24 hours."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        FAILED = "failed", "Failed, will retry"
        DELIVERED = "delivered", "Delivered"
        GIVEN_UP = "given_up", "Given up"

    WAITING_STATES = (State.PENDING, State.FAILED)

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_type = models.CharField(max_length=30, choices=WebhookEvent.choices)
    # "<source>-<row id>" (e.g. "status-812"): unique per endpoint, so re-reading a source
    # never delivers an event twice; the payload's `id`.
    event_key = models.CharField(max_length=100)
    payload = models.TextField(help_text="The JSON body, exactly as posted on every attempt.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    first_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="Retries stop 24 hours after this (a replay resets it)."
    )
    leased_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    last_http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        permissions = [("replay_webhookdelivery", "Can deliver webhooks again")]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_key"], name="one_delivery_per_endpoint_event"
            )
        ]
        indexes = [
            # The dispatcher's claim ("this endpoint's due deliveries") and the endpoint list's
            # pending / failed counts: only the few deliveries still waiting are in it.
            models.Index(
                fields=["endpoint", "next_attempt_at"],
                condition=models.Q(state__in=["pending", "failed"]),
                name="webhook_delivery_due",
            )
        ]

    def __str__(self):
        return f"{self.event_type} to {self.endpoint_id} ({self.get_state_display()})"


class WebhookAttempt(models.Model):
    """One POST of a delivery, as it went (never with the secret or the signature)."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempts_log"
    )
    attempted_at = models.DateTimeField()
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, help_text="What went wrong, in words.")
    response_excerpt = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.http_status or 'no answer'} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"


class WebhookCursor(models.Model):
    """How far the dispatcher has read one source of events (send attempts, status events,
    orders, opt-outs), by id, and the ids it must look at again: gaps left by transactions
    not committed yet (PostgreSQL commits out of id order) and status events still waiting
    for their Message. `revision` lets two dispatchers race without locking: the loser's
    pass rolls back."""

    source = models.CharField(max_length=20, primary_key=True)
    last_id = models.BigIntegerField(default=0)
    # [[first id, last id, until (Unix seconds)], …]
    recheck = models.JSONField(default=list, blank=True)
    revision = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.source} at {self.last_id}"
