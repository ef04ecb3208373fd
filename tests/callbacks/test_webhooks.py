"""The callback endpoints' authentication, one reusable set of tests applied to every callback
URL and every way a Kaleyra callback profile authenticates (Basic, a header secret, Advanced /
bearer), plus the answers for malformed bodies, wrong methods and our own failures."""

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.core import checks, signing
from django.db import OperationalError
from django.test import Client
from django.utils.crypto import salted_hmac

from campaigns.callbacks import auth as callback_auth
from campaigns.callbacks import views as webhooks
from campaigns.models import CallbackInbox
from tests.support.callbacks import v2_status

STATUS_BODY = v2_status("sent", message_id="KAL1", meta_id="wamid.A1", extra_id="KAL1", ref="mpm-1")
TEMPLATE_BODY = {
    "event": "PAUSED",
    "message_template_name": "abandoned_cart",
    "message_template_language": "en_US",
    "reason": "Low quality",
}
DYNAMIC_BODY = {"id": "KAL1", "status": "delivered", "mobile": "919876543210", "ref": "mpm-1"}

# Every callback URL with a body it accepts.
CALLBACK_URLS = {
    "/callbacks/kaleyra/": (STATUS_BODY, CallbackInbox.Kind.KALEYRA),
    "/callbacks/kaleyra/templates/": (TEMPLATE_BODY, CallbackInbox.Kind.TEMPLATE),
    "/callbacks/kaleyra/dynamic/": (DYNAMIC_BODY, CallbackInbox.Kind.DYNAMIC),
}
TOKEN_URL = "/callbacks/kaleyra/token/"


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def bearer_headers(client, secret: str) -> dict:
    """Kaleyra's "Advanced" auth: a token from the token endpoint, then `Bearer <token>`."""
    response = client.post(TOKEN_URL, {"client_id": "kaleyra-client", "client_secret": secret})
    token = response.json().get("access_token", "not-a-token")
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class AuthMethod:
    """One way a Kaleyra callback profile authenticates: the settings that turn it on (given
    the secrets in force) and the headers a callback carries (given the secret it knows)."""

    name: str
    settings: Callable[[list[str]], dict]
    headers: Callable[[Client, str], dict]

    def configure(self, settings, secrets: list[str]):
        for name, value in self.settings(secrets).items():
            setattr(settings, name, value)


BASIC = AuthMethod(
    "basic",
    lambda secrets: {
        "KALEYRA_CALLBACK_USERNAME": ["kaleyra"],
        "KALEYRA_CALLBACK_PASSWORD": secrets,
    },
    lambda client, secret: {"Authorization": basic("kaleyra", secret)},
)
HEADER = AuthMethod(
    "header",
    lambda secrets: {
        "KALEYRA_CALLBACK_HEADER": "X-Callback-Secret",
        "KALEYRA_CALLBACK_TOKEN": secrets,
    },
    lambda client, secret: {"X-Callback-Secret": secret},
)
BEARER = AuthMethod(
    "bearer",
    lambda secrets: {
        "KALEYRA_CALLBACK_CLIENT_ID": ["kaleyra-client"],
        "KALEYRA_CALLBACK_CLIENT_SECRET": secrets,
    },
    bearer_headers,
)
AUTH_METHODS = [BASIC, HEADER, BEARER]


@pytest.fixture(params=AUTH_METHODS, ids=lambda method: method.name)
def auth(request, settings):
    settings.KALEYRA_MODE = "live"  # no sandbox secret: only the method under test
    method = request.param
    method.configure(settings, ["current-secret"])
    return method


@pytest.fixture(params=list(CALLBACK_URLS))
def callback_url(request):
    return request.param


@pytest.fixture
def client(db):
    # CSRF checks on, as for any browser: the callbacks must not need a token.
    return Client(enforce_csrf_checks=True)


def post(client, url, headers=None, body=None):
    body = CALLBACK_URLS[url][0] if body is None else body
    return client.post(url, json.dumps(body), content_type="application/json", headers=headers)


# --- the reusable set: every URL and every method ---------------------------------------------------


def test_good_credentials_store_the_callback(client, auth, callback_url, settings):
    assert "django.contrib.auth.middleware.LoginRequiredMiddleware" in settings.MIDDLEWARE
    response = post(client, callback_url, auth.headers(client, "current-secret"))

    # Not a redirect to the login page: the login-required middleware lets callbacks through.
    assert response.status_code == 200, response.content
    row = CallbackInbox.objects.get()
    assert row.kind == CALLBACK_URLS[callback_url][1]
    assert json.loads(row.body) == CALLBACK_URLS[callback_url][0]
    assert row.processed_at is None


def test_wrong_credentials_get_401_and_store_nothing(client, auth, callback_url):
    response = post(client, callback_url, auth.headers(client, "wrong-secret"))

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert not CallbackInbox.objects.exists()


