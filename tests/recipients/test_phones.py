"""Phone numbers: written in E.164, lists split and deduplicated, Meta's marketing-blocked regions."""

import phonenumbers
import pytest

from campaigns.recipients import is_marketing_blocked, normalise_phone, parse_recipients


@pytest.mark.parametrize(
    "raw",
    [
        "+919876543210",
        "+91 98765 43210",
        "+91-98765-43210",
        " +91 (98765) 43210 ",
        "0091 98765 43210",
        "00919876543210",
    ],
)
def test_normalise_phone_writes_e164(raw):
    assert normalise_phone(raw) == ("+919876543210", "")


def test_normalise_phone_without_plus_names_the_country_code():
    number, reason = normalise_phone("9876543210")
    assert number is None
    assert "country code" in reason
    assert "9876543210" in reason


@pytest.mark.parametrize("raw", ["+91 12345", "+999 1234567", "+91 abcdefghij", "+"])
def test_normalise_phone_rejects_invalid_numbers(raw):
    number, reason = normalise_phone(raw)
    assert number is None
    assert reason


def test_normalise_phone_rejects_empty():
    assert normalise_phone("  ") == (None, "The number is empty.")


def test_parse_recipients_dedups_and_reports_duplicates_and_invalid_with_lines():
    result = parse_recipients(
        [
            "+919876543210",
            "0091 98765 43210",  # the same number written differently
            "98765 43211",  # no country code
            "+12015550123",
            "+91 12345",  # too short
            "+12015550123",
        ]
    )
    assert result.valid == ["+919876543210", "+12015550123"]
    assert result.duplicates == ["+919876543210", "+12015550123"]
    assert [(line, raw) for line, raw, _ in result.invalid] == [
        (3, "98765 43211"),
        (5, "+91 12345"),
    ]
    assert "country code" in result.invalid[0][2]


def test_us_number_is_marketing_blocked():
    assert is_marketing_blocked("+12015550123") is True


def test_canadian_plus_one_number_is_not_marketing_blocked():
    assert is_marketing_blocked("+14165550123") is False


def test_indian_number_is_not_marketing_blocked():
    assert is_marketing_blocked("+919876543210") is False


def full_parse(value: str) -> str | None:
    """What phonenumbers itself makes of `value`: its E.164 form when valid, else None."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def written_variants() -> list[str]:
    """Every region's example numbers in E.164, with a national prefix or zero slipped in after
    the country code, and with digits dropped, added and changed."""
    variants = set()
    for region in phonenumbers.SUPPORTED_REGIONS | {"001"}:
        for kind in phonenumbers.PhoneNumberType.values():
            example = (
                phonenumbers.example_number_for_non_geo_entity(region)
                if region == "001"
                else phonenumbers.example_number_for_type(region, kind)
            )
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            code = str(example.country_code)
            national = e164[1 + len(code) :]
            variants |= {
                e164,
                f"+{code}0{national}",
                f"+{code}1{national}",
                f"+{code}9{national}",
                e164[:-1],
                e164 + "5",
                e164[:-1] + str((int(e164[-1]) + 3) % 10),
            }
    return sorted(variants)


def test_the_fast_path_agrees_with_phonenumbers_on_every_region():
    """`normalise_phone` skips `parse` for numbers already written in E.164; it must decide
    exactly as the full parser does, for every region's numbers and near misses."""
    variants = written_variants()
    assert len(variants) > 3000
    disagreements = [v for v in variants if normalise_phone(v)[0] != full_parse(v)]
    assert disagreements == []
