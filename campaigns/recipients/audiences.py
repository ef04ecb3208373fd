"""Recipients from a list or a segment: the contacts read in chunks (a segment may match a
million), each a RecipientInput whose own values are the contact's attributes that name a send
column (header, body_N, ref, skus …); and what a send to them would leave out, for the
confirmation."""

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import QuerySet

from campaigns import conf
from campaigns.audiences.segments import segment_contacts
from campaigns.models import Campaign, Consent, Contact, ContactList, Segment
from campaigns.recipients.eligibility import frequency_cap_reason, skip_reasons
from campaigns.recipients.inputs import CsvRecipients, RecipientInput
from campaigns.recipients.queueing import CHUNK


def audience_contacts(*, contact_list: ContactList | None = None, segment: Segment | None = None):
    """The contacts of the list, or those the segment matches now."""
    if segment is not None:
        return segment_contacts(segment.rules)
    return Contact.objects.filter(lists=contact_list)


def campaign_audience(campaign: Campaign) -> QuerySet:
    """The contacts of the list or segment chosen for the campaign (one of them is)."""
    return audience_contacts(contact_list=campaign.audience_list, segment=campaign.audience_segment)


def _in_chunks(contacts: QuerySet, *fields: str) -> Iterator[list[tuple]]:
    """(pk, *fields) of the contacts in id order, a chunk at a time (keyset: no OFFSET, so the
    last chunk of a million costs what the first does)."""
    after = 0
    while rows := list(
        contacts.filter(pk__gt=after).order_by("pk").values_list("pk", *fields)[:CHUNK]
    ):
        yield rows
        after = rows[-1][0]


def contact_recipients(contacts: QuerySet) -> Iterator[RecipientInput]:
    """Each contact as a recipient; its `line` is the contact's id (a problem names it)."""
    for rows in _in_chunks(contacts, "phone", "attributes"):
        for pk, phone, attributes in rows:
            overrides = {
                name: str(value)
                for name, value in (attributes or {}).items()
                if CsvRecipients.is_used(name) and value not in (None, "")
            }
            yield RecipientInput(phone, overrides, line=pk)


@dataclass(frozen=True)
class AudienceSummary:
    """What the confirmation shows before a send to a list or segment."""

    count: int
    without_consent: int  # consent not opted in: the send leaves them out
    capped: int  # with consent, but within the frequency cap

    @property
    def to_send(self) -> int:
        return self.count - self.without_consent - self.capped


def audience_summary(campaign: Campaign, contacts: QuerySet) -> AudienceSummary:
    """Count the audience and those a send would leave out: two counts, then the frequency cap
    checked (by the send's own `skip_reasons`) over the consenting contacts in chunks."""
    consenting = contacts.filter(consent=Consent.OPTED_IN)
    cap_reason = frequency_cap_reason(conf.MPM_FREQUENCY_CAP_HOURS)
    capped = 0
    for rows in _in_chunks(consenting, "phone"):
        phones = [phone for _, phone in rows]
        capped += sum(r == cap_reason for r in skip_reasons(campaign, phones).values())
    count = contacts.count()
    return AudienceSummary(count, count - consenting.count(), capped)
