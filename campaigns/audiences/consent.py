"""The consent ledger: the one place a contact's consent changes.

`consent_record` appends an event and sets the contact's derived consent in one transaction (the
contact is created when the number is new), `consent_record_many` is the ledger's bulk writer
(imports); `derived_consent` recomputes it from the ledger, the
definition the stored column must always equal.
"""

from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from phonenumbers import timezone as number_time_zones

from campaigns.models import Consent, ConsentEvent, Contact


@dataclass(frozen=True)
class Provenance:
    """Where a consent change came from: its source, a reference (file, message id, URL), who
    made it, and from which browser when it came from a form."""

    source: str
    ref: str = ""
    actor: object = None
    ip_address: str | None = None
    user_agent: str = ""


def guess_time_zone(phone: str) -> str:
    """The number's time zone when its country (or area) has one, else "" (e.g. India:
    Asia/Kolkata; the USA's +1 212: America/New_York)."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ""
    zones = [z for z in number_time_zones.time_zones_for_number(number) if "/" in z]
    return zones[0] if zones else ""


def contact_for(phone: str) -> Contact:
    """The contact with this E.164 number, created (time zone guessed) when it is new."""
    contact, _ = Contact.objects.get_or_create(
        phone=phone, defaults={"time_zone": guess_time_zone(phone)}
    )
    return contact


def consent_record(
    phone: str,
    status: str,
    provenance: Provenance,
    *,
    category: str = ConsentEvent.Category.MARKETING,
    when: datetime | None = None,
) -> ConsentEvent:
    """Append one event to the ledger and set the contact's current consent from it."""
    when = when or timezone.now()
    with transaction.atomic():
        contact = contact_for(phone)
        event = ConsentEvent.objects.create(
            contact=contact,
            status=status,
            category=category,
            source=provenance.source,
            source_ref=provenance.ref[:200],
            recorded_at=when,
            actor=provenance.actor,
            ip_address=provenance.ip_address,
            user_agent=provenance.user_agent[:500],
        )
        # An event recorded with an earlier time (a migration, a replay) does not win over a
        # later one: the column is what the ledger says now.
        latest = derived_consent(contact, category=category)
        Contact.objects.filter(pk=contact.pk).update(
            consent=latest.status if latest else Consent.UNKNOWN,
            consent_at=latest.recorded_at if latest else None,
        )
    return event


def derived_consent(contact: Contact, *, category: str = ConsentEvent.Category.MARKETING):
    """The ledger's latest event for the category (None: no consent recorded)."""
    return (
        ConsentEvent.objects.filter(contact=contact, category=category)
        .order_by("-recorded_at", "-id")
        .first()
    )


def consent_record_many(
    contacts: list[Contact],
    status: str,
    provenance: Provenance,
    *,
    category: str = ConsentEvent.Category.MARKETING,
    when: datetime | None = None,
) -> int:
    """The ledger's bulk writer (imports): one event per contact, all recorded at `when`, and
    their derived consent set, in one transaction with two queries. A contact whose ledger holds
    a later event keeps that one's status, as `consent_record` would. Returns how many."""
    if not contacts:
        return 0
    when = when or timezone.now()
    with transaction.atomic():
        ConsentEvent.objects.bulk_create(
            ConsentEvent(
                contact=contact,
                status=status,
                category=category,
                source=provenance.source,
                source_ref=provenance.ref[:200],
                recorded_at=when,
                actor=provenance.actor,
                ip_address=provenance.ip_address,
                user_agent=provenance.user_agent[:500],
            )
            for contact in contacts
        )
        Contact.objects.filter(pk__in=[contact.pk for contact in contacts]).filter(
            Q(consent_at=None) | Q(consent_at__lte=when)
        ).update(consent=status, consent_at=when)
    return len(contacts)
