"""Kaleyra's callbacks come in here: authenticated, checked to be JSON, stored, answered.

The views do nothing slow: every credential is checked (`campaigns.callbacks.auth`) before the
body is read, a malformed body is refused with 400 (413 when too large) and nothing is stored,
and a good one becomes one `CallbackInbox` row, committed before the 200. `campaigns.callbacks` applies the rows in batches
(`manage.py apply_callbacks`).
"""

import json
import logging

from csp.decorators import csp_exempt
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from campaigns import jsonsafe
from campaigns.callbacks.auth import (
    CallbackAuth,
    accepted,
    basic_credentials,
    configured_auth,
    issue_token,
    matches_any,
)
from campaigns.callbacks.sql import insert_callbacks
from campaigns.callbacks.writelock import sqlite_write_lock
from campaigns.models import CallbackInbox

logger = logging.getLogger(__name__)

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_BODY_BYTES = 1_000_000  # a status callback is about 1 kB; an order with 30 items a few kB


class Malformed(Exception):
    """The body cannot be a callback; the message says why (sent back with the 400)."""

    status = 400


class TooLarge(Malformed):
    """The body is larger than any callback (413)."""

    status = 413


def request_fields(read):
    """`read()` (request.POST or .GET) with Django's own refusals as Malformed: too large,
    too many fields, a broken multipart body."""
    try:
        return read()
    except RequestDataTooBig:
        raise TooLarge("The body is too large.") from None
    except (SuspiciousOperation, MultiPartParserError) as exc:
        raise Malformed(f"The fields cannot be read: {exc}") from None


def request_body(request) -> bytes:
    try:
        return request.body
    except RequestDataTooBig:
        raise TooLarge("The body is too large.") from None


UNAUTHORIZED = {"error": "unauthorized", "detail": "Missing or wrong callback credentials."}
RECEIVED = {"status": "received"}
UNAVAILABLE = {"error": "temporarily unavailable"}  # our database failed: Kaleyra retries
INTERNAL_ERROR = {"error": "internal error"}


def challenge(auth: CallbackAuth) -> dict[str, str]:
    """The 401's WWW-Authenticate header for the configured scheme, if it has one."""
    if auth.basic:
        return {"WWW-Authenticate": 'Basic realm="kaleyra-callbacks"'}
    if auth.bearer:
        return {"WWW-Authenticate": 'Bearer realm="kaleyra-callbacks"'}
    return {}


def malformed(exc: Malformed) -> dict[str, str]:
    return {"error": "malformed", "detail": str(exc)}


def unauthorized(auth: CallbackAuth) -> JsonResponse:
    return JsonResponse(UNAUTHORIZED, status=401, headers=challenge(auth))


