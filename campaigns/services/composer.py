"""The composer's use cases: check, preview and save what a marketer is typing; clone.

Everything works on a `ComposerState` (the composer form's content, saved or not), so live
checks and the preview run before anything is saved, through the same rules
(`validation.content_problems`) and the same request body (`services.content_preview`) as a send.
"""

import re
from dataclasses import dataclass, field, replace
from datetime import time
from decimal import Decimal

from django.db import transaction

from campaigns import limits, services, validation
from campaigns.models import Campaign, MessageTemplate, Product, Section, SectionItem, Sender
from campaigns.payload import MpmContent, recipient_values
from campaigns.selectors import campaign_parts, mpm_content
from campaigns.selectors.senders import default_sender
from campaigns.validation import Problem

SCHEDULE_EDITED = "The campaign was edited after it was scheduled: it waits to be confirmed again."

# A draft may break the provider's limits (the check says so), but not without bound.
MAX_DRAFT_SECTIONS = 50
MAX_DRAFT_PRODUCTS = 300
MAX_DRAFT_TITLE_LENGTH = Section._meta.get_field("title").max_length
CURRENCY_SYMBOLS = {"INR": "₹", "USD": "$", "EUR": "€", "GBP": "£"}


class CampaignNotEditable(Exception):
    """Only drafts are edited: a campaign that has started sending keeps what it sent."""


@dataclass
class SectionDraft:
    title: str
    retailer_ids: list[str] = field(default_factory=list)
    personalised: bool = False  # each recipient's own products; holds none here


@dataclass
class ComposerState:
    """What the composer holds: a campaign's content by retailer ID, saved or not."""

    template: MessageTemplate | None = None
    name: str = ""
    header_value: str = ""
    body_values: list[str] = field(default_factory=list)
    thumbnail: str = ""  # retailer_id
    thumbnail_from_recipient: bool = False
    sections: list[SectionDraft] = field(default_factory=list)
    triggered: bool = False  # always on: sends what the HTTP API queues
    send_from: time | None = None  # sending hours in each recipient's zone (both or neither)
    send_until: time | None = None
    ref: str = ""
    ref1: str = ""
    ref2: str = ""
    wa_source: str = limits.DEFAULT_WA_SOURCE
    sender: Sender | None = None  # None: the default sender

    @property
    def refs(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in limits.REF_FIELDS}

    @property
    def retailer_ids(self) -> set[str]:
        ids = {
            rid
            for section in self.sections
            if not section.personalised
            for rid in section.retailer_ids
        }
        return ids | {self.thumbnail} if self.thumbnail else ids

    def sections_data(self) -> list[dict]:
        """The sections as the composer's JSON field holds them."""
        return [
            {"title": s.title, "products": list(s.retailer_ids), "personalised": s.personalised}
            for s in self.sections
        ]


def state_from_campaign(campaign: Campaign) -> ComposerState:
    """A saved campaign as composer state (expects `selectors.campaign_for_sending`)."""
    parts = campaign_parts(campaign)
    return ComposerState(
        template=parts["template"],
        name=campaign.name,
        header_value=parts["header_value"],
        body_values=[str(v) for v in parts["body_values"]],
        thumbnail=parts["thumbnail_retailer_id"],
        thumbnail_from_recipient=parts["thumbnail_from_recipient"],
        sections=[SectionDraft(*section) for section in parts["sections"]],
        triggered=campaign.triggered,
        send_from=campaign.send_from,
        send_until=campaign.send_until,
        wa_source=parts["wa_source"],
        sender=campaign.sender,
        **parts["refs"],
    )


def catalog_for(state: ComposerState) -> dict[str, Product]:
    """The products the state names, by retailer ID, in one query (unknown IDs are absent)."""
    ids = state.retailer_ids
    if not ids:
        return {}
    return {p.retailer_id: p for p in Product.objects.filter(retailer_id__in=ids)}


def catalog_of_campaign(campaign: Campaign) -> dict[str, Product]:
    """`catalog_for` a saved campaign, from its prefetched rows: no query."""
    catalog = {
        i.product.retailer_id: i.product for s in campaign.sections.all() for i in s.items.all()
    }
    if campaign.thumbnail_product:
        catalog[campaign.thumbnail_product.retailer_id] = campaign.thumbnail_product
    return catalog


# --- checking and previewing ---------------------------------------------------------------------


