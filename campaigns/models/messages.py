"""Every send's record: one Message per recipient, one SendAttempt per HTTP exchange."""

from django.db import models
from django.utils import timezone

from campaigns.models.campaigns import Campaign


class MessageQuerySet(models.QuerySet):
    """The common filters and the state changes made outside the engine's hot SQL
    (`campaigns.sending.sql`, which names the same states from `Message.State`)."""

    def real(self):
        """A campaign's recipients, without its test sends."""
        return self.filter(is_test=False)

    def tests(self):
        return self.filter(is_test=True)

    def waiting(self):
        """Not answered yet: queued (perhaps for a retry later) or claimed by a sender."""
        return self.filter(state__in=Message.WAITING_STATES)

    def requeue_unsent(self, ids) -> int:
        """Claimed Messages that never left go back in the queue."""
        return self.filter(id__in=ids, state=Message.State.SENDING).update(
            state=Message.State.QUEUED, claimed_by="", updated_at=timezone.now()
        )

    def wait_until(self, ids, when) -> int:
        """Claimed Messages that may not go yet (outside their recipients' sending hours) go
        back in the queue until `when`."""
        return self.filter(id__in=ids, state=Message.State.SENDING).update(
            state=Message.State.QUEUED,
            next_attempt_at=when,
            claimed_by="",
            updated_at=timezone.now(),
        )

    def mark_unknown(self, ids, detail: str) -> int:
        """Claimed Messages whose request may have reached Kaleyra: resent only on request."""
        return self.filter(id__in=ids, state=Message.State.SENDING).update(
            state=Message.State.UNKNOWN, detail=detail, updated_at=timezone.now()
        )

    def retry_at(self, when, *, detail: str, meta_code: str = "") -> int:
        """Queue these Messages once more, not before `when` (Meta's 131049, say)."""
        return self.update(
            state=Message.State.QUEUED,
            next_attempt_at=when,
            claimed_by="",
            detail=detail,
            meta_code=meta_code,
            meta_retried=True,
            updated_at=timezone.now(),
        )

    def mark_failed(self, ids, detail: str) -> int:
        """Claimed Messages that will not be sent (a test send interrupted before it left)."""
        return self.filter(id__in=ids, state=Message.State.SENDING).update(
            state=Message.State.FAILED, detail=detail, updated_at=timezone.now()
        )

    def waiting_for_retry(self):
        """Answered, and queued again for a later attempt (WA500, a refused connection)."""
        return self.filter(state=Message.State.QUEUED, attempts__gt=0)

    def give_up_retries(self, detail: str) -> int:
        """Retries an operator gave up on: failed for good, never sent again."""
        return self.waiting_for_retry().update(
            state=Message.State.FAILED, detail=detail, updated_at=timezone.now()
        )

    def skip_queued(self, detail: str) -> int:
        """What is still queued is skipped, never sent (a cancelled campaign, an opt-out)."""
        return self.filter(state=Message.State.QUEUED).update(
            state=Message.State.SKIPPED, detail=detail, updated_at=timezone.now()
        )


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
    # Not answered yet: queued (perhaps for a retry later) or claimed by a sender.
    WAITING_STATES = (State.QUEUED, State.SENDING)
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
    # An always-on campaign's messages are one per trigger (the API call's Idempotency-Key);
    # a batch campaign's have none, so each number gets it once.
    trigger_key = models.CharField(
        max_length=255, blank=True, default="", db_default="", help_text="The API call's key."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            # Test sends may repeat; a real recipient gets one Message per campaign (per
            # trigger, in an always-on campaign).
            models.UniqueConstraint(
                fields=["campaign", "to", "trigger_key"],
                condition=models.Q(is_test=False),
                name="one_message_per_recipient",
            )
        ]
        # Claims read "this campaign's queued rows in id order": the index gives them in order.
        indexes = [
            models.Index(fields=["campaign", "state", "id"], name="message_claim_order"),
            # "What did this number get lately?": the frequency cap, opt-outs, order attribution.
            models.Index(fields=["to", "claimed_at"], name="message_recipient_recent"),
            # The per-recipient table and its CSV: a campaign's real messages in id order.
            models.Index(
                fields=["campaign", "id"],
                condition=models.Q(is_test=False),
                name="message_recipient_page",
            ),
            # The next retry of a campaign: only the few messages waiting for one are in it.
            models.Index(
                fields=["campaign", "next_attempt_at"],
                condition=models.Q(state="queued", attempts__gt=0),
                name="message_retry_due",
            ),
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
