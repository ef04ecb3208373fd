"""Contacts as CSV, streamed: read in chunks (never all at once), in the columns an import reads
back (phone, name, time_zone, then one per attribute; consent and consent_at are for reading),
every text cell quoted where a spreadsheet could run it as a formula."""

import csv
import io
import json
from collections.abc import Iterator

from campaigns.models import Consent, Contact
from campaigns.spreadsheets import spreadsheet_safe

EXPORT_COLUMNS = ("phone", "name", "time_zone", "consent", "consent_at")
CHUNK = 2000  # rows read per query, and per block of the streamed answer


def contacts_for_export(consent: str = ""):
    contacts = Contact.objects.order_by("pk")
    return contacts.filter(consent=consent) if consent in Consent.values else contacts


def attribute_keys(consent: str = "") -> list[str]:
    """Every attribute key the exported contacts use, sorted (one pass over the attributes)."""
    keys: set[str] = set()
    for attributes in (
        contacts_for_export(consent).values_list("attributes", flat=True).iterator(chunk_size=CHUNK)
    ):
        if isinstance(attributes, dict):
            keys.update(attributes)
    return sorted(keys - set(EXPORT_COLUMNS))


def cell(value) -> str:
    """An attribute as text: strings as they are, anything else (an API's numbers) as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def contacts_csv_lines(consent: str = "") -> Iterator[str]:
    """The export, in blocks of CHUNK rows (one block per row costs more than the row)."""
    keys = attribute_keys(consent)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*EXPORT_COLUMNS, *keys])
    rows = contacts_for_export(consent).values_list(
        "phone", "name", "time_zone", "consent", "consent_at", "attributes"
    )
    for n, (phone, name, time_zone, consent_, consent_at, attributes) in enumerate(
        rows.iterator(chunk_size=CHUNK), 1
    ):
        attributes = attributes if isinstance(attributes, dict) else {}
        writer.writerow(
            [
                phone,
                spreadsheet_safe(name),
                time_zone,
                consent_,
                consent_at.isoformat() if consent_at else "",
                *(spreadsheet_safe(cell(attributes[k])) if k in attributes else "" for k in keys),
            ]
        )
        if n % CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