def composer_problems(state: ComposerState, catalog: dict[str, Product]) -> list[Problem]:
    """Every problem that keeps this content from being sent, as `campaign_problems` would
    report it once saved, plus products the catalog does not have."""
    problems = []
    thumbnail = catalog.get(state.thumbnail)
    sections = []
    for number, section in enumerate(state.sections, start=1):
        if section.personalised:
            sections.append((section.title, None))
            continue
        where = f"sections[{number}].products"
        seen = set()
        products = []
        for rid in section.retailer_ids:
            if rid in seen:
                problems.append(
                    Problem(where, f"Product {rid} is in section {number} twice; it is kept once.")
                )
            elif rid not in catalog:
                problems.append(Problem(where, f"Product {rid} is not in the catalog."))
            else:
                products.append(catalog[rid])
            seen.add(rid)
        sections.append((section.title, products))

    if state.template is None:
        problems.insert(0, Problem("template", "Choose a template: the message is built on it."))
        problems.extend(validation.section_problems(sections))
        problems.extend(validation.ref_problems(state.refs))
        return problems

    content = validation.content_problems(
        template=state.template,
        header_value=state.header_value,
        body_values=state.body_values,
        thumbnail=thumbnail,
        thumbnail_from_recipient=state.thumbnail_from_recipient,
        sections=sections,
        wa_source=state.wa_source,
        refs=state.refs,
    )
    if state.thumbnail and thumbnail is None:
        content = [p for p in content if p.field != "thumbnail_product"]
        problems.append(
            Problem(
                "thumbnail_product",
                f"Thumbnail product {state.thumbnail} is not in the catalog; choose another.",
            )
        )
    return content + problems


def composer_content(state: ComposerState) -> MpmContent | None:
    """The MPM content a send of this state would use; None until a template is chosen."""
    if state.template is None:
        return None
    return mpm_content(
        template=state.template,
        header_value=state.header_value,
        body_values=state.body_values,
        thumbnail_retailer_id=state.thumbnail,
        thumbnail_from_recipient=state.thumbnail_from_recipient,
        sections=[(s.title, s.retailer_ids, s.personalised) for s in state.sections],
        refs=state.refs,
        wa_source=state.wa_source,
    )


def composer_preview_json(state: ComposerState) -> str:
    """The request body a send would post (as `services.campaign_preview` shows it once saved)."""
    content = composer_content(state)
    return services.content_preview(content) if content else ""


@dataclass(frozen=True)
class PreviewItem:
    retailer_id: str
    product: Product | None  # None: not in the catalog


@dataclass(frozen=True)
class MessagePreview:
    """The message as WhatsApp shows it: texts with their values filled in, and the items."""

    has_template: bool
    header: str = ""
    body: str = ""
    footer: str = ""
    button_text: str = "View items"
    # Who it comes from, as WhatsApp's chat header shows it (the sender's, once there is one).
    business_name: str = "Your business"
    logo_url: str = ""
    image_url: str = ""
    thumbnail_name: str = ""
    thumbnail_from_recipient: bool = False
    # (title, items, filled per recipient)
    sections: tuple[tuple[str, tuple[PreviewItem, ...], bool], ...] = ()

    @property
    def product_count(self) -> int:
        return sum(len(items) for _, items, _ in self.sections)


LOOK_UP = object()  # message_preview's default sender, when the caller has not loaded it


def message_preview(
    state: ComposerState, catalog: dict[str, Product], *, default=LOOK_UP
) -> MessagePreview:
    """What the customer will see; a variable without a value shows as `{{n}}`, a section
    filled per recipient as such (`recipient_state` fills it for one recipient). The chat
    header names the chosen sender, else `default` (the default sender, looked up when not
    given: one query)."""
    thumbnail = catalog.get(state.thumbnail)
    sender = state.sender or (default_sender() if default is LOOK_UP else default)
    who = {"business_name": sender.display_name, "logo_url": sender.logo_url} if sender else {}
    sections = tuple(
        (
            s.title,
            tuple(PreviewItem(rid, catalog.get(rid)) for rid in dict.fromkeys(s.retailer_ids)),
            s.personalised,
        )
        for s in state.sections
    )
    template = state.template
    if template is None:
        return MessagePreview(has_template=False, sections=sections, **who)

    def filled(text: str, values: list[str]) -> str:
        return validation.fill_variables(
            text, [value or f"{{{{{n}}}}}" for n, value in enumerate(values, start=1)]
        )

    return MessagePreview(
        has_template=True,
        header=filled(template.header_text, [state.header_value]),
        body=filled(template.body_text, state.body_values),
        footer=template.footer_text,
        button_text=template.button_text or "View items",
        image_url=thumbnail.image_url if thumbnail else "",
        thumbnail_name=thumbnail.name if thumbnail else "",
        thumbnail_from_recipient=state.thumbnail_from_recipient,
        sections=sections,
        **who,
    )


