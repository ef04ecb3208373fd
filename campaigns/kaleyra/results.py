"""Every answer from Kaleyra, and every way an exchange can fail, as a value (`SendResult`)."""

import json
import time
from dataclasses import dataclass, field
from enum import StrEnum

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


def elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
