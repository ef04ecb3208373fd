"""Kaleyra's callbacks come in here: authenticated, checked to be JSON, stored, answered.

The views do nothing slow: every credential is checked before the body is read, a malformed body
is refused with 400, and a good one becomes one `CallbackInbox` row, committed before the 200.
`campaigns.callbacks` applies the rows in batches (`manage.py apply_callbacks`).

Authentication, each way a Kaleyra callback profile offers (settings from the environment;
secrets may be comma-separated lists so an old and a new one both work while rotating):
- Basic auth (KALEYRA_CALLBACK_USERNAME / KALEYRA_CALLBACK_PASSWORD);
- a static secret in an extra header (KALEYRA_CALLBACK_HEADER / KALEYRA_CALLBACK_TOKEN), which
  every callback must then carry;
- "Advanced" auth: Kaleyra posts KALEYRA_CALLBACK_CLIENT_ID / _SECRET to `token/` and sends the
  bearer token it gets back (signed, short-lived; no database row) until it expires.
With nothing configured every callback is refused (system check campaigns.W001), except in
sandbox mode, where the sandbox uses a header secret derived from DJANGO_SECRET_KEY.
"""

import base64
import binascii
import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from campaigns.callbacks.sql import insert_callback
from campaigns.callbacks.writelock import sqlite_write_lock
from campaigns.models import CallbackInbox

logger = logging.getLogger(__name__)

TOKEN_SALT = "campaigns.webhooks.callback-token"
SANDBOX_HEADER = "X-MPM-Sandbox-Callback"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_BODY_BYTES = 1_000_000  # a status callback is about 1 kB; an order with 30 items a few kB


@dataclass(frozen=True)
class CallbackAuth:
    """The callback credentials this app accepts, as configured."""

    usernames: tuple[str, ...] = ()
    passwords: tuple[str, ...] = ()
    header: str = ""
    tokens: tuple[str, ...] = ()
    client_ids: tuple[str, ...] = ()
    client_secrets: tuple[str, ...] = ()
    token_ttl: int = 3600

    @property
    def basic(self) -> bool:
        return bool(self.usernames and self.passwords)

    @property
    def static_header(self) -> bool:
        return bool(self.header and self.tokens)

    @property
    def bearer(self) -> bool:
        return bool(self.client_ids and self.client_secrets)

    @property
    def configured(self) -> bool:
        return self.basic or self.static_header or self.bearer


