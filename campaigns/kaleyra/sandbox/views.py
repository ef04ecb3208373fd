"""The offline stand-in for Kaleyra's send endpoint, served by the app itself in sandbox mode.

It checks requests as strictly as `validation` does and answers exactly as Kaleyra documents.
Recipients ending in the digits of `TEST_NUMBERS` trigger each documented error. After accepting
a message it plays Kaleyra's callbacks too (`callbacks`, MPM_SANDBOX_CALLBACKS).
"""

import base64
import binascii
import ipaddress
import re
import uuid
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from campaigns import conf, jsonsafe
from campaigns.kaleyra import SANDBOX_API_KEY, documented
from campaigns.kaleyra.sandbox.callbacks import schedule_callbacks
from campaigns.kaleyra.sandbox.templates import SANDBOX_TEMPLATES
from campaigns.models import Message, MessageTemplate, Product, SendAttempt
from campaigns.validation import request_body_problems


def _answer(status: int, body: dict) -> JsonResponse:
    return JsonResponse(body, status=status)


def _documented(name: str):
    return lambda: _answer(*documented.ERRORS[name])


def _wa400(detail: str):
    return _answer(*documented.wa400(detail))


def _proxy_502():
    return HttpResponse(documented.PROXY_502_HTML, status=502, content_type="text/html")


# Recipient numbers ending in these digits get these answers (documented in the README).
TEST_NUMBERS = {
    "9401": ("RBC001: incorrect SID or API key", _documented("RBC001")),
    "9110": ("E110: low balance", _documented("E110")),
    "0400": ("WA400: incorrect payload", _documented("WA400")),
    "0401": ("WA401: sender number not in the account", _documented("WA401")),
    "0402": ("WA-401: API not available for the account", _documented("WA-401 account")),
    "0403": ("WA-401: number on another API version", _documented("WA-401 version")),
    "0500": ("WA500: internal server error", _documented("WA500")),
    "0502": ("HTTP 502 with an HTML body (a proxy error)", _proxy_502),
    "9101": ("WAV2101: account daily limit reached", _documented("WAV2101")),
}
# Answers about the account, not the message: as in real life they stop once the operator has
# fixed the cause (a top-up, a new day, the key) and resumes. The sandbox plays that by giving
# each number such an answer once: the same message sent again after Resume goes through.
ACCOUNT_ANSWERS = {"9401": "RBC001", "9110": "E110", "9101": "WAV2101"}
OWN_REF = re.compile(r"mpm-(\d{1,18})")  # the engine's ref for a Message of its own


@csrf_exempt
@login_not_required
@require_POST
def messages_endpoint(request, sid: str, sender: str):
    """POST /sandbox/v2/<sid>/whatsapp/<sender>/messages, answering as Kaleyra would.

    It exists in sandbox mode only, and answers only the addresses MPM_SANDBOX_ALLOWED_IPS
    allows (loopback by default: the app's own engine): nobody else can run up its catalog
    checks or make it post callbacks."""
    if not conf.KALEYRA_SANDBOX or not _allowed(request):
        raise Http404("There is no sandbox here.")
    if request.headers.get("api-key") != SANDBOX_API_KEY:
        return _answer(*documented.ERRORS["RBC001"])
    try:
        body = jsonsafe.loads(request.body)
    except jsonsafe.JsonRefused as exc:
        return _wa400(f"The body cannot be read: {exc}.")
    problems = request_body_problems(body) or _catalog_problems(body)
    if problems:
        return _wa400("; ".join(str(p) for p in problems))
    to = body["messaging_object"]["to"]
    for suffix, (_, answer) in TEST_NUMBERS.items():
        if to.endswith(suffix) and not _fixed_since(body, ACCOUNT_ANSWERS.get(suffix)):
            return answer()
    message_id = f"SBX{uuid.uuid4().hex[:20]}"
    if conf.MPM_SANDBOX_CALLBACKS:
        _play_callbacks(body, sender, message_id)
    return _answer(202, documented.accepted(message_id))


# Pages of two unless `limit` says otherwise: small, so the sync's paging is used in the sandbox.
TEMPLATE_PAGE_SIZE = 2
MAX_TEMPLATE_PAGE_SIZE = 100


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"sandbox:{index}".encode()).decode()