def recipient_state(state: ComposerState, overrides: dict) -> ComposerState:
    """A campaign's content as one recipient gets it: their own values and, when resolved for
    them (`campaigns.recipients.products`), their own thumbnail and sections."""
    header, body = recipient_values(composer_content(state), overrides)
    mine = replace(state, header_value=header, body_values=body)
    if "sections" in overrides:
        mine.thumbnail = overrides.get("thumbnail") or state.thumbnail
        mine.thumbnail_from_recipient = False
        mine.sections = [
            SectionDraft(s["title"], list(s["retailer_ids"])) for s in overrides["sections"]
        ]
    return mine


@dataclass(frozen=True)
class RecipientPreview:
    """One of the first recipients' messages as it will be sent, and what was left out of it."""

    number: str
    preview: MessagePreview
    left_out: tuple[str, ...] = ()


def recipient_previews(campaign: Campaign, checked: list) -> list[RecipientPreview]:
    """The messages of these checked recipients (`recipients.Checked`) as WhatsApp shows them
    (expects `selectors.campaign_for_sending`); one query for their products."""
    state = state_from_campaign(campaign)
    state.sender = state.sender or default_sender()  # looked up once, not per recipient
    states = [recipient_state(state, c.overrides) for c in checked]
    wanted = set().union(*(s.retailer_ids for s in states)) if states else set()
    catalog = {p.retailer_id: p for p in Product.objects.filter(retailer_id__in=wanted)}
    return [
        RecipientPreview(
            c.number, message_preview(s, catalog), tuple(c.overrides.get("left_out", ()))
        )
        for c, s in zip(checked, states, strict=True)
    ]


def money(amount: Decimal, currency: str) -> str:
    """A price as a shopper reads it: ₹3,499.00; codes without a symbol come first (AED 12.00)."""
    symbol = CURRENCY_SYMBOLS.get(currency)
    text = f"{amount:,.2f}"
    return f"{symbol}{text}" if symbol else f"{currency} {text}"


def product_info(product: Product) -> dict:
    """A product as the composer's search and lists show it (JSON-ready)."""
    return {
        "retailer_id": product.retailer_id,
        "name": product.name,
        "price": str(product.price),
        "currency": product.currency,
        "price_display": money(product.price, product.currency),
        "image_url": product.image_url,
        "availability": product.availability,
        "availability_label": product.get_availability_display(),
        "sendable": product.is_sendable,
        "brand": product.brand,
        "item_group_id": product.item_group_id,
    }


# --- products pasted in bulk ---------------------------------------------------------------------

# A column copied from a spreadsheet (one a line), a comma-separated list, or a mix.
PASTE_SEPARATORS = re.compile(r"[\r\n,;\t|]+")
MAX_PASTED = 500  # SKUs read from one paste; the rest are named as not read


@dataclass
class PastedProducts:
    """What a paste adds to a section, in the order given, and each SKU left out with why."""

    added: list[Product] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        added = f"{len(self.added)} product{'' if len(self.added) == 1 else 's'} added"
        return f"{added}; {len(self.refused)} not added." if self.refused else f"{added}."


def products_pasted(text: str, *, taken: list[str], room: int) -> PastedProducts:
    """The known, sendable products among pasted SKUs, up to `room` more products (the MPM's
    30 across its sections), skipping those already in the section (`taken`). One query."""
    skus = [sku.strip().strip("\"'").strip() for sku in PASTE_SEPARATORS.split(text)]
    skus = [sku for sku in skus if sku]
    result = PastedProducts()
    unread = max(0, len(skus) - MAX_PASTED)
    skus = skus[:MAX_PASTED]
    catalog = {
        product.retailer_id: product
        for product in Product.objects.filter(
            retailer_id__in=[s for s in skus if len(s) <= limits.MAX_RETAILER_ID_LENGTH]
        )
    }
    seen = set(taken)
    for sku in skus:
        product = catalog.get(sku)
        if sku in seen:
            reason = "already in this section" if sku in taken else "given twice"
        elif product is None:
            reason = "not in the catalog"
        elif not product.is_sendable:
            reason = (
                "inactive" if not product.active else product.get_availability_display().lower()
            )
        elif len(result.added) >= room:
            reason = f"over the limit of {limits.MAX_PRODUCTS} products in one message"
        else:
            result.added.append(product)
            reason = ""
        seen.add(sku)
        if reason:
            result.refused.append((sku, reason))
    if unread:
        result.refused.append(
            (f"{unread} more", f"only the first {MAX_PASTED} SKUs of a paste are read")
        )
    return result


