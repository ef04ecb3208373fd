"""Contact imports: a CSV read lazily (a file may hold a million rows), checked row by row, then
written in chunks (bulk inserts and updates, consent through the ledger's bulk writer).

The dry run and the import are one function (`contacts_import`, `dry_run=True` writes nothing),
so the preview's counts are what the import then does. Duplicate numbers are merged by keeping
each number's last row only: a first pass over the file finds it (and every row error), the
second pass handles the kept rows in chunks, so a chunk never sees the same number twice.
"""

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from zoneinfo import available_timezones

from django.core.files.storage import Storage
from django.db import transaction
from django.utils import timezone

from campaigns import conf
from campaigns.audiences.consent import Provenance, consent_record_many
from campaigns.localtime import guess_time_zone
from campaigns.models import Consent, Contact, ContactImport
from campaigns.recipients.inputs import csv_header, csv_text
from campaigns.recipients.phones import normalise_phone
from campaigns.spreadsheets import spreadsheet_unquoted

CONSENT_COLUMNS = ("opted_in", "whatsapp_opted")  # ours, and Interakt's export
EXPORT_ONLY_COLUMNS = ("consent", "consent_at")  # written by the export, never read back
NAME_MAX = Contact._meta.get_field("name").max_length
ATTRIBUTE_MAX = 1000  # characters in one attribute value
FIRST_ERRORS = 50  # row errors kept for the preview (all are counted)
FIRST_ROWS = 10  # rows shown as they will be stored
DUPLICATE_EXAMPLES = 10
TRUE_WORDS = {"true", "yes", "1", "y"}
FALSE_WORDS = {"false", "no", "0", "n"}
ACTIONS = ("new", "updated", "unchanged", "opted_in", "opted_out")


class ContactFileError(Exception):
    """The file cannot be imported at all (unreadable, no phone column)."""


@dataclass(frozen=True)
class ContactRow:
    """One row as it will be stored; `opt_in` says whether it proves an opt-in."""

    line: int
    phone: str
    name: str
    time_zone: str
    attributes: dict[str, str]
    opt_in: bool


@cache
def known_time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


