"""Meta's catalog feed format, cell by cell: pure functions that turn a feed's text into our
product fields or say in plain words what is wrong (catalog-notes M1-M6).

Each `read_*` raises `ValueError` naming the column and the rule; the resource
(`catalog.resources`) collects them per row, so one row's every problem is reported at once."""

import html
import re
from decimal import Decimal, InvalidOperation

from django.utils.html import strip_tags

from campaigns import limits

# The feed's column for each product field, in the order Meta's sample feed has them (M2).
COLUMNS = {
    "retailer_id": "id",
    "name": "title",
    "description": "description",
    "availability": "availability",
    "condition": "condition",
    "price": "price",
    "sale_price": "sale_price",
    "link": "link",
    "image_url": "image_link",
    "brand": "brand",
    "item_group_id": "item_group_id",
}
REQUIRED_COLUMNS = ("id", "title", "availability", "price")

# "9.99 USD": a number with a `.` decimal point, a space, an ISO 4217 code (M2, M3).
PRICE_RE = re.compile(r"^(?P<amount>\d+(?:\.\d+)?)\s+(?P<currency>[A-Za-z]{3})$")
MAX_PRICE = Decimal("9999999999.99")  # what the price column holds (12 digits, 2 decimals)
BLANK_LINES = re.compile(r"\n\s*\n\s*\n+")
LINE_BREAK = re.compile(r"<br\s*/?>|</li\s*>", re.IGNORECASE)
PARAGRAPH_END = re.compile(r"</(?:p|div|ul|ol|h[1-6])\s*>", re.IGNORECASE)


def normalised_choice(text: str) -> str:
    """Feeds write `in stock`, `In Stock` and Google's `in_stock`: all the same value."""
    return " ".join(text.replace("_", " ").split()).lower()


def read_choice(column: str, text: str, choices: dict[str, str]) -> str:
    """One of Meta's values for `column` (a dict of normalised value to stored value)."""
    value = choices.get(normalised_choice(text))
    if value is None:
        allowed = ", ".join(f"'{choice}'" for choice in choices)
        shown = text.strip() or "(empty)"
        raise ValueError(f"{column}: '{shown[:40]}' is not one of Meta's values ({allowed}).")
    return value


def read_text(column: str, text: str, *, max_length: int, required: bool = False) -> str:
    if "\x00" in text:  # PostgreSQL stores no NUL character: refused here, not by the batch
        raise ValueError(f"{column} holds a NUL character, which cannot be stored.")
    text = text.strip()
    if required and not text:
        raise ValueError(f"{column} is required.")
    if len(text) > max_length:
        raise ValueError(f"{column} is {len(text)} characters; at most {max_length} are allowed.")
    return text


def read_description(text: str) -> str:
    """Meta allows no HTML in descriptions (M6): tags removed, entities turned into characters,
    paragraphs kept apart by one blank line."""
    if "<" in text:  # most feeds' descriptions are plain: the HTML parser only when needed
        text = strip_tags(PARAGRAPH_END.sub("\n\n", LINE_BREAK.sub("\n", text)))
    plain = html.unescape(text) if "&" in text else text
    plain = BLANK_LINES.sub("\n\n", plain).strip()
    return read_text("description", plain, max_length=limits.MAX_PRODUCT_DESCRIPTION_LENGTH)


def read_price(column: str, text: str, *, required: bool) -> tuple[Decimal | None, str]:
    """`9.99 USD` as (Decimal('9.99'), 'USD'); an empty optional price as (None, '')."""
    text = text.strip()
    if not text:
        if required:
            raise ValueError(f"{column} is required, written as a number and a currency: 9.99 USD.")
        return None, ""
    match = PRICE_RE.match(text)
    if match is None:
        raise ValueError(
            f"{column}: '{text[:40]}' is not a price; write a number with a '.' decimal point "
            "and the ISO 4217 currency code, e.g. 9.99 USD (no thousands separators)."
        )
    try:
        amount = Decimal(match["amount"]).quantize(Decimal("0.01"))
    except InvalidOperation:
        amount = MAX_PRICE + 1
    if amount > MAX_PRICE:
        raise ValueError(f"{column}: {match['amount']} is more than {MAX_PRICE}.")
    return amount, match["currency"].upper()


def read_link(column: str, text: str) -> str:
    """An absolute http(s) address, as WhatsApp opens it; empty is allowed."""
    text = read_text(column, text, max_length=limits.MAX_PRODUCT_URL_LENGTH)
    if text and not re.match(r"^https?://[^\s/]+\S*$", text, re.IGNORECASE):
        raise ValueError(f"{column}: '{text[:60]}' is not an http:// or https:// address.")
    return text


def check_sale_price(price, currency: str, sale_price, sale_currency: str) -> None:
    """A sale price is in the price's currency and below it (Meta shows it struck through)."""
    if sale_price is None:
        return
    if sale_currency != currency:
        raise ValueError(
            f"sale_price is in {sale_currency} but price is in {currency}; use one currency."
        )
    if sale_price >= price:
        raise ValueError(f"sale_price {sale_price} must be lower than price {price}.")


def price_text(amount, currency: str) -> str:
    """A price written back as the feed writes it."""
    return "" if amount is None else f"{amount:.2f} {currency}"