# --- saving and cloning ---------------------------------------------------------------------------


def draft_save(
    *, state: ComposerState, campaign: Campaign | None = None, user=None
) -> tuple[Campaign, list[str]]:
    """Save the state as a draft in one transaction: its fields, and its sections and items
    replaced. A draft need not be valid; products the catalog lacks are left out and named in
    the returned notes."""
    if state.template is None:
        raise ValueError("A draft needs a template.")
    notes = []
    with transaction.atomic():
        catalog = catalog_for(state)
        if campaign is None:
            campaign = Campaign(created_by=user if user and user.is_authenticated else None)
        else:
            campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
            if not campaign.is_editable:
                raise CampaignNotEditable(
                    f"“{campaign}” is {campaign.get_state_display().lower()}: clone it to make "
                    "changes."
                )
            if campaign.state == Campaign.State.SCHEDULED:
                when = f"{campaign.send_at_local:%Y-%m-%d %H:%M} {campaign.send_time_zone}"
                services.campaign_unschedule(campaign, detail=SCHEDULE_EDITED)
                notes.append(
                    f"It was scheduled for {when}; changed, it is a draft again: send or "
                    "schedule it again to confirm what goes out."
                )
        campaign.name = state.name.strip() or "Untitled campaign"
        campaign.template = state.template
        campaign.header_value = state.header_value
        campaign.body_values = list(state.body_values)
        campaign.thumbnail_product = catalog.get(state.thumbnail)
        campaign.thumbnail_from_recipient = state.thumbnail_from_recipient
        campaign.triggered = state.triggered
        hours = None not in (state.send_from, state.send_until) and (
            state.send_from != state.send_until
        )
        campaign.send_from = state.send_from if hours else None
        campaign.send_until = state.send_until if hours else None
        if state.thumbnail and campaign.thumbnail_product is None:
            notes.append(
                f"Thumbnail product {state.thumbnail} is not in the catalog; it was left out."
            )
        for name, value in state.refs.items():
            setattr(campaign, name, value)
        campaign.wa_source = state.wa_source
        campaign.sender = state.sender
        campaign.save()

        campaign.sections.all().delete()
        sections = Section.objects.bulk_create(
            Section(
                campaign=campaign,
                position=position,
                title=draft.title,
                personalised=draft.personalised,
            )
            for position, draft in enumerate(state.sections)
        )
        items = []
        for section, draft in zip(sections, state.sections, strict=True):
            if draft.personalised:
                continue
            kept = [rid for rid in dict.fromkeys(draft.retailer_ids) if rid in catalog]
            items += [
                SectionItem(section=section, position=position, product=catalog[rid])
                for position, rid in enumerate(kept)
            ]
            for rid in dict.fromkeys(draft.retailer_ids):
                if rid not in catalog:
                    notes.append(f"Product {rid} is not in the catalog; it was left out.")
        SectionItem.objects.bulk_create(items)
    return campaign, notes


def campaign_clone(*, campaign: Campaign, user=None) -> Campaign:
    """A new draft with the same template, values, thumbnail, sections and tracking fields."""
    state = state_from_campaign(campaign)
    state.name = f"Copy of {campaign.name}"[: Campaign._meta.get_field("name").max_length]
    clone, _ = draft_save(state=state, user=user)
    return clone


# --- sending -------------------------------------------------------------------------------------


def estimated_duration(count: int, rate_per_second: float) -> str:
    """How long sending `count` messages takes at the configured rate, as the end of a sentence
    ("Sending to 2,000 recipients takes about 25 seconds")."""
    if count <= 0:
        return "takes no time: there is nothing to send"
    if not rate_per_second:
        return "goes as fast as Kaleyra answers (no rate limit is set)"
    seconds = count / rate_per_second
    if seconds < 60:
        whole = max(1, round(seconds))
        return f"takes about {whole} second{'s' if whole != 1 else ''}"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"takes about {minutes} minute{'s' if minutes != 1 else ''}"
    hours, minutes = divmod(minutes, 60)
    text = f"takes about {hours} hour{'s' if hours != 1 else ''}"
    return text + (f" {minutes} minute{'s' if minutes != 1 else ''}" if minutes else "")