class ContactCsv:
    """A contact CSV: a `phone` column, or `country_code` + `phone_number` (Interakt's export);
    optional `name`, `time_zone` and a consent column (`opted_in` / `whatsapp_opted`); every
    other column is an attribute. Comma, semicolon or tab, with or without a byte order mark.
    Errors call the file `shown_as` (the name its owner knows)."""

    def __init__(self, path: Path | str, *, storage: Storage | None = None, shown_as: str = ""):
        self.path, self.storage = path, storage
        self.shown_as = shown_as or str(path)
        self.delimiter, columns, has_rows = csv_header(
            path, storage=storage, shown_as=self.shown_as, error=ContactFileError, kind="CSV"
        )
        self.columns = columns
        if "phone" not in columns and not {"country_code", "phone_number"} <= set(columns):
            raise ContactFileError(
                f"{self.shown_as} needs a 'phone' column (or 'country_code' and 'phone_number'); "
                f"its columns are: {', '.join(c[:40] for c in columns[:20]) or 'none'}."
            )
        if not has_rows:
            raise ContactFileError(f"{self.shown_as} has only a header line: no contacts.")
        self.consent_column = next((c for c in CONSENT_COLUMNS if c in columns), "")
        known = {"phone", "country_code", "phone_number", "name", "time_zone", *CONSENT_COLUMNS}
        if "phone" in columns:  # a phone column wins; the Interakt pair is then only attributes
            known -= {"country_code", "phone_number"}
        self.attribute_columns = [
            c for c in columns if c and c not in known and c not in EXPORT_ONLY_COLUMNS
        ]

    def notes(self, *, carry_consent: bool, mode: str) -> list[str]:
        """What the file holds that the import leaves out, in plain words."""
        notes = []
        if self.consent_column and mode == ContactImport.Mode.OPT_OUT:
            notes.append(f"Column “{self.consent_column}” ignored: this import opts every row out.")
        elif self.consent_column and not carry_consent:
            notes.append(
                f"Column “{self.consent_column}” ignored: lists are not taken as proof of opt-in "
                "here (MPM_LISTS_CARRY_CONSENT is off), so no opt-in is recorded."
            )
        skipped = [c for c in self.columns if c in EXPORT_ONLY_COLUMNS]
        if skipped:
            notes.append(
                f"Column{'s' if len(skipped) > 1 else ''} {', '.join(skipped)} ignored: consent "
                "changes only through the ledger (opt-ins, opt-outs), never from a copy of it."
            )
        if "" in self.columns:
            notes.append("Columns without a name in the header line ignored.")
        return notes

    def rows(self, *, carry_consent: bool) -> Iterator[tuple[int, ContactRow | None, str]]:
        """(line, the row, "") or (line, None, the error in plain words), blank lines left out."""
        at = [(n, name) for n, name in enumerate(self.columns) if name]
        with csv_text(self.path, storage=self.storage) as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            next(reader, None)
            try:
                for cells in reader:
                    if not "".join(cells).strip():
                        continue
                    line = reader.line_num
                    if any("\x00" in value for value in cells):
                        problem = f"Line {line}: holds a NUL character, which cannot be stored."
                        yield line, None, problem
                        continue
                    given = {name: cells[n].strip() for n, name in at if n < len(cells)}
                    yield line, *self.row(line, given, carry_consent=carry_consent)
            except (UnicodeDecodeError, csv.Error) as exc:
                raise ContactFileError(f"{self.shown_as}, line {reader.line_num}: {exc}.") from exc

    def row(self, line: int, given: dict[str, str], *, carry_consent: bool):
        """(the row, "") or (None, its first problem), from its cells by column name."""
        if "phone" in self.columns:
            raw = given.get("phone", "")
        else:
            raw = interakt_number(given.get("country_code", ""), given.get("phone_number", ""))
        phone, reason = normalise_phone(raw)
        if phone is None:
            return None, f"Line {line}: phone: {reason}"
        name = spreadsheet_unquoted(given.get("name", ""))
        if len(name) > NAME_MAX:
            return None, f"Line {line}: name is {len(name)} characters; the limit is {NAME_MAX}."
        time_zone = given.get("time_zone", "")
        if time_zone and time_zone not in known_time_zones():
            return None, (
                f"Line {line}: time_zone “{time_zone[:60]}” is not a time zone name "
                "(e.g. Asia/Kolkata); leave it empty to guess it from the number."
            )
        attributes = {}
        for column in self.attribute_columns:
            value = spreadsheet_unquoted(given.get(column, ""))
            if len(value) > ATTRIBUTE_MAX:
                return None, (
                    f"Line {line}: {column[:40]} is {len(value)} characters; "
                    f"the limit is {ATTRIBUTE_MAX}."
                )
            if value:
                attributes[column] = value
        opt_in = carry_consent
        if carry_consent and self.consent_column:
            word = given.get(self.consent_column, "").lower()
            if word not in TRUE_WORDS | FALSE_WORDS:
                return None, (
                    f"Line {line}: {self.consent_column} “{word[:20]}” is not a yes or no: "
                    "write TRUE or FALSE (yes/no, 1/0)."
                )
            opt_in = word in TRUE_WORDS
        return ContactRow(line, phone, name, time_zone, attributes, opt_in), ""


def interakt_number(country_code: str, number: str) -> str:
    """Interakt's two columns as one number: "91" + "9876543210" → "+919876543210" (a + before
    the code and a trunk 0 before the number are dropped; a number written whole is kept)."""
    if number.startswith("+") or not country_code:
        return number
    return f"+{country_code.lstrip('+').lstrip('0')}{number.lstrip('0')}"


@dataclass
class ImportReport:
    """What an import does (or its dry run would do): counts, the first errors by line, the
    merged duplicates' numbers and the first rows as they will be stored."""

    rows: int = 0  # rows read (blank lines left out)
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    opted_in: int = 0
    opted_out: int = 0
    duplicates: int = 0  # rows merged into a later row of the same number
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    duplicate_examples: list[str] = field(default_factory=list)
    first_rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def done_counts(self) -> dict[str, int]:
        """What the writes did so far (kept with each chunk, so a resumed import goes on)."""
        return {name: getattr(self, name) for name in ACTIONS}

    def line(self) -> str:
        return f"{self.new} new, {self.updated} updated."


