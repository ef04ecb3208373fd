"""The consent ledger: the one place a contact's consent changes.

The opt-out list (`OptOut`, what every send path skips) is the ledger's materialised view of
marketing opt-outs: kept here, in the same transactions, and nowhere else.

`consent_record` appends an event and sets the contact's derived consent in one transaction (the
contact is created when the number is new), `consent_record_many` is the ledger's bulk writer
(imports); `derived_consent` recomputes it from the ledger, the
definition the stored column must always equal.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.localtime import guess_time_zone
from campaigns.models import Consent, ConsentEvent, Contact, OptOut

# Why a number is on the opt-out list, from the source of its opt-out.
OPT_OUT_REASONS = {
    ConsentEvent.Source.WHATSAPP_STOP: OptOut.Reason.STOP_KEYWORD,
    ConsentEvent.Source.META_131050: OptOut.Reason.META_131050,
}


@dataclass(frozen=True)
class Provenance:
    """Where a consent change came from: its source, a reference (file, message id, URL), who
    made it, and from which browser when it came from a form."""

    source: str
    ref: str = ""
    actor: object = None
    ip_address: str | None = None
    user_agent: str = ""
    inbox_id: int | None = None  # the callback it came in (a STOP reply, Meta's 131050)

    def event(self, contact: Contact, status: str, category: str, when) -> ConsentEvent:
        """The ledger's event for `contact`, from here (not saved yet)."""
        return ConsentEvent(
            contact=contact,
            status=status,
            category=category,
            source=self.source,
            source_ref=self.ref[:200],
            recorded_at=when,
            actor=self.actor,
            ip_address=self.ip_address,
            user_agent=self.user_agent[:500],
        )


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
        event = provenance.event(contact, status, category, when)
        event.save()
        # An event recorded with an earlier time (a migration, a replay) does not win over a
        # later one: the column is what the ledger says now.
        latest = derived_consent(contact, category=category)
        Contact.objects.filter(pk=contact.pk).update(
            consent=latest.status if latest else Consent.UNKNOWN,
            consent_at=latest.recorded_at if latest else None,
        )
        if category == ConsentEvent.Category.MARKETING:
            opted_out = latest if latest and latest.status == Consent.OPTED_OUT else None
            inbox_id = provenance.inbox_id if opted_out == event else None
            _sync_opt_outs([phone], opted_out, inbox_id=inbox_id)
    return event


def _sync_opt_outs(phones: list[str], opt_out: ConsentEvent | None, *, inbox_id=None):
    """The opt-out list follows the ledger: these numbers on it (kept as first recorded) when
    `opt_out` is their latest word, off it otherwise."""
    if opt_out is None:
        OptOut.objects.filter(phone__any_of=phones).delete()
        return
    reason = OPT_OUT_REASONS.get(opt_out.source, OptOut.Reason.MANUAL)
    keyword = opt_out.source_ref[:100] if reason == OptOut.Reason.STOP_KEYWORD else ""
    OptOut.objects.bulk_create(
        [OptOut(phone=p, reason=reason, keyword=keyword, source_id=inbox_id) for p in phones],
        ignore_conflicts=True,
    )


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
            provenance.event(contact, status, category, when) for contact in contacts
        )
        Contact.objects.filter(pk__in=[contact.pk for contact in contacts]).filter(
            Q(consent_at=None) | Q(consent_at__lte=when)
        ).update(consent=status, consent_at=when)
        if category == ConsentEvent.Category.MARKETING:
            phones = Contact.objects.filter(pk__in=[contact.pk for contact in contacts])
            out = list(phones.filter(consent=Consent.OPTED_OUT).values_list("phone", flat=True))
            rest = list(phones.exclude(consent=Consent.OPTED_OUT).values_list("phone", flat=True))
            sample = ConsentEvent(source=provenance.source, source_ref=provenance.ref)
            if out:
                _sync_opt_outs(out, sample, inbox_id=provenance.inbox_id)
            if rest:
                _sync_opt_outs(rest, None)
    return len(contacts)


def consent_from_list(numbers: list[str], provenance: Provenance, *, when=None) -> int:
    """A recipient list that is itself the proof of opt-in (MPM_LISTS_CARRY_CONSENT): each of its
    numbers with no consent recorded gets an opt-in from it (its contact created as needed); an
    opt-out stands. Returns how many opt-ins were recorded."""
    known = set(Contact.objects.filter(phone__any_of=numbers).values_list("phone", flat=True))
    Contact.objects.bulk_create(
        [Contact(phone=n, time_zone=guess_time_zone(n)) for n in numbers if n not in known],
        ignore_conflicts=True,  # a contact created meanwhile by another list or an import
    )
    unknown = list(Contact.objects.filter(phone__any_of=numbers, consent=Consent.UNKNOWN))
    return consent_record_many(unknown, Consent.OPTED_IN, provenance, when=when)