def _secrets(value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    return tuple(s.strip() for s in value or () if s and s.strip())


def configured_auth() -> CallbackAuth:
    """What the environment configured, ignoring the sandbox's own secret."""
    return CallbackAuth(
        usernames=_secrets(settings.KALEYRA_CALLBACK_USERNAME),
        passwords=_secrets(settings.KALEYRA_CALLBACK_PASSWORD),
        header=settings.KALEYRA_CALLBACK_HEADER.strip(),
        tokens=_secrets(settings.KALEYRA_CALLBACK_TOKEN),
        client_ids=_secrets(settings.KALEYRA_CALLBACK_CLIENT_ID),
        client_secrets=_secrets(settings.KALEYRA_CALLBACK_CLIENT_SECRET),
        token_ttl=settings.KALEYRA_CALLBACK_TOKEN_TTL,
    )


def sandbox_token() -> str:
    """The sandbox's header secret: the same in every process that shares DJANGO_SECRET_KEY
    (web workers, the sandbox's poster thread), unknown to anyone without it."""
    return salted_hmac("campaigns.webhooks.sandbox", "callback-token").hexdigest()


def callback_auth() -> CallbackAuth:
    """The credentials in force: the configured ones, or the sandbox's secret in sandbox mode."""
    auth = configured_auth()
    if not auth.configured and settings.KALEYRA_SANDBOX:
        return CallbackAuth(header=SANDBOX_HEADER, tokens=(sandbox_token(),))
    return auth


def matches_any(given: str, secrets: tuple[str, ...]) -> bool:
    """Constant-time comparison against every secret (no early exit on a match)."""
    found = False
    for secret in secrets:
        found |= constant_time_compare(given, secret)
    return found and bool(given)


def basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def bearer_token(request: HttpRequest) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def issue_token(client_id: str) -> str:
    return signing.TimestampSigner(salt=TOKEN_SALT).sign_object({"c": client_id})


def token_client(token: str, auth: CallbackAuth) -> str | None:
    """The client id a valid, unexpired token was issued to (and still configured), or None."""
    try:
        data = signing.TimestampSigner(salt=TOKEN_SALT).unsign_object(token, max_age=auth.token_ttl)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    client_id = data.get("c") if isinstance(data, dict) else None
    if not isinstance(client_id, str) or not matches_any(client_id, auth.client_ids):
        return None
    return client_id


def authenticated(request: HttpRequest, auth: CallbackAuth) -> bool:
    """Every configured requirement, from headers only (the body is not read yet).

    The static header, when configured, is required on every callback. Basic and bearer both
    use `Authorization`, so either one that is configured is enough.
    """
    if not auth.configured:
        return False
    if auth.static_header and not matches_any(request.headers.get(auth.header, ""), auth.tokens):
        return False
    if not (auth.basic or auth.bearer):
        return True
    credentials = basic_credentials(request) if auth.basic else None
    if credentials is not None:
        username_ok = matches_any(credentials[0], auth.usernames)
        password_ok = matches_any(credentials[1], auth.passwords)
        if username_ok and password_ok:
            return True
    token = bearer_token(request) if auth.bearer else ""
    return bool(token) and token_client(token, auth) is not None


class Malformed(Exception):
    """The body cannot be a callback; the message says why (sent back with the 400)."""


def unauthorized(auth: CallbackAuth) -> JsonResponse:
    response = JsonResponse(
        {"error": "unauthorized", "detail": "Missing or wrong callback credentials."}, status=401
    )
    if auth.basic:
        response["WWW-Authenticate"] = 'Basic realm="kaleyra-callbacks"'
    elif auth.bearer:
        response["WWW-Authenticate"] = 'Bearer realm="kaleyra-callbacks"'
    return response


def _json_document(raw: bytes) -> str:
    """The body as text when it is a JSON object (or a list of objects); Malformed otherwise."""
    if not raw:
        raise Malformed("The body is empty.")
    if len(raw) > MAX_BODY_BYTES:
        raise Malformed(f"The body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError:
        raise Malformed("The body is not UTF-8.") from None
    except ValueError as exc:
        raise Malformed(f"The body is not JSON: {exc}.") from None
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        return text
    if not isinstance(data, dict) or not data:
        raise Malformed("The body must be a JSON object.")
    return text


class CallbackView(View):
    """One base for every Kaleyra callback: authenticate, check the body, store it, answer.

    CSRF-exempt and open to anonymous requests (LoginRequiredMiddleware lets it through); each
    subclass names its `kind` and, for the dynamic-variable forms, accepts GET and form bodies.
    Answers: 200 stored; 401 wrong or missing credentials (nothing stored); 400 malformed (with
    the reason, logged); 405 wrong method; 503 our database failed (Kaleyra retries). Never a
    traceback page, even with DEBUG on.
    """

    kind = CallbackInbox.Kind.KALEYRA
    http_method_names = ["post"]
    accepts_form = False  # a form-encoded POST (GET needs "get" in http_method_names)

    @classmethod
    def as_view(cls, **initkwargs):
        return login_not_required(csrf_exempt(super().as_view(**initkwargs)))

    def dispatch(self, request, *args, **kwargs):
        try:
            if request.method.lower() not in self.http_method_names:
                return self.http_method_not_allowed(request, *args, **kwargs)
            auth = callback_auth()
            if not authenticated(request, auth):
                return unauthorized(auth)
            try:
                content_type, body = self.read_body(request)
            except Malformed as exc:
                logger.warning("Refused a malformed %s callback: %s", self.kind, exc)
                return JsonResponse({"error": "malformed", "detail": str(exc)}, status=400)
            return self.store(content_type, body)
        except Exception:  # our bug: logged, and an answer Kaleyra will retry
            logger.exception("The %s callback view failed", self.kind)
            return JsonResponse({"error": "internal error"}, status=500)

    def read_body(self, request) -> tuple[str, str]:
        if request.method == "GET":
            return "query", self._fields_json(request.GET)
        content_type = request.content_type or ""
        if self.accepts_form and content_type in FORM_TYPES:
            return content_type, self._fields_json(request.POST)
        try:
            raw = request.body
        except RequestDataTooBig:
            raise Malformed("The body is too large.") from None
        return content_type, _json_document(raw)

    @staticmethod
    def _fields_json(query) -> str:
        fields = {key: query.get(key) for key in query}
        if not fields:
            raise Malformed("No fields were given.")
        return json.dumps(fields)

    def store(self, content_type: str, body: str):
        try:
            # Autocommit: durable before the 200. On SQLite, writers take turns (writelock).
            with sqlite_write_lock(), connection.cursor() as cursor:
                insert_callback(cursor, self.kind, content_type[:100], body, timezone.now())
        except DatabaseError:
            logger.exception("Could not store a %s callback; Kaleyra will retry it", self.kind)
            return JsonResponse({"error": "temporarily unavailable"}, status=503)
        return JsonResponse({"status": "received"})


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
        client_id, client_secret = _client_credentials(request)
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
    fields = {}
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            data = {}
        fields = data if isinstance(data, dict) else {}
    else:
        fields = request.POST
    client_id = next((str(fields[k]) for k in CLIENT_ID_FIELDS if fields.get(k)), "")
    client_secret = next((str(fields[k]) for k in CLIENT_SECRET_FIELDS if fields.get(k)), "")
    return client_id, client_secret
