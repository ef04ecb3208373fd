"""Reading recipients as given: numbers typed or pasted, or a CSV read lazily (a list may hold a
million rows, so it is never kept whole)."""

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from django.core.files.storage import Storage

from campaigns import limits
from campaigns.recipients.phones import split_numbers
from campaigns.recipients.products import is_product_column

# body_1 … body_999: a longer number cannot be a variable of a 1,024-character body.
BODY_COLUMN = re.compile(r"^body_[1-9]\d{0,2}$")


class RecipientFileError(Exception):
    """The recipients file cannot be used at all (unreadable, wrong columns)."""


@dataclass(frozen=True)
class RecipientInput:
    """One recipient as given: a number, its own values (CSV columns) and where it came from."""

    phone: str
    overrides: dict[str, str] = field(default_factory=dict)
    line: int = 0


def recipients_from_numbers(text: str) -> list[RecipientInput]:
    """Numbers typed or pasted, separated by commas, semicolons or new lines."""
    return [RecipientInput(phone, line=n) for n, phone in enumerate(split_numbers(text), start=1)]


DELIMITERS = ",;\t"  # Excel writes ";" in many locales, and CRM exports often tabs
NO_RECIPIENTS = "The file has no recipients."
SHOWN_COLUMNS = 10  # ignored columns named in the note; the rest are counted


class CsvRecipients:
    """Recipients from a CSV with a `phone` column and optional `header`, `body_1`…`body_n`,
    `ref`, `ref1`, `ref2` columns that override the campaign's values, and `skus`,
    `section_N_title`, `section_N_skus`, `thumbnail` that give each their own products
    (`campaigns.recipients.products`); read lazily.

    The delimiter (comma, semicolon or tab) is sniffed from the header line and a byte order
    mark is dropped. Other columns (a CRM export's name, email …) are ignored and named in
    `ignored_columns`; a `body_…` column that is not body_1 … body_999 refuses the file, since
    its values would be silently lost. A file with no row below its header is refused.

    The file is a path on disk, or a name in a Django `storage` (uploads, which several web
    servers and workers share); errors call it `shown_as` (the name its owner knows), else by
    its path.
    """

    def __init__(self, path: Path | str, *, storage: Storage | None = None, shown_as: str = ""):
        self.path, self.storage = path, storage
        self.shown_as = shown_as or str(path)
        self.delimiter = ","
        try:
            with self.open() as handle:
                first_line = handle.readline()
                self.delimiter = sniff_delimiter(first_line)
                handle.seek(0)
                reader = self.reader(handle)
                columns = [c.strip() for c in next(reader, [])]
                has_rows = any("".join(row).strip() for row in reader)
        except OSError as exc:
            raise RecipientFileError(
                f"Cannot read {self.shown_as}: {exc.strerror or exc}."
            ) from exc
        except (UnicodeDecodeError, csv.Error) as exc:
            raise RecipientFileError(f"{self.shown_as} is not a UTF-8 CSV file: {exc}.") from exc
        if "phone" not in columns:
            raise RecipientFileError(
                f"{self.shown_as} needs a 'phone' column; its columns are: "
                f"{', '.join(columns) or 'none'}."
            )
        misnamed = [c for c in columns if c.startswith("body_") and not BODY_COLUMN.match(c)]
        if misnamed:
            raise RecipientFileError(
                f"{self.shown_as} has columns this app does not know: {', '.join(misnamed)}. "
                "Body values go in body_1 … body_n."
            )
        misnamed = [c for c in columns if c.startswith("section_") and not is_product_column(c)]
        if misnamed:
            raise RecipientFileError(
                f"{self.shown_as} has columns this app does not know: {', '.join(misnamed)}. "
                "A section's own products go in section_N_skus (SKU1|SKU2|…) and its title in "
                "section_N_title, N from 1."
            )
        if not has_rows:
            raise RecipientFileError(f"{NO_RECIPIENTS} {self.shown_as} has only a header line.")
        self.columns = columns
        self.ignored_columns = [c for c in columns if c != "phone" and not self.is_used(c)]

    @staticmethod
    def is_used(column: str) -> bool:
        return (
            column in ("header", *limits.REF_FIELDS)
            or bool(BODY_COLUMN.match(column))
            or is_product_column(column)
        )

    @property
    def ignored_note(self) -> str:
        """The columns left out, in plain words ("" when every column is used)."""
        if not self.ignored_columns:
            return ""
        shown = [f"“{c[:40]}”" for c in self.ignored_columns[:SHOWN_COLUMNS]]
        more = len(self.ignored_columns) - len(shown)
        return (
            f"Column{'s' if len(self.ignored_columns) > 1 else ''} {', '.join(shown)}"
            f"{f' and {more} more' if more else ''} ignored: only phone, header, "
            "body_1 … body_n, ref, ref1, ref2, skus, thumbnail and section_N_title / "
            "section_N_skus are used."
        )

    def open(self) -> TextIO:
        return csv_text(self.path, storage=self.storage)

    def reader(self, handle: TextIO):
        return csv.reader(handle, delimiter=self.delimiter)

    def __iter__(self) -> Iterator[RecipientInput]:
        phone_at = self.columns.index("phone")
        others = [(at, name) for at, name in enumerate(self.columns) if self.is_used(name)]
        with self.open() as handle:
            reader = self.reader(handle)
            next(reader, None)
            try:
                for row in reader:
                    if not "".join(row).strip():
                        continue  # blank lines are not recipients
                    overrides = {
                        name: value
                        for at, name in others
                        if at < len(row) and (value := row[at].strip())
                    }
                    phone = row[phone_at] if phone_at < len(row) else ""
                    yield RecipientInput(phone, overrides, line=reader.line_num)
            except (UnicodeDecodeError, csv.Error) as exc:
                raise RecipientFileError(
                    f"{self.shown_as}, line {reader.line_num}: {exc}."
                ) from exc


def csv_text(path: Path | str, *, storage: Storage | None = None) -> TextIO:
    """A CSV file on disk or in `storage` as text for `csv.reader`: UTF-8, a byte order mark
    (Excel writes one) dropped."""
    binary = storage.open(path, "rb") if storage else open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def csv_header(
    path: Path | str, *, storage: Storage | None, shown_as: str, error: type[Exception], kind: str
) -> tuple[str, list[str], bool]:
    """An imported file's delimiter, its header's columns and whether any row follows; `error`
    (in plain words, naming the file `shown_as`) when it cannot be read as a `kind` file, its
    header holds a NUL character or names a column twice."""
    try:
        with csv_text(path, storage=storage) as handle:
            delimiter = sniff_delimiter(handle.readline())
            handle.seek(0)
            reader = csv.reader(handle, delimiter=delimiter)
            columns = [column.strip() for column in next(reader, [])]
            has_rows = any("".join(row).strip() for row in reader)
    except OSError as exc:
        raise error(f"Cannot read {shown_as}: {exc.strerror or exc}.") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise error(f"{shown_as} is not a UTF-8 {kind} file: {exc}.") from exc
    if any("\x00" in column for column in columns):
        raise error(f"{shown_as}: its header line holds a NUL character: save it again as text.")
    twice = sorted({c for c in columns if c and columns.count(c) > 1})
    if twice:
        raise error(
            f"{shown_as} has the column{'s' if len(twice) > 1 else ''} "
            f"{', '.join(twice)} more than once: keep one of each."
        )
    return delimiter, columns, has_rows


def sniff_delimiter(header_line: str) -> str:
    """The header line's delimiter among DELIMITERS; a comma when it has a single column."""
    try:
        return csv.Sniffer().sniff(header_line, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","
