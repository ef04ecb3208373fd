"""Each endpoint's secret and the signature on every post, Stripe-style:

    X-MPM-Timestamp: 1750857384
    X-MPM-Signature: v1=<hex HMAC-SHA256(secret, "1750857384." + raw body)>

The secret is never stored: it is derived from the signing key, the endpoint's id and its
`secret_version` (rotating bumps the version), so a database dump holds no secret. Signing the
timestamp with the body lets a receiver refuse a replay older than its window (300 s here).
"""

import hashlib
import hmac
import time

from django.conf import settings

from campaigns import conf

SCHEME = "v1"
TOLERANCE = 300  # seconds either side of the receiver's clock


def signing_key() -> bytes:
    return (conf.MPM_WEBHOOK_SIGNING_KEY or settings.SECRET_KEY).encode()


def endpoint_secret(endpoint_id: int, version: int) -> str:
    message = f"mpm-webhook:{endpoint_id}:{version}".encode()
    return "whsec_" + hmac.new(signing_key(), message, hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-MPM-Signature value for `body` sent at `timestamp` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes,
    header: str,
    now: float | None = None,
    tolerance: float = TOLERANCE,
) -> bool:
    """What a receiver checks: the timestamp is within `tolerance` of `now` and one of the
    header's `v1=` values is the body's signature (compared in constant time)."""
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - sent_at) > tolerance:
        return False
    expected = signature(secret, sent_at, body)
    candidates = [part.strip() for part in (header or "").split(",")]
    return any(hmac.compare_digest(expected, c) for c in candidates if c.startswith(f"{SCHEME}="))
