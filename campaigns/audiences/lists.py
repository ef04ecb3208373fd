"""Static lists: numbers pasted into a list become contacts (no consent is recorded by that),
invalid ones reported by line with the phones module's reasons."""

from dataclasses import dataclass, field

from django.db import transaction

from campaigns.audiences.consent import contact_for
from campaigns.models import ContactList
from campaigns.recipients.phones import parse_recipients, split_numbers

MAX_PASTED = 10_000  # numbers per paste: a bigger list is a contact import


@dataclass
class ListAddReport:
    added: int = 0
    already: int = 0
    invalid: list[tuple[int, str, str]] = field(default_factory=list)  # (line, value, reason)
    too_many: bool = False


def list_add_numbers(contact_list: ContactList, text: str) -> ListAddReport:
    """Add each valid pasted number to the list (its contact created when new); the invalid
    ones are reported and the valid ones beside them kept."""
    values = split_numbers(text)
    report = ListAddReport(too_many=len(values) > MAX_PASTED)
    if report.too_many:
        return report
    parsed = parse_recipients(values)
    report.invalid = parsed.invalid
    with transaction.atomic():
        contacts = [contact_for(number) for number in parsed.valid]
        present = set(
            contact_list.contacts.filter(pk__in=[c.pk for c in contacts]).values_list(
                "pk", flat=True
            )
        )
        new = [c for c in contacts if c.pk not in present]
        contact_list.contacts.add(*new)
    report.added, report.already = len(new), len(present)
    return report


def list_remove_contacts(contact_list: ContactList, contact_ids: list[int]) -> int:
    """Take these contacts out of the list (the contacts themselves stay); how many were in it."""
    through = ContactList.contacts.through
    removed, _ = through.objects.filter(
        contactlist_id=contact_list.pk, contact_id__in=contact_ids
    ).delete()
    return removed