def test_missing_credentials_get_401_and_store_nothing(client, auth, callback_url):
    response = post(client, callback_url)

    assert response.status_code == 401
    assert not CallbackInbox.objects.exists()


def test_rotated_secrets_accept_the_old_and_the_new(client, auth, callback_url, settings):
    auth.configure(settings, ["old-secret", "new-secret"])

    assert post(client, callback_url, auth.headers(client, "old-secret")).status_code == 200
    assert post(client, callback_url, auth.headers(client, "new-secret")).status_code == 200
    assert post(client, callback_url, auth.headers(client, "older-secret")).status_code == 401
    assert CallbackInbox.objects.count() == 2


def test_a_malformed_body_gets_400_with_a_reason(client, auth, callback_url):
    headers = auth.headers(client, "current-secret")
    response = client.post(
        callback_url, "{not json", content_type="application/json", headers=headers
    )

    assert response.status_code == 400
    assert "not JSON" in response.json()["detail"]
    assert post(client, callback_url, headers, body=[1, 2]).status_code == 400
    assert post(client, callback_url, headers, body={}).status_code == 400
    assert not CallbackInbox.objects.exists()


def test_credentials_are_checked_before_the_body_is_read(client, auth, callback_url):
    """A malformed body without credentials is a 401, not a 400: nothing is parsed first."""
    response = client.post(callback_url, "{not json", content_type="application/json")
    assert response.status_code == 401


def test_an_expired_bearer_token_gets_401(client, callback_url, settings, monkeypatch):
    BEARER.configure(settings, ["current-secret"])
    settings.KALEYRA_MODE = "live"
    settings.KALEYRA_CALLBACK_TOKEN_TTL = 60
    issued_at = time.time() - 61
    monkeypatch.setattr(signing.time, "time", lambda: issued_at)
    old_token = callback_auth.issue_token("kaleyra-client")
    monkeypatch.undo()
    fresh_token = callback_auth.issue_token("kaleyra-client")

    expired = post(client, callback_url, {"Authorization": f"Bearer {old_token}"})
    fresh = post(client, callback_url, {"Authorization": f"Bearer {fresh_token}"})

    assert expired.status_code == 401
    assert fresh.status_code == 200
    assert CallbackInbox.objects.count() == 1


def test_a_token_for_a_removed_client_id_is_refused(client, callback_url, settings):
    BEARER.configure(settings, ["current-secret"])
    settings.KALEYRA_MODE = "live"
    token = callback_auth.issue_token("kaleyra-client")
    settings.KALEYRA_CALLBACK_CLIENT_ID = ["another-client"]

    assert post(client, callback_url, {"Authorization": f"Bearer {token}"}).status_code == 401


def test_secrets_derived_before_stay_valid(client, callback_url, settings):
    """Tokens already issued and the sandbox's header secret hang on these salts: renaming a
    module must not change them."""
    BEARER.configure(settings, ["current-secret"])
    settings.KALEYRA_MODE = "live"
    signer = signing.TimestampSigner(salt="campaigns.webhooks.callback-token")
    token = signer.sign_object({"c": "kaleyra-client"})

    assert post(client, callback_url, {"Authorization": f"Bearer {token}"}).status_code == 200
    sandbox = salted_hmac("campaigns.webhooks.sandbox", "callback-token").hexdigest()
    assert callback_auth.sandbox_token() == sandbox


def test_nothing_configured_refuses_everything_and_a_check_warns(client, callback_url, settings):
    settings.KALEYRA_MODE = "live"

    assert post(client, callback_url, {"X-MPM-Sandbox-Callback": "x"}).status_code == 401
    assert post(client, callback_url, {"Authorization": basic("", "")}).status_code == 401
    assert not CallbackInbox.objects.exists()
    assert "campaigns.W001" in [message.id for message in checks.run_checks()]


def test_in_sandbox_mode_only_the_sandbox_secret_is_accepted(client, callback_url, settings):
    settings.KALEYRA_MODE = "sandbox"
    secret = callback_auth.sandbox_token()

    assert post(client, callback_url, {callback_auth.SANDBOX_HEADER: secret}).status_code == 200
    assert post(client, callback_url, {callback_auth.SANDBOX_HEADER: "guess"}).status_code == 401
    assert post(client, callback_url).status_code == 401
    assert "campaigns.W001" not in [message.id for message in checks.run_checks()]


# --- endpoint specifics ----------------------------------------------------------------------------


@pytest.fixture
def header_auth(settings):
    settings.KALEYRA_MODE = "live"
    HEADER.configure(settings, ["current-secret"])
    return {"X-Callback-Secret": "current-secret"}


