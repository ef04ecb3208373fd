"""The only module that talks HTTP to Kaleyra: URL per region, headers, timeouts, typed answers.

It never retries a POST by itself (a retried request that had reached Kaleyra is a second
message); retries are the engine's decision. It knows nothing of the ORM.
"""

import json
import time
from dataclasses import dataclass, field
from enum import StrEnum

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .. import limits

USER_AGENT = "mpm-campaigns/0.1 (+Kaleyra WhatsApp API v2)"
SANDBOX_API_KEY = "sandbox"  # not a secret: the offline sandbox accepts it
MAX_RECORDED_BODY = 4000


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # 202 WA202 with a message id
    REJECTED = "rejected"  # a documented (or JSON) refusal: the message was not sent
    TIMEOUT = "timeout"  # no answer in time: it may have been sent
    CONNECTION = "connection"  # the request never left
    UNEXPECTED = "unexpected"  # an answer Kaleyra does not document (e.g. an HTML 502)


@dataclass(frozen=True)
class SendResult:
    """One HTTP exchange, as a value. Nothing here holds the API key."""

    outcome: Outcome
    http_status: int | None = None
    code: str = ""
    message: str = ""
    error: dict = field(default_factory=dict)
    message_id: str = ""
    response_body: str = ""
    duration_ms: int = 0

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED

    @property
    def may_have_been_sent(self) -> bool:
        """Not accepted, yet perhaps sent: no answer in time, or a 2xx answer without the
        documented body (Kaleyra took the request). Resending it could duplicate the message."""
        if self.outcome is Outcome.TIMEOUT:
            return True
        return self.outcome is Outcome.UNEXPECTED and 200 <= (self.http_status or 0) < 300

    @property
    def result_code(self) -> str:
        """The provider's code, or the transport outcome when there was no coded answer."""
        if self.code:
            return self.code
        return "" if self.outcome in (Outcome.ACCEPTED, Outcome.REJECTED) else self.outcome.value


@dataclass(frozen=True)
class KaleyraConfig:
    base_url: str  # e.g. https://api.in.kaleyra.io, or the sandbox
    sid: str
    api_key: str
    sender: str
    connect_timeout: float = 5.0
    read_timeout: float = 30.0

    @property
    def messages_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/v2/{self.sid}/whatsapp/{self.sender}/messages"

    def __repr__(self):  # never show the key in tracebacks or logs
        return (
            f"KaleyraConfig(base_url={self.base_url!r}, sid={self.sid!r}, sender={self.sender!r})"
        )


def config_from_settings() -> KaleyraConfig:
    """Kaleyra settings from the environment; the sandbox when no SID and API key are set."""
    if settings.KALEYRA_SANDBOX:
        return KaleyraConfig(
            base_url=settings.KALEYRA_SANDBOX_BASE_URL,
            sid=settings.KALEYRA_SID or "SANDBOX",
            api_key=SANDBOX_API_KEY,
            sender=settings.KALEYRA_SENDER or "+910000000000",
            connect_timeout=settings.KALEYRA_CONNECT_TIMEOUT,
            read_timeout=settings.KALEYRA_READ_TIMEOUT,
        )
    if not settings.KALEYRA_SENDER:
        raise ImproperlyConfigured("Set KALEYRA_SENDER, the WhatsApp business number to send from.")
    base_url = settings.KALEYRA_BASE_URL
    if not base_url:
        domain = limits.REGION_DOMAINS.get(settings.KALEYRA_REGION.lower())
        if domain is None:
            raise ImproperlyConfigured(
                f"KALEYRA_REGION must be one of {', '.join(limits.REGION_DOMAINS)}; "
                f"got {settings.KALEYRA_REGION!r}."
            )
        base_url = f"https://{domain}"
    return KaleyraConfig(
        base_url=base_url,
        sid=settings.KALEYRA_SID,
        api_key=settings.KALEYRA_API_KEY,
        sender=settings.KALEYRA_SENDER,
        connect_timeout=settings.KALEYRA_CONNECT_TIMEOUT,
        read_timeout=settings.KALEYRA_READ_TIMEOUT,
    )


def request_headers(api_key: str) -> dict[str, str]:
    return {"api-key": api_key, "Content-Type": "application/json", "User-Agent": USER_AGENT}


def parse_answer(http_status: int, body: bytes | str, duration_ms: int = 0) -> SendResult:
    """Turn any HTTP answer into a SendResult; never raises."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    recorded = text[:MAX_RECORDED_BODY]
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return SendResult(
            Outcome.UNEXPECTED, http_status, response_body=recorded, duration_ms=duration_ms
        )
    code = str(data.get("code") or "")
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    payload = data.get("data") if isinstance(data.get("data"), dict) else {}
    message_id = str(payload.get("message_id") or "")
    common = {
        "http_status": http_status,
        "code": code,
        "message": str(data.get("message") or "")[:500],
        "error": error,
        "message_id": message_id,
        "response_body": recorded,
        "duration_ms": duration_ms,
    }
    if 200 <= http_status < 300 and message_id:
        return SendResult(Outcome.ACCEPTED, **common)
    if http_status >= 400 and code:
        return SendResult(Outcome.REJECTED, **common)
    return SendResult(Outcome.UNEXPECTED, **common)


class KaleyraClient:
    """Posts request bodies to one sender's messages endpoint over one pooled session."""

    def __init__(self, config: KaleyraConfig):
        self.config = config
        self.session = requests.Session()
        self.session.headers.update(request_headers(config.api_key))

    def send(self, body: bytes) -> SendResult:
        started = time.monotonic()
        try:
            response = self.session.post(
                self.config.messages_url,
                data=body,
                timeout=(self.config.connect_timeout, self.config.read_timeout),
            )
        except requests.ConnectTimeout:
            return SendResult(Outcome.CONNECTION, duration_ms=_elapsed_ms(started))
        except requests.Timeout:
            return SendResult(Outcome.TIMEOUT, duration_ms=_elapsed_ms(started))
        except requests.ConnectionError as exc:
            # A connection that broke after the request was written may have reached Kaleyra.
            outcome = Outcome.TIMEOUT if _request_was_sent(exc) else Outcome.CONNECTION
            return SendResult(outcome, duration_ms=_elapsed_ms(started))
        except requests.RequestException:
            return SendResult(Outcome.CONNECTION, duration_ms=_elapsed_ms(started))
        return parse_answer(response.status_code, response.content, _elapsed_ms(started))

    def close(self):
        self.session.close()


def _request_was_sent(exc: requests.ConnectionError) -> bool:
    text = repr(exc)
    return "RemoteDisconnected" in text or "Connection aborted" in text


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
