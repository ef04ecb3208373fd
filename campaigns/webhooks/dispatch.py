"""Delivering: claim due deliveries with a lease (commit), post them from a thread pool (no ORM
there), then record every answer in one transaction per step. At most PER_ENDPOINT posts per
endpoint are in flight, so a slow endpoint holds a few threads and the others keep theirs.

2xx is delivered. Anything else is retried after BACKOFF (or the Retry-After of a 429 / 503)
until 24 hours after the first attempt, then given up. A dispatcher that dies leaves its claims
leased: LEASE later any dispatcher takes them again (a receiver may then see a delivery twice:
`X-MPM-Delivery` names it).
"""

import concurrent.futures
import email.utils
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests
from django.db import transaction
from django.utils import timezone

from campaigns import conf
from campaigns.callbacks.writelock import sqlite_write_lock
from campaigns.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from campaigns.validation import webhook_url_problem
from campaigns.webhooks.signing import endpoint_secret, signature
from campaigns.webhooks.tail import emit_events

BACKOFF = (30, 120, 600, 1800, 3600, 7200, 14400, 28800)  # seconds after the 1st, 2nd … failure
GIVE_UP_AFTER = timedelta(hours=24)
LEASE = timedelta(seconds=120)  # well beyond a post's connect + read timeouts
PER_ENDPOINT = 4
EXCERPT = 500
USER_AGENT = "mpm-campaigns-webhooks/1"
RETRY_AFTER_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Post:
    """A claimed delivery: everything a posting thread needs, and no database access."""

    delivery_id: int
    endpoint_id: int
    url: str
    event_type: str
    body: bytes
    token: str
    attempts: int
    first_attempt_at: datetime | None
    secret: str = field(repr=False)
    refusal: str = ""  # the URL is not allowed here (an http:// endpoint made in development)


@dataclass(frozen=True)
class Answer:
    http_status: int | None
    error: str  # "" when delivered; plain words otherwise
    duration_ms: int
    excerpt: str = ""
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return not self.error


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3); None when unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def post(session: requests.Session, item: Post, *, now: datetime, timeout: float) -> Answer:
    """One signed POST; every way it can go becomes an Answer (never the secret, never the
    exception's text, which may name the URL's query)."""
    if item.refusal:
        return Answer(None, item.refusal, 0)
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-MPM-Event": item.event_type,
        "X-MPM-Delivery": str(item.delivery_id),
        "X-MPM-Timestamp": str(timestamp),
        "X-MPM-Signature": signature(item.secret, timestamp, item.body),
    }
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        with session.post(
            item.url,
            data=item.body,
            headers=headers,
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
            # HTTPS_PROXY / NO_PROXY honoured as the engine does; ~/.netrc never read.
            proxies=requests.utils.get_environ_proxies(item.url),
        ) as response:
            excerpt = next(response.iter_content(EXCERPT * 4), b"")
    except requests.exceptions.ConnectTimeout:
        return Answer(None, f"No connection within {timeout:g} s.", took())
    except requests.exceptions.ReadTimeout:
        return Answer(None, f"No answer within {timeout:g} s.", took())
    except requests.exceptions.SSLError:
        return Answer(None, "The TLS handshake failed (is its certificate valid?).", took())
    except requests.exceptions.ConnectionError:
        return Answer(None, "Could not connect (refused, reset, or the host is unknown).", took())
    except requests.exceptions.RequestException as exc:
        return Answer(None, f"The request failed ({type(exc).__name__}).", took())
    status = response.status_code
    text = excerpt.decode("utf-8", "replace")[:EXCERPT]
    if 200 <= status < 300:
        return Answer(status, "", took(), text)
    if 300 <= status < 400:
        error = f"Answered {status}, a redirect: webhooks follow none, so give the final URL."
    else:
        error = f"Answered HTTP {status}."
    retry_after = (
        retry_after_seconds(response.headers.get("Retry-After"), now)
        if status in RETRY_AFTER_STATUSES
        else None
    )
    return Answer(status, error, took(), text, retry_after)


def next_attempt_at(
    *, attempts: int, first_attempt_at: datetime, now: datetime, retry_after: float | None
) -> datetime | None:
    """When to try again after `attempts` failures; None once that is past the 24 hours."""
    delay = BACKOFF[min(attempts, len(BACKOFF)) - 1] if retry_after is None else retry_after
    when = now + timedelta(seconds=max(1.0, delay))
    return when if when <= first_attempt_at + GIVE_UP_AFTER else None


def claim(endpoint: WebhookEndpoint, limit: int, now: datetime) -> list[Post]:
    """Lease up to `limit` of the endpoint's due deliveries, oldest due first. One conditional
    UPDATE takes them: a row another dispatcher leased meanwhile is no longer due, so two
    dispatchers never post the same delivery at once."""
    due = WebhookDelivery.objects.due(now).filter(endpoint=endpoint)
    ids = list(due.order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit])
    if not ids:
        return []
    token = uuid.uuid4().hex
    with sqlite_write_lock():
        WebhookDelivery.objects.due(now).filter(pk__in=ids).update(
            leased_until=now + LEASE, lease_token=token
        )
    secret = endpoint_secret(endpoint.pk, endpoint.secret_version)
    refusal = webhook_url_problem(endpoint.url, local_http=conf.MPM_WEBHOOK_LOCAL_HTTP_ALLOWED)
    return [
        Post(
            delivery_id=pk,
            endpoint_id=endpoint.pk,
            url=endpoint.url,
            event_type=event_type,
            body=payload.encode(),
            token=token,
            attempts=attempts,
            first_attempt_at=first,
            secret=secret,
            refusal=refusal,
        )
        for pk, event_type, payload, attempts, first in WebhookDelivery.objects.filter(
            lease_token=token
        )
        .order_by("next_attempt_at", "id")
        .values_list("id", "event_type", "payload", "attempts", "first_attempt_at")
    ]


