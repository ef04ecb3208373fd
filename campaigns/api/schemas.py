"""What the API takes and answers, as pydantic models: ninja checks requests against them and
writes the OpenAPI schema from them. Limits of the content (header length, body variables …)
are not repeated here: `campaigns.validation` checks them and says so in the composer's words."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from ninja import Field, Schema
from pydantic import AfterValidator, ConfigDict

MAX_RECIPIENTS = 1000  # per call: larger lists go in several calls (or a CSV upload in the app)
SKU_SEPARATOR = "|"  # how a recipient's SKUs travel in its values, as in a CSV column


class Problem(Schema):
    field: str = Field(description="The field at fault, e.g. recipients[3].phone.")
    message: str


class Error(Schema):
    """Every 4xx answer: what went wrong, and each problem with the field it is about."""

    detail: str
    problems: list[Problem] = []


def no_separator(sku: str) -> str:
    if SKU_SEPARATOR in sku:
        raise ValueError(f"A SKU cannot hold “{SKU_SEPARATOR}”, which separates SKUs.")
    return sku


Sku = Annotated[str, AfterValidator(no_separator)]


class SectionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    title: str
    skus: list[Sku] = Field(max_length=100)


class RecipientIn(Schema):
    """One recipient; every value left out (or empty) keeps the campaign's own."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(description="E.164, e.g. +919876543210.", examples=["+919876543210"])
    header: str | None = Field(None, description="The header's {{1}}.")
    body: list[str] | None = Field(
        None, max_length=999, description="The body's {{1}}, {{2}} … in order."
    )
    ref: str | None = None
    ref1: str | None = None
    ref2: str | None = None
    skus: list[Sku] | None = Field(
        None, max_length=100, description="The recipient's own products (retailer IDs)."
    )
    sections: list["SectionIn"] | None = Field(
        None, max_length=100, description="The recipient's own sections of products."
    )
    thumbnail: str | None = Field(None, description="The retailer ID of the thumbnail product.")

    def overrides(self) -> dict[str, str]:
        """The values as a CSV row gives them (header, body_1 … body_n, ref, ref1, ref2, skus,
        section_N_title / section_N_skus, thumbnail); empty ones are left out."""
        values = {
            "header": self.header,
            **{f"body_{n}": value for n, value in enumerate(self.body or (), start=1)},
            "ref": self.ref,
            "ref1": self.ref1,
            "ref2": self.ref2,
            "skus": SKU_SEPARATOR.join(self.skus or ()),
            "thumbnail": self.thumbnail,
        }
        for n, section in enumerate(self.sections or (), start=1):
            values[f"section_{n}_title"] = section.title
            values[f"section_{n}_skus"] = SKU_SEPARATOR.join(section.skus)
        return {name: value for name, value in values.items() if value}


class SendIn(Schema):
    model_config = ConfigDict(extra="forbid")

    recipients: list[RecipientIn] | None = Field(
        None,
        min_length=1,
        max_length=MAX_RECIPIENTS,
        description="The recipients; or send to a contact list or a segment instead.",
    )
    list_id: int | None = Field(
        None, alias="list", gt=0, description="A contact list's id, instead of recipients."
    )
    segment_id: int | None = Field(
        None,
        alias="segment",
        gt=0,
        description="A segment's id, instead of recipients: evaluated as the send starts.",
    )
    valid_only: bool = Field(
        False,
        description="Send to the valid recipients and list the others; by default any invalid "
        "recipient means nothing is sent (422).",
    )
    sender: int | str | None = Field(
        None,
        description="The sender to send from, by id or by business number (+919000000001); "
        "the campaign keeps it. Left out: the campaign's own sender, else the default one. "
        "An unknown or inactive sender is refused (400).",
        examples=["+919000000001"],
    )


class InvalidOut(Schema):
    index: int = Field(description="The recipient's place in `recipients`, from 0.")
    line: int = Field(description="index + 1, as the composer numbers lines.")
    phone: str
    reason: str


class SkippedOut(Schema):
    phone: str
    reason: str


class MessageRef(Schema):
    index: int
    phone: str = Field(description="The number as given.")
    to: str = Field(description="The number in E.164.")
    id: int = Field(description="The Message's id: GET /messages/{id}.")
    state: str


class SendOut(Schema):
    queued: int
    skipped: int
    skipped_recipients: list[SkippedOut]
    invalid: int
    invalid_recipients: list[InvalidOut]
    duplicates: int
    duplicate_phones: list[str]
    already_accepted: int = Field(description="Had received this campaign already: not resent.")
    unknown_kept: int = Field(description="An earlier send's outcome is unknown: not resent.")
    notes: list[str]
    warnings: list[str]
    messages: list[MessageRef]


class RefusedOut(Error):
    invalid_recipients: list[InvalidOut]


class TemplateOut(Schema):
    id: int
    name: str
    language: str
    category: str
    header_text: str
    body_text: str
    header_variables: int = Field(validation_alias="header_variable_count")
    body_variables: int = Field(validation_alias="body_variable_count")
    button_index: int


class ProductOut(Schema):
    retailer_id: str
    name: str
    price: Decimal
    currency: str
    availability: str
    sendable: bool = Field(validation_alias="is_sendable")
    image_url: str


class StepOut(Schema):
    step: str
    count: int
    of_queued: float | None
    of_previous: float | None


class FailureOut(Schema):
    code: str
    source: str
    state: str
    count: int
    meaning: str
    action: str


class SkipOut(Schema):
    detail: str
    count: int


class RevenueOut(Schema):
    currency: str
    orders: int
    revenue: Decimal


class ProgressOut(Schema):
    counts: dict[str, int] = Field(description="Real messages by state.")
    total: int
    percent: int = Field(description="Share of messages settled (neither queued nor sending).")
    retrying: int
    next_retry_at: datetime | None


class FunnelOut(Schema):
    total: int
    skipped: int
    queued: int
    waiting: int
    accepted: int
    sent: int
    delivered: int
    read: int
    failed: int
    not_sent: int
    unknown: int
    accepted_rate: float | None
    delivery_rate: float | None
    read_rate: float | None
    failure_rate: float | None
    steps: list[StepOut]


class CampaignOut(Schema):
    id: int
    name: str
    state: str
    paused_reason: str
    template: str
    progress: ProgressOut
    funnel: FunnelOut
    failures: list[FailureOut]
    skips: list[SkipOut]
    revenue: list[RevenueOut]


class EventOut(Schema):
    status: str
    status_raw: str
    timestamp: datetime | None
    received_at: datetime
    error_code: str
    error_title: str
    error_details: str


class OrderItemOut(Schema):
    retailer_id: str
    quantity: int
    item_price: Decimal
    currency: str


class OrderOut(Schema):
    id: int
    received_at: datetime
    currency: str
    total: Decimal
    text: str
    items: list[OrderItemOut]


class MessageOut(Schema):
    id: int
    campaign_id: int
    to: str
    state: str
    kaleyra_message_id: str = Field(
        validation_alias="message_id", description="Kaleyra's id, once it accepted the request."
    )
    last_code: str
    meta_code: str
    detail: str
    attempts: int
    test: bool = Field(validation_alias="is_test", description="A test send from the composer.")
    created_at: datetime
    updated_at: datetime
    events: list[EventOut] = Field(validation_alias="status_events")
    orders: list[OrderOut]
