"""Who may post Kaleyra's callbacks, each way a Kaleyra callback profile offers (settings from the
environment; secrets may be comma-separated lists so an old and a new one both work while
rotating):
- Basic auth (KALEYRA_CALLBACK_USERNAME / KALEYRA_CALLBACK_PASSWORD);
- a static secret in an extra header (KALEYRA_CALLBACK_HEADER / KALEYRA_CALLBACK_TOKEN), which
  every callback must then carry;
- "Advanced" auth: Kaleyra posts KALEYRA_CALLBACK_CLIENT_ID / _SECRET to `token/` and sends the
  bearer token it gets back (signed, short-lived; no database row) until it expires.
With nothing configured every callback is refused (system check campaigns.W001). In sandbox
mode the sandbox's own callbacks carry a header secret of their own, derived from
DJANGO_SECRET_KEY: the sandbox never holds or sends the production credentials.
"""

import base64
from dataclasses import dataclass

from django.core import signing
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare, salted_hmac

from campaigns import conf

# The salts sign tokens already issued and derive the sandbox's secret: never rename them.
TOKEN_SALT = "campaigns.webhooks.callback-token"
SANDBOX_SALT = "campaigns.webhooks.sandbox"
SANDBOX_HEADER = "X-MPM-Sandbox-Callback"


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
        usernames=_secrets(conf.KALEYRA_CALLBACK_USERNAME),
        passwords=_secrets(conf.KALEYRA_CALLBACK_PASSWORD),
        header=conf.KALEYRA_CALLBACK_HEADER.strip(),
        tokens=_secrets(conf.KALEYRA_CALLBACK_TOKEN),
        client_ids=_secrets(conf.KALEYRA_CALLBACK_CLIENT_ID),
        client_secrets=_secrets(conf.KALEYRA_CALLBACK_CLIENT_SECRET),
        token_ttl=conf.KALEYRA_CALLBACK_TOKEN_TTL,
    )


def sandbox_token() -> str:
    """The sandbox's header secret: the same in every process that shares DJANGO_SECRET_KEY
    (web workers, the sandbox's poster thread), unknown to anyone without it."""
    return salted_hmac(SANDBOX_SALT, "callback-token").hexdigest()


def sandbox_headers() -> dict[str, str]:
    """What the sandbox's poster signs its callbacks with."""
    return {SANDBOX_HEADER: sandbox_token()}


def accepted(request: HttpRequest) -> bool:
    """A callback from Kaleyra (the configured credentials) or, in sandbox mode only, from the
    sandbox (its own secret)."""
    if authenticated(request, configured_auth()):
        return True
    sandbox = CallbackAuth(header=SANDBOX_HEADER, tokens=(sandbox_token(),))
    return conf.KALEYRA_SANDBOX and authenticated(request, sandbox)


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
    except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 once decoded
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
