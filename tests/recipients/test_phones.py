"""Phone numbers: written in E.164, lists split and deduplicated, Meta's marketing-blocked regions."""

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
