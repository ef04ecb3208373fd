"""The API's endpoints and its answers to errors. Each endpoint checks the token's scope and its
user's permission, then calls the service or selector the pages use; every 4xx answers
`{"detail": …, "problems": [{"field": …, "message": …}]}`, and no input makes a 500."""

import logging
import uuid
from decimal import Decimal
from typing import Annotated

from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404
from ninja import NinjaAPI, Path, Query
from ninja.errors import AuthenticationError, HttpError, ValidationError
from pydantic import AfterValidator

from campaigns import recipients, roles, selectors, services
from campaigns.api import schemas
from campaigns.api.auth import UNAUTHORIZED, Forbidden, TokenAuth, need
from campaigns.api.idempotency import HEADER, KeyProblem, idempotent
from campaigns.api.throttling import TokenRateThrottle
from campaigns.audiences.segments import SegmentRulesError
from campaigns.models import (
    Campaign,
    Consent,
    ContactList,
    Message,
    MessageTemplate,
    Segment,
    StatusEvent,
)
from campaigns.selectors.senders import sender_by_reference
from campaigns.services import background

logger = logging.getLogger(__name__)

DESCRIPTION = f"""Send WhatsApp multi-product messages of this app's campaigns, and read how they
went. Authenticate with `Authorization: Bearer <token>`: create a token under **API tokens** in
the app (it acts with your own permissions, narrowed to its scopes, *read* and/or *send*).

A POST may carry an `{HEADER}` header (a UUID, say): retried with the same key and body, it
answers what the first call answered (with `Idempotent-Replayed: true`) and sends nothing again;
the same key with another body is refused (409). Keys are kept for at least 24 hours.

Every error answers `{{"detail": "…", "problems": [{{"field": "…", "message": "…"}}]}}`. Each
token may make a limited number of calls a second (429 with `Retry-After` beyond it)."""

api = NinjaAPI(
    title="WhatsApp MPM campaigns API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    auth=TokenAuth(),
    throttle=TokenRateThrottle(),
)
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]  # a bigint: a larger number is a 422, not a 500
ERRORS = {401: schemas.Error, 403: schemas.Error, 404: schemas.Error, 429: schemas.Error}


# --- errors -----------------------------------------------------------------------------------------


def error(request, status: int, detail: str, problems=(), **extra):
    return api.create_response(
        request, {"detail": detail, "problems": list(problems), **extra}, status=status
    )


def field_path(loc) -> str:
    """pydantic's location as the caller wrote it: ("body", "payload", "recipients", 3,
    "phone") → recipients[3].phone; a query or path parameter by its name."""
    source, *parts = loc
    if source == "body":
        parts = parts[1:]  # the endpoint's parameter name, not part of the body
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f"{'.' if path else ''}{part}"
    return path or source


@api.exception_handler(ValidationError)
def invalid_request(request, exc: ValidationError):
    problems = [
        {"field": field_path(e["loc"]), "message": e["msg"].removeprefix("Value error, ")}
        for e in exc.errors
    ]
    return error(request, 422, f"The request is not valid: {len(problems)} problem(s).", problems)


@api.exception_handler(AuthenticationError)
def unauthenticated(request, exc):
    response = error(
        request, 401, UNAUTHORIZED, [{"field": "Authorization", "message": UNAUTHORIZED}]
    )
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@api.exception_handler(Forbidden)
def forbidden(request, exc: Forbidden):
    return error(request, 403, exc.message, [{"field": exc.field, "message": exc.message}])


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    if exc.status_code == 400:  # ninja's "Cannot parse request body"
        message = "The body is not valid JSON."
        return error(request, 400, message, [{"field": "body", "message": message}])
    if exc.status_code == 429:
        return error(request, 429, "Too many requests for this token: retry after Retry-After.")
    return error(request, exc.status_code, exc.message)


@api.exception_handler(KeyProblem)
def key_problem(request, exc: KeyProblem):
    return error(request, exc.status, str(exc), [{"field": HEADER, "message": str(exc)}])


@api.exception_handler(Http404)
def not_found(request, exc: Http404):
    return error(request, 404, str(exc) or "Not found.")


