"""Audiences: contacts, the append-only ledger of their consent, static lists and saved segments.

A contact's current consent is derived from its ledger (the latest event of each category);
`Contact.consent` keeps that derivation on the row so that a send can filter a million contacts
on an index. Only `campaigns.audiences.consent.consent_record` writes an event and that column,
in one transaction: nothing else changes either.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Consent(models.TextChoices):
    """A contact's current marketing consent."""

    UNKNOWN = "unknown", "No consent recorded"
    OPTED_IN = "opted_in", "Opted in"
    OPTED_OUT = "opted_out", "Opted out"


class Contact(models.Model):
    phone = models.CharField(max_length=16, unique=True, help_text="E.164, e.g. +919876543210.")
    name = models.CharField(max_length=200, blank=True)
    attributes = models.JSONField(default=dict, blank=True, help_text="Any other columns.")
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        help_text="IANA name, e.g. Asia/Kolkata; guessed from the number.",
    )
    consent = models.CharField(
        max_length=10, choices=Consent.choices, default=Consent.UNKNOWN, editable=False
    )
    consent_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["phone"]
        indexes = [models.Index(fields=["consent", "phone"], name="contact_consent")]

    def __str__(self):
        return f"{self.name} ({self.phone})" if self.name else self.phone


class ConsentEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("The consent ledger is append-only: record a new event instead.")

    def delete(self):
        raise TypeError("The consent ledger is append-only: record a new event instead.")


class ConsentEvent(models.Model):
    """One change of a contact's consent, as it happened: never edited, never deleted."""

    class Category(models.TextChoices):
        MARKETING = "marketing", "Marketing"

    class Source(models.TextChoices):
        IMPORT = "import", "Contact import"
        FORM = "form", "Form"
        API = "api", "HTTP API"
        WHATSAPP_STOP = "whatsapp_stop", "Replied with a stop word on WhatsApp"
        WHATSAPP_START = "whatsapp_start", "Replied with a start word on WhatsApp"
        META_131050 = "meta_131050", "Stopped marketing messages in WhatsApp (Meta 131050)"
        ADMIN = "admin", "Staff, in the admin"
        RECIPIENT_LIST = "recipient_list", "A recipient list that carries its own proof"

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="consent_events")
    status = models.CharField(
        max_length=10, choices=[c for c in Consent.choices if c[0] != Consent.UNKNOWN]
    )
    category = models.CharField(max_length=20, choices=Category.choices, default="marketing")
    source = models.CharField(max_length=20, choices=Source.choices)
    source_ref = models.CharField(
        max_length=200, blank=True, help_text="Where it came from: a file, a message id, a URL."
    )
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)

    objects = ConsentEventQuerySet.as_manager()

    class Meta:
        ordering = ["contact", "recorded_at", "id"]
        indexes = [
            models.Index(fields=["contact", "category", "recorded_at"], name="consent_ledger")
        ]

    def __str__(self):
        return f"{self.contact.phone}: {self.get_status_display()} ({self.get_source_display()})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("The consent ledger is append-only: record a new event instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The consent ledger is append-only: record a new event instead.")


class ContactList(models.Model):
    """A static list: the contacts put in it, by import or by hand."""

    name = models.CharField(max_length=200, unique=True)
    contacts = models.ManyToManyField(Contact, related_name="lists", blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Segment(models.Model):
    """A saved filter over contacts (attributes, consent, engagement), evaluated at send time.
    `rules` is checked and turned into a query by `campaigns.audiences.segments`."""

    name = models.CharField(max_length=200, unique=True)
    rules = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name
