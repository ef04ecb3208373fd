"""Idempotency-Key: a POST retried with the same key is answered as the first call was, and
does nothing again (a shop's retry after a timeout must never send a campaign twice).

The key's record is inserted in its own transaction before the work, so the unique constraint on
(user, key) lets one of several concurrent calls through; the others wait a little for its answer
and replay it, or answer 409 while it is still working. A call that fails on our side (5xx)
forgets its key, so that a retry can go through. Keys are kept MPM_API_IDEMPOTENCY_HOURS (24 h at
least), then purged (`services.api.idempotency_purge`).
"""

import hashlib
import json
import time
from collections.abc import Callable

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse

from campaigns.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
WAITS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0)  # about 4.5 s for the first call to finish


class KeyProblem(Exception):
    """The key cannot be used (422: malformed) or not for this request (409)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def body_hash(raw: bytes) -> str:
    """The body's SHA-256, of its canonical JSON (key order and spacing do not make it another
    request), or of its bytes when it is not JSON."""
    try:
        canonical = json.dumps(
            json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except (ValueError, RecursionError):
        canonical = raw
    return hashlib.sha256(canonical).hexdigest()


def answer(status: int, body: dict) -> JsonResponse:
    return JsonResponse(body, status=status, encoder=DjangoJSONEncoder)


def replayed(record: IdempotencyRecord) -> HttpResponse:
    """The first answer again, byte for byte (a JSON column would reorder its keys)."""
    response = HttpResponse(
        record.response, status=record.status_code, content_type="application/json"
    )
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(request, work: Callable[[], tuple[int, dict]]) -> HttpResponse:
    """Run `work` (which returns its status and JSON body) once per Idempotency-Key; without
    the header, simply run it."""
    key = request.headers.get(HEADER)
    if key is None:
        return answer(*work())
    if not key or len(key) > MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()):
        raise KeyProblem(
            422,
            f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters "
            f"(a UUID, say); got {len(key)} character(s).",
        )
    asked = {"method": request.method, "path": request.path, "body_hash": body_hash(request.body)}
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(user=request.user, key=key, **asked)
    except IntegrityError:
        return replay(request.user, key, asked)
    try:
        response = answer(*work())
    except BaseException:
        record.delete()
        raise
    if response.status_code >= 500:
        record.delete()
    else:
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            completed=True, status_code=response.status_code, response=response.content.decode()
        )
    return response


def replay(user, key: str, asked: dict) -> HttpResponse:
    """The first call's answer to this key, once it has one; 409 when the key was used for
    another request, or when the first call is still working after a few seconds."""
    for wait in (0, *WAITS):
        time.sleep(wait)
        record = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if record is None:  # the first call failed on our side and forgot the key
            break
        if (record.method, record.path) != (asked["method"], asked["path"]):
            raise KeyProblem(
                409,
                f"This {HEADER} was used for {record.method} {record.path}: use a new key "
                "for another request.",
            )
        if record.body_hash != asked["body_hash"]:
            raise KeyProblem(
                409,
                f"This {HEADER} was used with a different body: a retry must send the same "
                "body, another request a new key.",
            )
        if record.completed:
            return replayed(record)
    raise KeyProblem(
        409, f"A request with this {HEADER} is still in progress: retry in a few seconds."
    )