@api.exception_handler(RequestDataTooBig)
def too_big(request, exc):
    message = (
        "The body is larger than this server takes (DATA_UPLOAD_MAX_MEMORY_SIZE): send the "
        "recipients in several calls."
    )
    return error(request, 413, message, [{"field": "body", "message": message}])


@api.exception_handler(Exception)
def server_error(request, exc: Exception):
    logger.exception("API error on %s %s", request.method, request.path, exc_info=exc)
    return error(request, 500, "Something went wrong on our side; nothing more is known here.")


# --- reads --------------------------------------------------------------------------------------


@api.get(
    "/templates",
    response={200: list[schemas.TemplateOut], **ERRORS},
    tags=["catalog"],
    summary="Approved templates",
)
def template_list(request):
    """The approved templates campaigns may be built from (with an MPM button, still listed)."""
    need(request, "read", roles.VIEW)
    return MessageTemplate.objects.for_mpm().filter(status=MessageTemplate.Status.APPROVED)


def searchable(text: str) -> str:
    """PostgreSQL refuses a NUL in any text it is given: a 422, not a 500."""
    if "\x00" in text:
        raise ValueError("The search holds a NUL character (\\x00), which cannot be searched for.")
    return text


@api.get(
    "/products",
    response={200: list[schemas.ProductOut], 422: schemas.Error, **ERRORS},
    tags=["catalog"],
    summary="Search products",
)
def product_list(
    request,
    q: Annotated[
        str,
        Query(max_length=100, description="Start of a SKU, or part of a name."),
        AfterValidator(searchable),
    ] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
):
    """Active products: retailer IDs starting with `q` first, then names holding it."""
    need(request, "read", roles.VIEW)
    return selectors.product_search(q, limit=limit)


@api.get(
    "/campaigns/{campaign_id}",
    response={200: schemas.CampaignOut, 422: schemas.Error, **ERRORS},
    tags=["campaigns"],
    summary="A campaign's progress and results",
)
def campaign_read(request, campaign_id: Id):
    """A campaign's progress and results, from its counters (a few short queries whatever its
    size): messages by state, the funnel, failures by code, skips by reason, revenue."""
    need(request, "read", roles.VIEW)
    campaign = Campaign.objects.select_related("template").filter(pk=campaign_id).first()
    if campaign is None:
        raise Http404("There is no campaign with this ID.")
    tallies = selectors.campaign_tallies(campaign_id)
    progress = selectors.campaign_progress(campaign_id, tallies=tallies)
    funnel = selectors.funnel_of(tallies)
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "state": progress["state"],
        "paused_reason": progress["paused_reason"],
        "template": str(campaign.template),
        "progress": progress,
        "funnel": {**funnel.as_dict(), "steps": funnel.steps()},
        "failures": selectors.campaign_failures(campaign_id, tallies=tallies),
        "skips": selectors.campaign_skip_reasons(campaign_id, tallies=tallies),
        "revenue": [
            {"currency": currency, "orders": orders, "revenue": Decimal(cents) / 100}
            for currency, (orders, cents) in sorted(tallies.orders.items())
        ],
    }


@api.get(
    "/messages/{message_id}",
    response={200: schemas.MessageOut, 422: schemas.Error, **ERRORS},
    tags=["campaigns"],
    summary="A message, its events and orders",
)
def message_read(request, message_id: Id):
    """One message: its state, Kaleyra's id, the last code, its status events and the orders
    attributed to it."""
    need(request, "read", roles.VIEW)
    events = StatusEvent.objects.order_by("received_at", "id")  # oldest first, as they happened
    message = (
        Message.objects.filter(pk=message_id)
        .prefetch_related(Prefetch("status_events", queryset=events), "orders__items")
        .first()
    )
    if message is None:
        raise Http404("There is no message with this ID.")
    return message


# --- sending ------------------------------------------------------------------------------------


