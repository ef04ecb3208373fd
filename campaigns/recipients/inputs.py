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


class CsvRecipients:
    """Recipients from a CSV with a `phone` column and optional `header`, `body_1`…`body_n`,
    `ref`, `ref1`, `ref2` columns that override the campaign's values; read lazily.

    The file is a path on disk, or a name in a Django `storage` (uploads, which several web
    servers and workers share); errors call it `shown_as` (the name its owner knows), else by
    its path.
    """

    def __init__(self, path: Path | str, *, storage: Storage | None = None, shown_as: str = ""):
        self.path, self.storage = path, storage
        self.shown_as = shown_as or str(path)
        try:
            with self.open() as handle:
                columns = [c.strip() for c in next(csv.reader(handle), [])]
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
        known = ("phone", "header", *limits.REF_FIELDS)
        unknown = [c for c in columns if c not in known and not BODY_COLUMN.match(c)]
        if unknown:
            raise RecipientFileError(
                f"{self.shown_as} has columns this app does not know: {', '.join(unknown)}. "
                "Use phone, header, body_1 … body_n, ref, ref1, ref2."
            )
        self.columns = columns

    def open(self) -> TextIO:
        binary = self.storage.open(self.path, "rb") if self.storage else open(self.path, "rb")  # noqa: SIM115
        return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")

    def __iter__(self) -> Iterator[RecipientInput]:
        phone_at = self.columns.index("phone")
        others = [(at, name) for at, name in enumerate(self.columns) if name != "phone"]
        with self.open() as handle:
            reader = csv.reader(handle)
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
