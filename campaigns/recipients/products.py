"""Each recipient's own products: the `skus`, `section_N_title`, `section_N_skus` and `thumbnail`
columns of a CSV row (or the same fields of an API call) resolved against the catalog when the
recipient is checked, so that what is queued is exactly what will be sent.

A product the catalog does not have, or cannot sell now, is left out with a note; a section left
empty is left out; a recipient left with no product at all is skipped with the reason. The
message that remains is held to every limit a campaign is (10 sections, 24-character titles,
30 products), and is stored on the Message (`overrides["sections"]`, `["thumbnail"]`), which the
payload builder reads.
"""

import re
from dataclasses import dataclass, field

from campaigns import limits, validation
from campaigns.models import Product
from campaigns.payload import MpmContent
from campaigns.validation import Problem

SKU_SEPARATOR = "|"
# section_1_title … section_99_skus: a section past the tenth is refused by the limit check.
SECTION_COLUMN = re.compile(r"^section_([1-9]\d?)_(title|skus)$")
PRODUCT_COLUMNS = ("skus", "thumbnail")
NOT_IN_CATALOG = "not in the catalog"
NO_PRODUCTS_REASON = "skipped (no product to show)"


# What a Message's `overrides` hold of its products once resolved (beside its own values).
STORED_KEYS = ("sections", "thumbnail", "left_out")


def is_product_column(name: str) -> bool:
    """A column (or API field) that gives a recipient's products."""
    return name in PRODUCT_COLUMNS or bool(SECTION_COLUMN.match(name))


def is_product_key(name: str) -> bool:
    """A key of a Message's stored `overrides` that holds its resolved products."""
    return name in STORED_KEYS


def split_skus(text: str) -> list[str]:
    """`SKU1|SKU2|…` as a list, blanks dropped."""
    return [sku for part in text.split(SKU_SEPARATOR) if (sku := part.strip())]


class CatalogLookup:
    """Why each retailer ID cannot be sent ("" when it can), asked of the database once per ID:
    a long list of carts names the same products again and again."""

    def __init__(self):
        self.reasons: dict[str, str] = {}

    def why_not(self, retailer_ids: list[str]) -> dict[str, str]:
        missing = [rid for rid in retailer_ids if rid not in self.reasons]
        if missing:
            self.reasons.update(dict.fromkeys(missing, NOT_IN_CATALOG))
            # A NUL character is never in a retailer ID (and PostgreSQL refuses it in a query).
            storable = [rid for rid in missing if "\x00" not in rid]
            for rid, active, availability in Product.objects.filter(
                retailer_id__in=storable
            ).values_list("retailer_id", "active", "availability"):
                self.reasons[rid] = (
                    "inactive"
                    if not active
                    else ("" if availability in Product.SENDABLE_AVAILABILITY else availability)
                )
        return {rid: self.reasons[rid] for rid in retailer_ids}


@dataclass
class RecipientProducts:
    """One recipient's message as it will be sent: thumbnail, (title, [retailer_id]) sections,
    what was left out and why, and the problems that keep it from being sent at all."""

    thumbnail: str = ""
    sections: list[tuple[str, list[str]]] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # "SKU9 (out of stock)"
    problems: list[Problem] = field(default_factory=list)

    @property
    def product_count(self) -> int:
        return sum(len(ids) for _, ids in self.sections)

    def stored(self) -> dict:
        """The Message's `overrides` entries the payload builder reads."""
        stored = {
            "sections": [{"title": t, "retailer_ids": ids} for t, ids in self.sections],
            "thumbnail": self.thumbnail,
        }
        if self.left_out:
            stored["left_out"] = self.left_out
        return stored


def resolve_products(
    content: MpmContent, own: dict[str, str], catalog: CatalogLookup
) -> RecipientProducts | None:
    """The recipient's products from their own columns `own`, or None when their message has
    the campaign's fixed products (a campaign without personalised sections, a row without
    product columns)."""
    if not content.is_personalised and not any(map(is_product_column, own)):
        return None
    result = RecipientProducts()
    sections = _sections(content, own, result.problems)
    wanted = [rid for _, ids, _ in sections for rid in ids]
    thumbnail = own.get("thumbnail", "")
    reasons = catalog.why_not(list(dict.fromkeys([*wanted, *([thumbnail] if thumbnail else [])])))
    first_own = ""
    for title, ids, is_own in sections:
        kept = []
        for rid in ids:
            if reasons[rid]:
                result.left_out.append(f"{rid} ({reasons[rid]})")
            elif rid not in kept:  # a cart may name an item twice: shown once
                kept.append(rid)
        if kept:
            result.sections.append((title, kept))
            first_own = first_own or (kept[0] if is_own else "")
    if not result.sections:
        return result  # skipped: nothing to show
    result.problems += validation.section_problems(
        [(title, [validation.RetailerRef(rid) for rid in ids]) for title, ids in result.sections]
    )
    if thumbnail and reasons[thumbnail]:
        result.left_out.append(f"thumbnail {thumbnail} ({reasons[thumbnail]})")
        thumbnail = ""
    if not thumbnail and content.thumbnail_from_recipient:
        thumbnail = first_own
    result.thumbnail = thumbnail or content.thumbnail_retailer_id or result.sections[0][1][0]
    return result


def _sections(content: MpmContent, own: dict[str, str], problems: list[Problem]):
    """(title, [retailer_id], whether the products are the recipient's own) for each section
    of this recipient's message, before the catalog is asked: the campaign's sections with
    this row's titles and products where it gives them (`skus` fills the first personalised
    section), then the row's own extra sections."""
    given: dict[int, dict[str, str]] = {}
    for name, value in own.items():
        if match := SECTION_COLUMN.match(name):
            given.setdefault(int(match.group(1)), {})[match.group(2)] = value
    skus_to = next((n for n, s in enumerate(content.sections, 1) if s.personalised), None)
    if own.get("skus") and skus_to is None:
        problems.append(
            Problem(
                "skus",
                "The campaign has no section filled per recipient; give this row's products "
                "in section_N_skus columns instead.",
            )
        )
    sections = []
    for number, section in enumerate(content.sections, start=1):
        row = given.pop(number, {})
        if "skus" in row:
            ids = split_skus(row["skus"])
        elif number == skus_to:
            ids = split_skus(own.get("skus", ""))
        else:
            ids = [] if section.personalised else list(section.retailer_ids)
        is_own = section.personalised or "skus" in row
        sections.append((row.get("title") or section.title, ids, is_own))
    for number in sorted(given):
        row = given[number]
        if number > limits.MAX_SECTIONS:
            problems.append(
                Problem(
                    f"section_{number}_skus",
                    f"There is no section {number}: a message has at most "
                    f"{limits.MAX_SECTIONS} sections.",
                )
            )
        elif row.get("skus") and not row.get("title"):
            problems.append(
                Problem(
                    f"section_{number}_title",
                    f"Section {number} is not one of the campaign's: give it a title.",
                )
            )
        elif row.get("skus"):
            sections.append((row["title"], split_skus(row["skus"]), True))
    return sections
