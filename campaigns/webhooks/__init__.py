"""Outbound webhooks: our events (message accepted / sent / delivered / read / failed, order
received, opt-out) posted as signed JSON to the endpoints staff configure.

- `events`: records the app already writes → event values and their JSON (pure reads);
- `tail`: each source read by id from its cursor into `WebhookDelivery` rows;
- `dispatch`: claim with a lease, post from a thread pool, record, retry with backoff;
- `signing`: each endpoint's derived secret, the signature, and `verify_signature` for
  receivers.

`manage.py deliver_webhooks` runs it beside the send worker and the callback applier, so a
slow or failing endpoint never slows sending or callback intake.
"""

from campaigns.webhooks.dispatch import Dispatcher, next_attempt_at
from campaigns.webhooks.signing import endpoint_secret, signature, verify_signature
from campaigns.webhooks.tail import emit_events

__all__ = [
    "Dispatcher",
    "emit_events",
    "endpoint_secret",
    "next_attempt_at",
    "signature",
    "verify_signature",
]
