"""Phone numbers: typed or pasted lists split, numbers written in E.164, and the regions where
Meta does not deliver marketing templates."""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import phonenumbers

from campaigns import limits


def normalise_phone(raw: str) -> tuple[str | None, str]:
    """(E.164 number, "") for a valid number, else (None, the reason in plain words)."""
    value = (raw or "").strip()
    if not value:
        return None, "The number is empty."
    if value.startswith("00"):
        value = "+" + value[2:]
    if not value.startswith("+"):
        return None, f"“{raw}” has no country code: write it as +<country code><number>."
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return None, f"“{raw}” is not a phone number."
    if not phonenumbers.is_valid_number(number):
        return None, f"“{raw}” is not a valid number for its country code."
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), ""


def is_marketing_blocked(e164: str) -> bool:
    """True for numbers where Meta no longer delivers marketing templates (US, since 2025-04-01)."""
    region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    return region in limits.MARKETING_BLOCKED_REGIONS


@dataclass
class RecipientList:
    """Numbers as typed or pasted, sorted into valid (deduplicated) and invalid, with line numbers."""

    valid: list[str] = field(default_factory=list)
    invalid: list[tuple[int, str, str]] = field(default_factory=list)  # (line, value, reason)
    duplicates: list[str] = field(default_factory=list)


def split_numbers(text: str) -> list[str]:
    """Numbers typed or pasted, separated by commas, semicolons or new lines."""
    return [part.strip() for part in re.split(r"[,;\n\r]+", text or "") if part.strip()]


def parse_recipients(values: Iterable[str]) -> RecipientList:
    result = RecipientList()
    seen = set()
    for line, raw in enumerate(values, start=1):
        number, reason = normalise_phone(raw)
        if number is None:
            result.invalid.append((line, raw, reason))
        elif number in seen:
            result.duplicates.append(number)
        else:
            seen.add(number)
            result.valid.append(number)
    return result
