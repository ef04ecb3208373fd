"""Reading recipients as given: numbers typed or pasted, or a CSV read lazily (a list may hold a
million rows, so it is never kept whole)."""

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

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
    `ref`, `ref1`, `ref2` columns that override the campaign's values; read lazily."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            with self.path.open(newline="", encoding="utf-8-sig") as handle:
                columns = [c.strip() for c in next(csv.reader(handle), [])]
        except OSError as exc:
            raise RecipientFileError(f"Cannot read {self.path}: {exc.strerror}.") from exc
        except (UnicodeDecodeError, csv.Error) as exc:
            raise RecipientFileError(f"{self.path} is not a UTF-8 CSV file: {exc}.") from exc
        if "phone" not in columns:
            raise RecipientFileError(
                f"{self.path} needs a 'phone' column; its columns are: "
                f"{', '.join(columns) or 'none'}."
            )
        known = ("phone", "header", *limits.REF_FIELDS)
        unknown = [c for c in columns if c not in known and not BODY_COLUMN.match(c)]
        if unknown:
            raise RecipientFileError(
                f"{self.path} has columns this app does not know: {', '.join(unknown)}. "
                "Use phone, header, body_1 … body_n, ref, ref1, ref2."
            )
        self.columns = columns

    def __iter__(self) -> Iterator[RecipientInput]:
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            next(reader, None)
            phone_at = self.columns.index("phone")
            try:
                for row in reader:
                    if not any(cell.strip() for cell in row):
                        continue  # blank lines are not recipients
                    overrides = {
                        name: value.strip()
                        for name, value in zip(self.columns, row, strict=False)
                        if name != "phone" and value.strip()
                    }
                    phone = row[phone_at] if phone_at < len(row) else ""
                    yield RecipientInput(phone, overrides, line=reader.line_num)
            except (UnicodeDecodeError, csv.Error) as exc:
                raise RecipientFileError(f"{self.path}, line {reader.line_num}: {exc}.") from exc
