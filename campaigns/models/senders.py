"""Senders: the WhatsApp business numbers campaigns go out from, each with its Kaleyra account.

The API key is never stored here: a sender names the environment variable that holds it
(`campaigns.conf.sender_api_key`). With no Sender row at all, sends use the KALEYRA_* settings as
they always did; migration 0029 turns those settings into the default sender.
"""

import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from campaigns import limits

# Meta's throughput tiers for one business number: 80 messages/second by default, up to 1,000.
MIN_RATE_PER_SECOND = 80
MAX_RATE_PER_SECOND = 1000
DEFAULT_KEY_VARIABLE = "KALEYRA_API_KEY"
# A key variable is one of KALEYRA_API_KEY, KALEYRA_API_KEY_<SUFFIX>: whoever may edit a sender
# can never point the app at another secret (DJANGO_SECRET_KEY, a database password), whose
# value would then travel in a request header.
KEY_VARIABLE_RE = re.compile(r"^KALEYRA_API_KEY(?:_[A-Z0-9_]{1,80})?$")
REGION_CHOICES = [(r, f"{r} ({domain})") for r, domain in limits.REGION_DOMAINS.items()]
E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")


class SenderQuerySet(models.QuerySet):
    def active(self):
        return self.filter(active=True)

    def default(self):
        """The active default sender (none, or one: a partial unique constraint)."""
        return self.filter(active=True, is_default=True)


def digits(number: str) -> str:
    """A number as Kaleyra's callbacks and the pacing rows write it: digits only."""
    return "".join(ch for ch in number or "" if ch.isdigit())


class Sender(models.Model):
    """One WhatsApp business number and the Kaleyra account it sends through."""

    display_name = models.CharField(
        max_length=100,
        help_text="The business name customers see in WhatsApp (shown in the composer's preview).",
    )
    logo_url = models.URLField(
        "logo", max_length=500, blank=True, help_text="The profile picture's URL, for the preview."
    )
    business_number = models.CharField(
        max_length=16,
        unique=True,
        validators=[
            RegexValidator(
                E164_RE,
                "Write the business number in E.164: + then the country code and number, "
                "digits only (e.g. +919000000001).",
            )
        ],
        help_text="The WhatsApp business number sent from, in E.164 (e.g. +919000000001).",
    )
    region = models.CharField(
        max_length=2,
        choices=REGION_CHOICES,
        default="in",
        help_text="Kaleyra's region of the account: picks the API's domain.",
    )
    sid = models.CharField("SID", max_length=100, help_text="The Kaleyra account's SID.")
    api_key_variable = models.CharField(
        "API key variable",
        max_length=100,
        default=DEFAULT_KEY_VARIABLE,
        validators=[
            RegexValidator(
                KEY_VARIABLE_RE,
                "The API key variable must be KALEYRA_API_KEY or start with KALEYRA_API_KEY_ "
                "(capital letters, digits and _), e.g. KALEYRA_API_KEY_BRAND2.",
            )
        ],
        help_text="The name of the environment variable that holds this account's API key "
        "(e.g. KALEYRA_API_KEY_BRAND2). The key itself is never stored here.",
    )
    rate_per_second = models.PositiveIntegerField(
        "messages per second",
        default=MIN_RATE_PER_SECOND,
        validators=[
            MinValueValidator(
                MIN_RATE_PER_SECOND,
                f"The rate must be at least {MIN_RATE_PER_SECOND} messages a second "
                "(Meta's default tier).",
            ),
            MaxValueValidator(
                MAX_RATE_PER_SECOND,
                f"The rate must be at most {MAX_RATE_PER_SECOND:,} messages a second "
                "(Meta's highest tier).",
            ),
        ],
        help_text=f"The number's throughput tier at Meta: {MIN_RATE_PER_SECOND} to "
        f"{MAX_RATE_PER_SECOND:,}. The engine never sends faster from this number.",
    )
    waba_id = models.CharField(
        "WABA ID", max_length=50, blank=True, help_text="The WhatsApp Business Account's id."
    )
    is_default = models.BooleanField(
        "default",
        default=False,
        help_text="Campaigns that do not choose a sender go out from this one.",
    )
    active = models.BooleanField(
        default=True, help_text="Only active senders can be chosen and sent from."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SenderQuerySet.as_manager()

    class Meta:
        ordering = ["-is_default", "display_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="one_default_sender",
                violation_error_message="Another sender is the default already: only one can be.",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    rate_per_second__gte=MIN_RATE_PER_SECOND,
                    rate_per_second__lte=MAX_RATE_PER_SECOND,
                ),
                name="sender_rate_within_meta_tiers",
                violation_error_message=f"The rate must be between {MIN_RATE_PER_SECOND} and "
                f"{MAX_RATE_PER_SECOND:,} messages a second.",
            ),
        ]

    def __str__(self):
        return f"{self.display_name} ({self.business_number})"

    def clean(self):
        super().clean()
        if self.is_default and not self.active:
            raise ValidationError(
                {
                    "active": "The default sender must be active: make another sender the default "
                    "first, or keep this one active."
                }
            )

    @property
    def number_digits(self) -> str:
        return digits(self.business_number)