@api.post(
    "/campaigns/{campaign_id}/send",
    response={
        202: schemas.SendOut,
        400: schemas.Error,
        409: schemas.Error,
        413: schemas.Error,
        422: schemas.RefusedOut,
        **ERRORS,
    },
    tags=["campaigns"],
    summary="Send a campaign to recipients",
    openapi_extra={
        "parameters": [
            {
                "in": "header",
                "name": HEADER,
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
                "description": "Retried with the same key and body, the call answers again "
                "and sends nothing new.",
            }
        ]
    },
)
def campaign_send(request, campaign_id: Id, payload: schemas.SendIn):
    """Send the campaign to these recipients (1 to 1,000), each with its own values, in the
    background: 202 with what was queued, skipped (opted out, frequency cap …), and each
    recipient's message. All or nothing unless `valid_only`: an invalid recipient → 422 and
    nothing is sent. A campaign that breaks a rule → 422; one cancelled or paused → 409."""
    need(request, "send", roles.SEND)
    check_one_audience(payload)
    try:
        campaign, errors = services.campaign_checked(campaign_id)
    except Campaign.DoesNotExist:
        raise Http404("There is no campaign with this ID.") from None
    # An always-on campaign queues each call as one trigger: its key, or a new one without it.
    trigger_key = (request.headers.get(HEADER) or uuid.uuid4().hex) if campaign.triggered else ""
    return idempotent(request, lambda: send(campaign, errors, payload, trigger_key))


def send(campaign: Campaign, errors, payload: schemas.SendIn, trigger_key: str) -> tuple[int, dict]:
    if errors:
        return 422, {
            "detail": "Nothing was sent: the campaign breaks these rules; fix it in the app.",
            "problems": [{"field": f"campaign.{p.field}", "message": p.message} for p in errors],
            "invalid_recipients": [],
        }
    if payload.sender is None:
        return send_from_campaign_sender(campaign, payload, trigger_key)
    # The call's sender is kept only when the call sends: a refused call changes nothing.
    with transaction.atomic():
        answer = use_sender(campaign, payload.sender) or send_from_campaign_sender(
            campaign, payload, trigger_key
        )
        if answer[0] != 202:
            transaction.set_rollback(True)
    return answer


def send_from_campaign_sender(campaign: Campaign, payload: schemas.SendIn, trigger_key: str):
    if campaign.state == Campaign.State.PAUSED:
        return refused_start(
            f"The campaign is paused ({campaign.paused_reason or 'by an operator'}); "
            "resume or cancel it in the app."
        )
    if payload.recipients is None:
        return send_to_audience(campaign, payload, trigger_key)
    inputs = [
        recipients.RecipientInput(r.phone, r.overrides(), line=n)
        for n, r in enumerate(payload.recipients, start=1)
    ]
    try:
        services.sending_config(campaign)  # before anything is queued
        report = background.campaign_queue_and_send(
            campaign, inputs, valid_only=payload.valid_only, trigger_key=trigger_key
        )
    except services.CampaignNotRunnable as exc:
        return refused_start(str(exc))
    invalid = [
        {"index": line - 1, "line": line, "phone": phone, "reason": reason}
        for line, phone, reason in report.invalid
    ]
    if report.refused:
        return 422, {
            "detail": f"Nothing was sent: {report.invalid_count} recipient(s) are not valid. "
            "Correct them, or send with valid_only to send to the others.",
            "problems": [
                {"field": recipient_field(payload, row["index"]), "message": row["reason"]}
                for row in invalid
            ],
            "invalid_recipients": invalid,
        }
    return 202, {
        "queued": report.queued,
        "skipped": report.skipped_count_blocked,
        "skipped_recipients": [{"phone": n, "reason": r} for n, r in report.skipped],
        "invalid": report.invalid_count,
        "invalid_recipients": invalid,
        "duplicates": report.duplicate_count,
        "duplicate_phones": report.duplicates,
        "already_accepted": report.already_accepted,
        "unknown_kept": report.unknown_kept,
        "notes": report.notes(),
        "warnings": report.warnings,
        "messages": messages_of(campaign, payload, trigger_key),
    }


def use_sender(campaign: Campaign, value: int | str) -> tuple[int, dict] | None:
    """The call's `sender` for the campaign: None when taken, else the refusal (400 for an
    unknown or inactive sender, naming the field; 409 for a running campaign's other one)."""
    sender = sender_by_reference(value)
    problem = (
        f"There is no sender {value!r}: give a sender's id or its business number "
        "(e.g. +919000000001)."
        if sender is None
        else f"Sender {sender} is inactive: choose an active sender."
        if not sender.active
        else ""
    )
    if problem:
        return 400, {
            "detail": f"Nothing was sent: {problem}",
            "problems": [{"field": "sender", "message": problem}],
        }
    try:
        services.campaign_use_sender(campaign, sender=sender)
    except services.CampaignNotRunnable as exc:
        return 409, {
            "detail": f"Nothing was sent: {exc}",
            "problems": [{"field": "sender", "message": str(exc)}],
        }
    return None