def _cursor_index(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        return None
    prefix, _, index = text.partition(":")
    return int(index) if prefix == "sandbox" and index.isascii() and index.isdigit() else None


@login_not_required
@require_GET
def templates_endpoint(request, sid: str, waba_id: str):
    """GET /sandbox/v2/<sid>/whatsapp/<waba_id>/message_templates: the sandbox's templates in
    Meta's list shape, `limit` per page (2 by default), `after` a cursor, and `paging.next` an
    absolute URL to the next page built from this request; any WABA id lists the same ones."""
    if not conf.KALEYRA_SANDBOX or not _allowed(request):
        raise Http404("There is no sandbox here.")
    if request.headers.get("api-key") != SANDBOX_API_KEY:
        return _answer(*documented.ERRORS["RBC001"])
    limit = request.GET.get("limit", str(TEMPLATE_PAGE_SIZE))
    if not (limit.isascii() and limit.isdigit()) or not 1 <= int(limit) <= MAX_TEMPLATE_PAGE_SIZE:
        return _wa400(f"limit must be a whole number from 1 to {MAX_TEMPLATE_PAGE_SIZE}.")
    limit = int(limit)
    start = 0
    if "after" in request.GET:
        start = _cursor_index(request.GET["after"])
        if start is None:
            return _wa400("after is not a cursor this list gave.")
    page = SANDBOX_TEMPLATES[start : start + limit]
    end = start + len(page)
    paging = {"cursors": {"before": _cursor(start), "after": _cursor(end)}}
    if end < len(SANDBOX_TEMPLATES):
        query = urlencode({"limit": limit, "after": _cursor(end)})
        paging["next"] = request.build_absolute_uri(f"{request.path}?{query}")
    return _answer(200, {"data": page, "paging": paging})


def _fixed_since(body: dict, account_code: str | None) -> bool:
    """This campaign's real message to this number got the account answer before: the operator
    has resumed since. (Test sends and other campaigns never use up a campaign's answer.)"""
    if not account_code:
        return False
    to = body["messaging_object"]["to"]
    attempts = SendAttempt.objects.filter(code=account_code, message__to=to, message__is_test=False)
    own = OWN_REF.fullmatch(str((body.get("extra_info") or {}).get("ref", "")))
    if own:
        campaign = Message.objects.filter(pk=int(own[1])).values_list("campaign_id", flat=True)
        attempts = attempts.filter(message__campaign_id__in=campaign)
    return attempts.exists()


def _allowed(request) -> bool:
    """The engine calls the sandbox directly; a request that came through a reverse proxy (which
    on the same machine arrives from loopback) is someone else's."""
    if "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META:
        return False
    try:
        ip = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(
        ip in ipaddress.ip_network(network, strict=False)
        for network in conf.MPM_SANDBOX_ALLOWED_IPS
    )


def callback_url() -> str:
    """Where the sandbox posts its callbacks: from settings only, never from a request (whose
    Host header anyone can choose)."""
    return conf.MPM_SANDBOX_CALLBACK_URL or conf.SITE_URL.rstrip("/") + reverse("kaleyra-callback")


def _play_callbacks(body: dict, sender: str, message_id: str):
    """Have the poster thread send this message's callbacks to the app, as Kaleyra would."""
    url = callback_url()

    def products():
        wanted = [
            item["product_retailer_id"]
            for section in _mpm_action(body)["sections"]
            for item in section["product_items"]
        ]
        found = {
            rid: (rid, price, currency)
            for rid, price, currency in Product.objects.filter(retailer_id__in=wanted).values_list(
                "retailer_id", "price", "currency"
            )
        }
        return [found[rid] for rid in wanted if rid in found]

    schedule_callbacks(
        url=url,
        to=body["messaging_object"]["to"],
        message_id=message_id,
        extra_info=body.get("extra_info") or {},
        sender=sender,
        products=products,
    )


def _mpm_action(body: dict) -> dict:
    template = body["messaging_object"]["template"]
    button = next(c for c in template["components"] if c["type"] == "button")
    return button["parameters"][0]["action"]


def _catalog_problems(body: dict) -> list[str]:
    """What Meta would refuse about the template and products (the sandbox owns this catalog)."""
    template = body["messaging_object"]["template"]
    approved = MessageTemplate.objects.filter(
        name=template["name"],
        language=template["language"]["code"],
        status=MessageTemplate.Status.APPROVED,
    ).exists()
    problems = [] if approved else [f"template {template['name']} is not approved"]
    action = next(c for c in template["components"] if c["type"] == "button")["parameters"][0][
        "action"
    ]
    wanted = {action["thumbnail_product_retailer_id"]} | {
        item["product_retailer_id"] for s in action["sections"] for item in s["product_items"]
    }
    known = set(
        Product.objects.filter(retailer_id__in=wanted).values_list("retailer_id", flat=True)
    )
    problems += [f"product {rid} is not in the catalog" for rid in sorted(wanted - known)]
    return problems