def contacts_import(
    contacts_csv: ContactCsv,
    *,
    mode: str,
    provenance: Provenance,
    dry_run: bool,
    after_line: int = 0,
    done: dict[str, int] | None = None,
    chunk_done: Callable[[ImportReport, int], object] | None = None,
) -> ImportReport:
    """Import the file's valid rows (or, `dry_run`, only count what that would do).

    An import resumed after a killed worker passes the last line committed (`after_line`) and
    the counts up to it (`done`); `chunk_done(report, last_line)` runs inside each chunk's
    transaction, so the progress written there is always what the database holds."""
    carry_consent = conf.MPM_LISTS_CARRY_CONSENT
    report = ImportReport(notes=contacts_csv.notes(carry_consent=carry_consent, mode=mode))
    last_line = {}  # number (as an int: a million of them fit in memory) → its last line
    for line, row, problem in contacts_csv.rows(carry_consent=carry_consent):
        report.rows += 1
        if row is None:
            report.errors += 1
            if len(report.first_errors) < FIRST_ERRORS:
                report.first_errors.append(problem)
            continue
        key = int(row.phone[1:])
        if key in last_line:
            report.duplicates += 1
            if len(report.duplicate_examples) < DUPLICATE_EXAMPLES:
                report.duplicate_examples.append(row.phone)
        last_line[key] = line
    for name in ACTIONS:
        setattr(report, name, (done or {}).get(name, 0))
    chunk: list[ContactRow] = []
    size = conf.MPM_IMPORT_CHUNK_ROWS
    for line, row, _ in contacts_csv.rows(carry_consent=carry_consent):
        if row is None or line <= after_line or last_line[int(row.phone[1:])] != line:
            continue
        chunk.append(row)
        if len(chunk) >= size:
            import_chunk(
                chunk,
                report,
                mode=mode,
                provenance=provenance,
                dry_run=dry_run,
                chunk_done=chunk_done,
            )
            chunk = []
    if chunk:
        import_chunk(
            chunk, report, mode=mode, provenance=provenance, dry_run=dry_run, chunk_done=chunk_done
        )
    return report


def import_chunk(chunk, report, *, mode, provenance, dry_run, chunk_done):
    """One chunk in one transaction: new contacts inserted, changed ones updated, then consent."""
    existing = {
        contact.phone: contact
        for contact in Contact.objects.filter(phone__any_of=[row.phone for row in chunk]).only(
            "pk", "phone", "name", "attributes", "time_zone", "consent"
        )
    }
    created, changed, opt_ins = [], [], []
    now = timezone.now()
    for row in chunk:
        contact = existing.get(row.phone)
        if contact is None:
            contact = Contact(
                phone=row.phone,
                name=row.name,
                attributes=row.attributes,
                time_zone=row.time_zone or guess_time_zone(row.phone),
                created_at=now,
                updated_at=now,
            )
            created.append(contact)
            action = "new"
        elif mode == ContactImport.Mode.UPDATE and updated_with(contact, row):
            contact.updated_at = now
            changed.append(contact)
            action = "updated"
        else:
            action = "unchanged"
        setattr(report, action, getattr(report, action) + 1)
        opts_in = (
            mode != ContactImport.Mode.OPT_OUT and row.opt_in and contact.consent == Consent.UNKNOWN
        )
        if opts_in:
            opt_ins.append(row.phone)
        if len(report.first_rows) < FIRST_ROWS:
            report.first_rows.append(
                {
                    "line": row.line,
                    "phone": contact.phone,
                    "name": contact.name,
                    "time_zone": contact.time_zone,
                    "attributes": contact.attributes,
                    "action": action,
                    "consent": "opted out"
                    if mode == ContactImport.Mode.OPT_OUT
                    else "opted in"
                    if opts_in
                    else "",
                }
            )
    if mode == ContactImport.Mode.OPT_OUT:
        report.opted_out += len(chunk)
    else:
        report.opted_in += len(opt_ins)
    if dry_run:
        if chunk_done:
            chunk_done(report, chunk[-1].line)
        return
    with transaction.atomic():
        Contact.objects.bulk_create(created, batch_size=1000)
        if changed:
            Contact.objects.bulk_update(
                changed, ["name", "attributes", "time_zone", "updated_at"], batch_size=1000
            )
        if mode == ContactImport.Mode.OPT_OUT:
            consent_for = [row.phone for row in chunk]
            status = Consent.OPTED_OUT
        else:
            consent_for, status = opt_ins, Consent.OPTED_IN
        if consent_for:
            contacts = list(Contact.objects.filter(phone__any_of=consent_for).only("pk"))
            consent_record_many(contacts, status, provenance, when=now)
        if chunk_done:
            chunk_done(report, chunk[-1].line)


def updated_with(contact: Contact, row: ContactRow) -> bool:
    """Merge the row into the contact (attributes merged, empty cells keep what is stored);
    True when anything changed."""
    before = (contact.name, contact.time_zone, dict(contact.attributes))
    if row.name:
        contact.name = row.name
    if row.time_zone:
        contact.time_zone = row.time_zone
    contact.attributes = {**contact.attributes, **row.attributes}
    return (contact.name, contact.time_zone, contact.attributes) != before
