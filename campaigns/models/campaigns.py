"""Campaigns: a template, its values, a thumbnail and titled product sections."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import models
from django.utils import timezone

from campaigns import limits
from campaigns.models.catalog import MessageTemplate, Product


class CampaignQuerySet(models.QuerySet):
    """Every change of a campaign's state, each one conditional UPDATE (concurrent callers never
    move a campaign from a state it has already left); each returns how many rows moved."""

    def start(self, *, resume: bool = False) -> int:
        """To `sending` from a draft, a completed campaign (new recipients) or, when resuming,
        a paused one; a cancelled campaign never sends again."""
        allowed = [Campaign.State.DRAFT, Campaign.State.SENDING, Campaign.State.COMPLETED]
        if resume:
            allowed.append(Campaign.State.PAUSED)
        return self.filter(state__in=allowed).update(
            state=Campaign.State.SENDING, paused_reason="", updated_at=timezone.now()
        )

    def pause(self, reason: str) -> int:
        """A sending campaign stops after the requests in flight, saying why; its queue is kept."""
        return self.filter(state=Campaign.State.SENDING).update(
            state=Campaign.State.PAUSED,
            paused_reason=reason[: Campaign._meta.get_field("paused_reason").max_length],
            updated_at=timezone.now(),
        )

    def complete(self) -> int:
        return self.filter(state=Campaign.State.SENDING).update(
            state=Campaign.State.COMPLETED, updated_at=timezone.now()
        )

    def cancel(self) -> int:
        return self.exclude(state=Campaign.State.CANCELLED).update(
            state=Campaign.State.CANCELLED, updated_at=timezone.now()
        )

    def sending(self):
        return self.filter(state=Campaign.State.SENDING)

    def schedule(self, send_at, time_zone: str) -> int:
        """To `scheduled` (from a draft or a completed campaign), or moved to another time."""
        return self.filter(
            state__in=[Campaign.State.DRAFT, Campaign.State.COMPLETED, Campaign.State.SCHEDULED]
        ).update(
            state=Campaign.State.SCHEDULED,
            send_at=send_at,
            send_time_zone=time_zone,
            updated_at=timezone.now(),
        )

    def unschedule(self) -> int:
        """A scheduled campaign back to a draft: its time is forgotten, its task does nothing."""
        return self.filter(state=Campaign.State.SCHEDULED).update(
            state=Campaign.State.DRAFT, send_at=None, send_local_time="", updated_at=timezone.now()
        )

    def start_scheduled(self, send_at) -> int:
        """Sending starts, once, by the task booked for exactly this time (a task booked for
        an earlier time, or for a schedule cancelled since, moves nothing)."""
        return self.filter(state=Campaign.State.SCHEDULED, send_at=send_at).update(
            state=Campaign.State.SENDING, paused_reason="", updated_at=timezone.now()
        )


class Campaign(models.Model):
    """An MPM a marketer builds: one template, its values, a thumbnail and titled product sections."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
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
    thumbnail_from_recipient = models.BooleanField(
        "thumbnail from each recipient",
        default=False,
        help_text="Each recipient's message is headed by their own first product (their "
        "'thumbnail' column, else the first of their products); the thumbnail product above, "
        "when set, heads the messages of recipients without one.",
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
    triggered = models.BooleanField(
        "always on",
        default=False,
        help_text="Stays open once started and sends, within seconds, what the HTTP API queues "
        "(an abandoned cart, say); never completes by itself. The same customer may get it "
        "again for a new trigger when the frequency cap allows.",
    )
    # The audience chosen in the send step, queued when the send starts (a segment is evaluated
    # then). PROTECT: a list or segment a campaign was sent to stays to say whom it went to.
    # Null: the default sender (or, with no Sender at all, the KALEYRA_* settings). PROTECT: a
    # sender that sent a campaign stays to say where it came from (deactivate it instead).
    sender = models.ForeignKey(
        "campaigns.Sender",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        help_text="The business number it goes out from; empty: the default sender.",
    )
    audience_list = models.ForeignKey(
        "campaigns.ContactList", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    audience_segment = models.ForeignKey(
        "campaigns.Segment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Set once the audience is queued, so that a send task run again (a retry, a recovery)
    # does not evaluate the segment a second time.
    audience_queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    # A scheduled campaign starts at `send_at` (stored in UTC); the zone it was entered in is
    # kept to show it back in the marketer's own time.
    send_at = models.DateTimeField(null=True, blank=True, editable=False)
    send_time_zone = models.CharField(max_length=64, blank=True, editable=False)
    # "10:00 in each customer's own time zone": the local date and time ("2026-12-03T10:00")
    # each recipient's message waits for, in their contact's zone (else their number's).
    send_local_time = models.CharField(max_length=16, blank=True, editable=False)
    # Optional hours of the day each recipient may get it in, in their own zone: outside them
    # their message waits for the next opening (`localtime.SendingHours`).
    send_from = models.TimeField(
        "send from", null=True, blank=True, help_text="Each recipient's local time, e.g. 10:00."
    )
    send_until = models.TimeField(
        "send until",
        null=True,
        blank=True,
        help_text="Not after this local time, e.g. 20:00 (before 'send from': across midnight).",
    )
    paused_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CampaignQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("send_campaign", "Can send campaigns")]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(send_from__isnull=True, send_until__isnull=True)
                    | (
                        models.Q(send_from__isnull=False, send_until__isnull=False)
                        & ~models.Q(send_from=models.F("send_until"))
                    )
                ),
                name="sending_hours_have_two_ends",
                violation_error_message="Sending hours: give both 'send from' and 'send until' "
                "(two different times), or neither for any hour.",
            )
        ]

    def __str__(self):
        return self.name

    @property
    def is_editable(self) -> bool:
        """Only a draft may change (a scheduled one goes back to being a draft, to be confirmed
        again): once sending starts, the records describe what was sent."""
        return self.state in (Campaign.State.DRAFT, Campaign.State.SCHEDULED)

    @property
    def send_local_time_shown(self) -> str:
        return self.send_local_time.replace("T", " ")

    @property
    def send_at_local(self):
        """The scheduled time in the zone it was entered in."""
        if self.send_at is None:
            return None
        try:
            return self.send_at.astimezone(ZoneInfo(self.send_time_zone or settings.TIME_ZONE))
        except (ZoneInfoNotFoundError, ValueError):
            return self.send_at


class Section(models.Model):
    """A titled group of products behind the 'View items' button; shown in `position` order."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="sections")
    position = models.PositiveSmallIntegerField(default=0)
    # Drafts may hold a longer title; validation (not the database) enforces the 24 characters.
    title = models.CharField(
        max_length=100,
        help_text=f"At most {limits.MAX_SECTION_TITLE_LENGTH} characters; no markdown.",
    )
    personalised = models.BooleanField(
        "filled per recipient",
        default=False,
        help_text="Its products are each recipient's own (their 'skus' column or the API's "
        "'skus'), checked against the catalog when they are queued; it has no products here.",
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
