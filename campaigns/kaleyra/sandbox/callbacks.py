"""The sandbox plays Kaleyra's callbacks too: after accepting a message it posts v2 callbacks
back to the app, so a whole campaign's life (sent, delivered, read, failures, orders, STOP) can
be watched offline.

What each recipient gets is decided by its number, so demos repeat:
- a number ending in 1049, 1026 or 1050 fails with that Meta code (131049 per-user marketing
  limit, 131026 not on WhatsApp, 131050 stopped marketing);
- every other one is sent, then delivered (with a price), then read — except about one in ten,
  who turned read receipts off;
- about one in twelve then orders one to three of the campaign's products from the cart, and
  about one in fifty replies STOP.

Callbacks go to MPM_SANDBOX_CALLBACK_URL (default: SITE_URL's), signed with the sandbox's own
header secret, never the production callback credentials. One background thread per process
posts them, in time order, a few tenths of a second apart (MPM_SANDBOX_CALLBACK_DELAY); the
sandbox's answer never waits.
"""

import heapq
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from hashlib import sha256

import requests

from campaigns import conf
from campaigns.callbacks.auth import sandbox_headers
from campaigns.kaleyra.sandbox.envelopes import (
    incoming_callback,
    meta_error,
    metadata,
    status_callback,
)

logger = logging.getLogger(__name__)

MAX_PENDING = 200_000  # callbacks waiting to be posted; beyond this the sandbox drops them
FAILING_SUFFIXES = {
    "1049": (
        131049,
        "This message was not delivered to maintain healthy ecosystem engagement.",
    ),
    "1026": (131026, "Message undeliverable"),
    "1050": (
        131050,
        "Unable to deliver the message. This recipient has chosen to stop receiving marketing "
        "messages on WhatsApp from your business.",
    ),
}
PRICE = "0.7846"  # a marketing conversation in India, INR (the sandbox's guess)


def _roll(*parts) -> int:
    """A stable number in 0…9999 for these parts: the same recipient behaves the same way."""
    return int(sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16) % 10_000


def callback_plan(
    *,
    to: str,
    message_id: str,
    extra_info: dict,
    sender: str,
    products: Callable[[], list[tuple[str, Decimal, str]]],
    start: float,
    step: float,
) -> list[tuple[float, dict]]:
    """The callbacks for one accepted message, as (when, body) pairs. `products` is asked for
    the campaign's (retailer id, price, currency) only when the recipient orders."""
    recipient = "".join(ch for ch in to if ch.isdigit())
    sender_digits = "".join(ch for ch in sender if ch.isdigit())
    wamid = "wamid.SBX" + sha256(message_id.encode()).hexdigest()[:32].upper()
    extra = {
        "trace_id": sha256(f"trace{message_id}".encode()).hexdigest()[:16],
        "message_id": message_id,
        "waba_id": "SANDBOX-WABA",
        **{k: extra_info.get(k, "") for k in ("ref", "ref1", "ref2")},
    }
    sender_metadata = metadata(sender_digits, "100000000000000")

    def status_body(status: str, when: float, **fields) -> dict:
        return status_callback(
            status,
            event_id=wamid,
            recipient=recipient,
            timestamp=str(int(when)),
            sender_metadata=sender_metadata,
            extra_info=extra,
            message_id=message_id,
            **fields,
        )

    def incoming_body(when: float, message: dict) -> dict:
        ident = "wamid.SBXIN" + sha256(f"{message_id}{message['type']}".encode()).hexdigest()[:28]
        return incoming_callback(
            {"id": ident, **message},
            sender=recipient,
            name="Sandbox customer",
            timestamp=str(int(when)),
            sender_metadata=sender_metadata,
        )

    for suffix, (code, title) in FAILING_SUFFIXES.items():
        if recipient.endswith(suffix):
            error = meta_error(code, title, details=title)
            return [(start + step, status_body("failed", start + step, errors=[error]))]

    conversation = {
        "id": sha256(recipient.encode()).hexdigest()[:32],
        "origin": {"type": "marketing"},
    }
    pricing = {"billable": True, "pricing_model": "CBP", "category": "marketing"}
    plan = [
        (
            start + step,
            status_body("sent", start + step, conversation=conversation, pricing=pricing),
        ),
        (
            start + 2 * step,
            status_body("delivered", start + 2 * step, conversation=conversation, pricing=pricing)
            | {"price": PRICE, "currency": "INR"},
        ),
    ]
    roll = _roll(to, message_id)
    if roll % 10:  # one in ten has read receipts off
        plan.append((start + 4 * step, status_body("read", start + 4 * step)))
    later = start + 6 * step
    catalog = products() if roll % 12 == 1 else []
    if catalog:
        count = 1 + roll % 3
        items = [
            {
                "product_retailer_id": retailer_id,
                "quantity": 1 + (roll + n) % 2,
                "item_price": float(price),
                "currency": currency,
            }
            for n, (retailer_id, price, currency) in enumerate(catalog[:count])
        ]
        order = {"catalog_id": "SANDBOX-CATALOG", "text": "", "product_items": items}
        plan.append((later, incoming_body(later, {"type": "order", "order": order})))
    elif roll % 50 == 7:
        plan.append((later, incoming_body(later, {"type": "text", "text": {"body": "STOP"}})))
    return plan


