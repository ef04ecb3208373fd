"""Phone numbers: typed or pasted lists split, numbers written in E.164, and the regions where
Meta does not deliver marketing templates."""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

import phonenumbers

from campaigns import limits

E164_SHAPE = re.compile(r"\+[1-9][0-9]{1,16}")


@cache
def _national_prefix(country_code: int) -> re.Pattern | None:
    """The national prefix `phonenumbers.parse` strips for this country code, if any."""
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    prefix = metadata.national_prefix_for_parsing if metadata else None
    return re.compile(prefix) if prefix else None


def _valid_as_written(value: str) -> bool:
    """True when `value` is a valid number already written as `parse` + `format_number` would
    write it in E.164 (about a third of their cost: lists hold up to millions of rows). False
    means "ask the full parser", never "invalid": a leading zero or national prefix after the
    country code, an unknown code, or a number the metadata does not accept."""
    if not E164_SHAPE.fullmatch(value):
        return False
    digits = value[1:]
    for size in (1, 2, 3):
        country_code = int(digits[:size])
        if country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return False
    national = digits[size:]
    prefix = _national_prefix(country_code)
    if not national or national[0] == "0" or (prefix and prefix.match(national)):
        return False
    number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))
    return phonenumbers.is_valid_number(number)


def normalise_phone(raw: str) -> tuple[str | None, str]:
    """(E.164 number, "") for a valid number, else (None, the reason in plain words)."""
    value = (raw or "").strip()
    if not value:
        return None, "The number is empty."
    if value.startswith("00"):
        value = "+" + value[2:]
    if not value.startswith("+"):
        return None, f"“{raw}” has no country code: write it as +<country code><number>."
    if _valid_as_written(value):
        return value, ""
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