def json_document(raw: bytes) -> str:
    """The body as text when it is a JSON object (or a list of objects); Malformed otherwise."""
    if not raw:
        raise Malformed("The body is empty.")
    if len(raw) > MAX_BODY_BYTES:
        raise TooLarge(f"The body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("The body is not UTF-8.") from None
    try:
        data = jsonsafe.loads(text)
    except jsonsafe.JsonRefused as exc:
        raise Malformed(f"The body was refused: {exc}.") from None
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        return text
    if not isinstance(data, dict) or not data:
        raise Malformed("The body must be a JSON object.")
    return text


class CallbackView(View):
    """One base for every Kaleyra callback: authenticate, check the body, store it, answer.

    CSRF-exempt and open to anonymous requests (LoginRequiredMiddleware lets it through); each
    subclass names its `kind` and, for the dynamic-variable forms, accepts GET and form bodies.
    Answers: 200 stored; 401 wrong or missing credentials (nothing stored); 400 malformed and
    413 too large (with the reason, logged; nothing stored); 405 wrong method; 503 our database failed (Kaleyra retries). Never a
    traceback page, even with DEBUG on.
    """

    kind = CallbackInbox.Kind.KALEYRA
    http_method_names = ["post"]
    accepts_form = False  # a form-encoded POST (GET needs "get" in http_method_names)

    @classmethod
    def as_view(cls, **initkwargs):
        return login_not_required(csrf_exempt(csp_exempt()(super().as_view(**initkwargs))))

    def dispatch(self, request, *args, **kwargs):
        try:
            if request.method.lower() not in self.http_method_names:
                return self.http_method_not_allowed(request, *args, **kwargs)
            if not accepted(request):
                return unauthorized(configured_auth())
            try:
                content_type, body = self.read_body(request)
            except Malformed as exc:
                logger.warning("Refused a malformed %s callback: %s", self.kind, exc)
                return JsonResponse(malformed(exc), status=exc.status)
            return self.store(content_type, body)
        except Exception:  # our bug: logged, and an answer Kaleyra will retry
            logger.exception("The %s callback view failed", self.kind)
            return JsonResponse(INTERNAL_ERROR, status=500)

    def read_body(self, request) -> tuple[str, str]:
        if request.method == "GET":
            return "query", self._fields_json(request_fields(lambda: request.GET))
        # A NUL could never be stored (PostgreSQL); no real content type holds one.
        content_type = (request.content_type or "").replace("\x00", "")
        if self.accepts_form and content_type in FORM_TYPES:
            return content_type, self._fields_json(request_fields(lambda: request.POST))
        return content_type, json_document(request_body(request))

    @staticmethod
    def _fields_json(query) -> str:
        fields = {key: query.get(key) for key in query}
        if not fields:
            raise Malformed("No fields were given.")
        if any("\x00" in key or "\x00" in value for key, value in fields.items()):
            raise Malformed("A field holds a NUL character, which cannot be stored.")
        return json.dumps(fields)

    def store(self, content_type: str, body: str):
        try:
            # Autocommit: durable before the 200. On SQLite, writers take turns (writelock).
            with sqlite_write_lock(), connection.cursor() as cursor:
                insert_callbacks(cursor, [(self.kind, content_type[:100], body, timezone.now())])
        except DatabaseError:
            logger.exception("Could not store a %s callback; Kaleyra will retry it", self.kind)
            return JsonResponse(UNAVAILABLE, status=503)
        return JsonResponse(RECEIVED)


class KaleyraCallbackView(CallbackView):
    """POST /callbacks/kaleyra/: v2 callbacks of every kind (statuses, replies, orders)."""

    kind = CallbackInbox.Kind.KALEYRA


class TemplateCallbackView(CallbackView):
    """POST /callbacks/kaleyra/templates/: template status events (approved, rejected, paused,
    disabled). Kaleyra's template profile may also be a GET with query parameters."""

    kind = CallbackInbox.Kind.TEMPLATE
    http_method_names = ["get", "post"]
    accepts_form = True


class DynamicCallbackView(CallbackView):
    """GET|POST /callbacks/kaleyra/dynamic/: the older dynamic-variable profile (`id`, `status`,
    `mobile`, `error`, `error_code`, `ref`…) as query parameters, a form or a flat JSON body."""

    kind = CallbackInbox.Kind.DYNAMIC
    http_method_names = ["get", "post"]
    accepts_form = True


@csrf_exempt
@login_not_required
def token_view(request):
    """POST /callbacks/kaleyra/token/: Kaleyra's "Advanced" auth. Checks the client id and
    secret (form, JSON body or Basic auth) and answers a bearer token for the callbacks."""
    try:
        if request.method != "POST":
            return JsonResponse(
                {"error": "method not allowed"}, status=405, headers={"Allow": "POST"}
            )
        auth = configured_auth()
        try:
            client_id, client_secret = _client_credentials(request)
        except Malformed as exc:
            return JsonResponse({"error": "invalid_request", "detail": str(exc)}, status=exc.status)
        id_ok = matches_any(client_id, auth.client_ids)
        secret_ok = matches_any(client_secret, auth.client_secrets)
        if not (auth.bearer and id_ok and secret_ok):
            return JsonResponse(
                {"error": "invalid_client", "detail": "Wrong or missing client credentials."},
                status=401,
            )
        return JsonResponse(
            {
                "access_token": issue_token(client_id),
                "token_type": "Bearer",
                "expires_in": auth.token_ttl,
            },
            headers={"Cache-Control": "no-store"},
        )
    except Exception:
        logger.exception("The callback token view failed")
        return JsonResponse({"error": "internal error"}, status=500)


CLIENT_ID_FIELDS = ("client_id", "clientId", "username")
CLIENT_SECRET_FIELDS = ("client_secret", "clientSecret", "password")


def _client_credentials(request) -> tuple[str, str]:
    credentials = basic_credentials(request)
    if credentials:
        return credentials
    if request.content_type == "application/json":
        try:
            data = jsonsafe.loads(request_body(request) or b"{}")
        except jsonsafe.JsonRefused:
            data = {}
        fields = data if isinstance(data, dict) else {}
    else:
        fields = request_fields(lambda: request.POST)
    client_id = next((str(fields[k]) for k in CLIENT_ID_FIELDS if fields.get(k)), "")
    client_secret = next((str(fields[k]) for k in CLIENT_SECRET_FIELDS if fields.get(k)), "")
    return client_id, client_secret