class CallbackPoster(threading.Thread):
    """Posts scheduled callbacks in time order from one daemon thread, over one session."""

    def __init__(self):
        super().__init__(name="mpm-sandbox-callbacks", daemon=True)
        self.heap: list = []
        self.order = itertools.count()
        self.condition = threading.Condition()
        self.session = requests.Session()
        self.dropped = 0
        self.posting = 0

    def schedule(self, url: str, plan: list[tuple[float, dict]]):
        with self.condition:
            if len(self.heap) + len(plan) > MAX_PENDING:
                self.dropped += len(plan)
                if self.dropped == len(plan):
                    logger.warning(
                        "The sandbox is dropping callbacks: over %d waiting", MAX_PENDING
                    )
                return
            for when, body in plan:
                heapq.heappush(self.heap, (when, next(self.order), url, body))
            self.condition.notify()

    def run(self):
        while True:
            with self.condition:
                while not self.heap or self.heap[0][0] > time.time():
                    timeout = self.heap[0][0] - time.time() if self.heap else None
                    self.condition.wait(timeout)
                _, _, url, body = heapq.heappop(self.heap)
                self.posting += 1
            try:
                self.post(url, body)
            finally:
                with self.condition:
                    self.posting -= 1
                    self.condition.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until every scheduled callback has been posted (tests, shutdown)."""
        deadline = time.time() + timeout
        with self.condition:
            while self.heap or self.posting:
                left = deadline - time.time()
                if left <= 0:
                    return False
                self.condition.wait(min(left, 0.05))
        return True

    def post(self, url: str, body: dict):
        data = json.dumps(body).encode()
        for attempt in range(3):
            try:
                response = self.session.post(url, data=data, headers=self.headers(), timeout=10)
                if response.status_code < 500:
                    if response.status_code >= 400:
                        logger.warning(
                            "The app refused a sandbox callback: %s", response.status_code
                        )
                    return
            except requests.RequestException as exc:
                logger.warning("Sandbox callback to %s failed: %s", url, exc)
            time.sleep(0.5 * (attempt + 1))

    def headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "User-Agent": "mpm-sandbox-callbacks",
            **sandbox_headers(),
        }


_poster: CallbackPoster | None = None
_poster_lock = threading.Lock()


def poster() -> CallbackPoster:
    global _poster
    with _poster_lock:
        if _poster is None or not _poster.is_alive():
            _poster = CallbackPoster()
            _poster.start()
        return _poster


def schedule_callbacks(
    *, url: str, to: str, message_id: str, extra_info: dict, sender: str, products
):
    """Plan one accepted message's callbacks and hand them to the poster thread."""
    plan = callback_plan(
        to=to,
        message_id=message_id,
        extra_info=extra_info,
        sender=sender,
        products=products,
        start=time.time(),
        step=conf.MPM_SANDBOX_CALLBACK_DELAY,
    )
    poster().schedule(url, plan)