def check_one_audience(payload: schemas.SendIn):
    """Exactly one of recipients, list or segment, refused as the body's other faults are."""
    given = [
        name
        for name, value in (
            ("recipients", payload.recipients),
            ("list", payload.list_id),
            ("segment", payload.segment_id),
        )
        if value is not None
    ]
    if len(given) != 1:
        message = "Give exactly one of recipients, list or segment" + (
            f" (this call gave {' and '.join(given)})." if given else "."
        )
        field = given[-1] if given else "recipients"
        raise ValidationError([{"loc": ("body", "payload", field), "msg": message}])


def send_to_audience(campaign: Campaign, payload: schemas.SendIn, trigger_key: str):
    """Send to a list or segment: queued by the send task as it starts, so the answer counts
    the contacts it matches now and those without consent (the send skips them); `messages`
    is empty until then (GET the campaign's messages later)."""
    field, model, pk = (
        ("list", ContactList, payload.list_id)
        if payload.list_id is not None
        else ("segment", Segment, payload.segment_id)
    )
    audience = model.objects.filter(pk=pk).first()
    problem = "" if audience else f"There is no {field} with id {pk}."
    if campaign.triggered:
        problem = (
            "An always-on campaign sends per trigger: give its recipients; send a list or a "
            "segment with a batch campaign."
        )
    if problem:
        return 422, {
            "detail": f"Nothing was sent: {problem}",
            "problems": [{"field": field, "message": problem}],
            "invalid_recipients": [],
        }
    chosen = {"contact_list" if field == "list" else "segment": audience}
    try:
        contacts = recipients.audience_contacts(**chosen)
        count = contacts.count()
        without_consent = contacts.exclude(consent=Consent.OPTED_IN).count()
        services.sending_config(campaign)
        background.campaign_send_to_audience(campaign, **chosen)
    except SegmentRulesError as exc:
        return 422, {
            "detail": "Nothing was sent: the segment's rules cannot be evaluated; fix it in the app.",
            "problems": [{"field": "segment", "message": p} for p in exc.problems],
            "invalid_recipients": [],
        }
    except services.CampaignNotRunnable as exc:
        return refused_start(str(exc))
    return 202, {
        "queued": count,
        "skipped": 0,
        "skipped_recipients": [],
        "invalid": 0,
        "invalid_recipients": [],
        "duplicates": 0,
        "duplicate_phones": [],
        "already_accepted": 0,
        "unknown_kept": 0,
        "notes": [
            f"The {field} has {count} contact(s) now; they are queued as the send starts "
            f"({without_consent} without consent, and those within the frequency cap, are "
            "skipped then)."
        ],
        "warnings": [],
        "messages": [],
    }


def refused_start(reason: str) -> tuple[int, dict]:
    return 409, {"detail": f"Nothing was sent: {reason}", "problems": []}


def recipient_field(payload: schemas.SendIn, index: int) -> str:
    """The field an invalid recipient's reason is about: its phone, else its values."""
    number, _ = recipients.normalise_phone(payload.recipients[index].phone)
    return f"recipients[{index}]" + (".phone" if number is None else "")


def messages_of(campaign: Campaign, payload: schemas.SendIn, trigger_key: str) -> list[dict]:
    """Each valid recipient's Message (new, or the one this campaign already had for it, for
    this trigger)."""
    numbers = [recipients.normalise_phone(r.phone)[0] for r in payload.recipients]
    found = {
        to: (pk, state)
        for to, pk, state in Message.objects.real()
        .filter(campaign=campaign, to__any_of=[n for n in numbers if n], trigger_key=trigger_key)
        .order_by()
        .values_list("to", "id", "state")
    }
    return [
        {
            "index": index,
            "phone": r.phone,
            "to": number,
            "id": found[number][0],
            "state": found[number][1],
        }
        for index, (r, number) in enumerate(zip(payload.recipients, numbers, strict=True))
        if number in found
    ]