def test_database_errors_get_503(client, header_auth, monkeypatch):
    def fail(*args):
        raise OperationalError("database is locked")

    monkeypatch.setattr(webhooks, "insert_callbacks", fail)
    response = post(client, "/callbacks/kaleyra/", header_auth)

    assert response.status_code == 503
    assert response.json() == {"error": "temporarily unavailable"}


def test_our_own_bug_is_a_500_without_a_traceback(client, header_auth, monkeypatch, settings):
    settings.DEBUG = True

    def fail(*args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(webhooks, "insert_callbacks", fail)
    response = post(client, "/callbacks/kaleyra/", header_auth)

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert b"Traceback" not in response.content


def test_the_v2_endpoint_takes_only_post(client, header_auth):
    response = client.get("/callbacks/kaleyra/", headers=header_auth)
    assert response.status_code == 405
    assert not CallbackInbox.objects.exists()


@pytest.mark.parametrize("url", ["/callbacks/kaleyra/dynamic/", "/callbacks/kaleyra/templates/"])
def test_dynamic_variable_forms_come_as_get_or_form_posts(client, header_auth, url):
    assert client.get(url, DYNAMIC_BODY, headers=header_auth).status_code == 200
    assert client.post(url, DYNAMIC_BODY, headers=header_auth).status_code == 200
    assert client.get(url, headers=header_auth).status_code == 400  # no fields at all
    rows = list(CallbackInbox.objects.order_by("id"))
    assert [json.loads(row.body) for row in rows] == [DYNAMIC_BODY, DYNAMIC_BODY]
    assert rows[0].content_type == "query"


def test_a_header_secret_is_required_even_beside_basic_auth(client, settings):
    settings.KALEYRA_MODE = "live"
    HEADER.configure(settings, ["header-secret"])
    BASIC.configure(settings, ["basic-secret"])
    both = {"X-Callback-Secret": "header-secret", "Authorization": basic("kaleyra", "basic-secret")}

    assert post(client, "/callbacks/kaleyra/", both).status_code == 200
    only_basic = {"Authorization": basic("kaleyra", "basic-secret")}
    assert post(client, "/callbacks/kaleyra/", only_basic).status_code == 401
    only_header = {"X-Callback-Secret": "header-secret"}
    assert post(client, "/callbacks/kaleyra/", only_header).status_code == 401


def test_the_wrong_basic_username_is_refused(client, settings):
    settings.KALEYRA_MODE = "live"
    BASIC.configure(settings, ["secret"])
    headers = {"Authorization": basic("someone", "secret")}
    assert post(client, "/callbacks/kaleyra/", headers).status_code == 401


# --- the token endpoint -----------------------------------------------------------------------------


@pytest.fixture
def token_settings(settings):
    settings.KALEYRA_MODE = "live"
    BEARER.configure(settings, ["old-secret", "new-secret"])
    settings.KALEYRA_CALLBACK_TOKEN_TTL = 900
    return settings


@pytest.mark.parametrize("style", ["form", "json", "basic"])
def test_the_token_endpoint_issues_a_bearer_token(client, token_settings, style):
    if style == "form":
        response = client.post(
            TOKEN_URL, {"client_id": "kaleyra-client", "client_secret": "new-secret"}
        )
    elif style == "json":
        response = client.post(
            TOKEN_URL,
            {"client_id": "kaleyra-client", "client_secret": "old-secret"},
            content_type="application/json",
        )
    else:
        response = client.post(
            TOKEN_URL, headers={"Authorization": basic("kaleyra-client", "new-secret")}
        )

    assert response.status_code == 200
    answer = response.json()
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == 900
    assert response["Cache-Control"] == "no-store"
    headers = {"Authorization": f"Bearer {answer['access_token']}"}
    assert post(client, "/callbacks/kaleyra/", headers).status_code == 200


def test_the_token_endpoint_refuses_wrong_credentials(client, token_settings):
    wrong = client.post(TOKEN_URL, {"client_id": "kaleyra-client", "client_secret": "nope"})
    unknown = client.post(TOKEN_URL, {"client_id": "someone", "client_secret": "new-secret"})
    nothing = client.post(TOKEN_URL)

    assert [wrong.status_code, unknown.status_code, nothing.status_code] == [401, 401, 401]
    assert "access_token" not in wrong.json()
    assert client.get(TOKEN_URL).status_code == 405


def test_without_client_credentials_the_token_endpoint_issues_nothing(client, settings):
    settings.KALEYRA_MODE = "sandbox"  # even the sandbox's own secret is no client secret
    response = client.post(TOKEN_URL, {"client_id": "", "client_secret": ""})
    assert response.status_code == 401


def test_half_configured_credentials_warn(settings):
    settings.KALEYRA_CALLBACK_HEADER = "X-Secret"
    settings.KALEYRA_CALLBACK_TOKEN = []
    assert "campaigns.W002" in [message.id for message in checks.run_checks()]