def record(results: list[tuple[Post, datetime, Answer]], now: datetime) -> Counter:
    """Every answer of a step, in one transaction: its attempt logged, its delivery moved."""
    counts = Counter()
    with sqlite_write_lock(), transaction.atomic():
        WebhookAttempt.objects.bulk_create(
            WebhookAttempt(
                delivery_id=item.delivery_id,
                attempted_at=posted_at,
                http_status=answer.http_status,
                error=answer.error,
                response_excerpt=answer.excerpt,
                duration_ms=answer.duration_ms,
            )
            for item, posted_at, answer in results
        )
        for item, posted_at, answer in results:
            attempts = item.attempts + 1
            first = item.first_attempt_at or posted_at
            fields = {
                "attempts": attempts,
                "first_attempt_at": first,
                "last_http_status": answer.http_status,
                "last_error": answer.error,
                "response_excerpt": answer.excerpt,
                "leased_until": None,
                "lease_token": "",
            }
            if answer.delivered:
                fields |= {"state": WebhookDelivery.State.DELIVERED, "delivered_at": now}
                fields["next_attempt_at"] = None
            else:
                retry = next_attempt_at(
                    attempts=attempts,
                    first_attempt_at=first,
                    now=now,
                    retry_after=answer.retry_after,
                )
                fields["next_attempt_at"] = retry
                fields["state"] = (
                    WebhookDelivery.State.FAILED if retry else WebhookDelivery.State.GIVEN_UP
                )
            # Only while this dispatcher holds the lease: a taken-over delivery is the other's.
            WebhookDelivery.objects.filter(pk=item.delivery_id, lease_token=item.token).update(
                **fields
            )
            counts[fields["state"]] += 1
    return counts


class Dispatcher:
    """The posting pool and what is in flight; `step` is one turn of the loop (emit, record
    what finished, claim and post what is due). Only the caller's thread touches the database."""

    def __init__(self, *, concurrency: int | None = None, timeout: float | None = None):
        self.concurrency = concurrency or conf.MPM_WEBHOOK_CONCURRENCY
        self.timeout = timeout or conf.MPM_WEBHOOK_TIMEOUT
        self.pool = concurrent.futures.ThreadPoolExecutor(
            self.concurrency, thread_name_prefix="webhook"
        )
        self.in_flight: dict[concurrent.futures.Future, tuple[Post, datetime]] = {}
        self.local = threading.local()
        self.sessions: list[requests.Session] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def step(self, now: datetime | None = None) -> Counter:
        now = now or timezone.now()
        endpoints = list(WebhookEndpoint.objects.filter(is_active=True))
        counts = emit_events(endpoints=endpoints, now=now)
        counts.update(self.collect(now))
        counts["posted"] += self.submit(endpoints, now)
        return counts

    def submit(self, endpoints: list[WebhookEndpoint], now: datetime) -> int:
        busy = Counter(item.endpoint_id for item, _ in self.in_flight.values())
        random.shuffle(endpoints)  # no endpoint always first in line for the pool
        posted = 0
        for endpoint in endpoints:
            room = min(PER_ENDPOINT - busy[endpoint.pk], self.concurrency - len(self.in_flight))
            if room <= 0:
                continue
            for item in claim(endpoint, room, now):
                future = self.pool.submit(self._post, item, now)
                self.in_flight[future] = (item, now)
                posted += 1
        return posted

    def collect(self, now: datetime | None = None) -> Counter:
        done = [future for future in self.in_flight if future.done()]
        if not done:
            return Counter()
        results = [(*self.in_flight.pop(future), future.result()) for future in done]
        return record(results, now or timezone.now())

    def wait(self, timeout: float | None):
        """Until one post in flight finishes, or `timeout` passes."""
        concurrent.futures.wait(
            self.in_flight, timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED
        )

    def run_until_idle(self, now: datetime | None = None) -> Counter:
        """Everything due now, posted and recorded (`now` fixed: a retry booked later waits)."""
        counts = Counter()
        while True:
            step = self.step(now)
            counts.update(step)
            if not self.in_flight and not step["posted"]:
                return counts
            self.wait(None)

    def finish(self, now: datetime | None = None) -> Counter:
        """Let the posts in flight end and record them (when stopping)."""
        concurrent.futures.wait(self.in_flight)
        return self.collect(now)

    def close(self):
        self.pool.shutdown(wait=True)
        for session in self.sessions:
            session.close()

    def _post(self, item: Post, now: datetime) -> Answer:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
            session.trust_env = False  # `post` applies the environment's proxy itself
            self.sessions.append(session)
        return post(session, item, now=now, timeout=self.timeout)
