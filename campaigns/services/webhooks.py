"""Outbound webhooks' use cases: deliver what is due, show or rotate an endpoint's secret,
deliver chosen deliveries again. The admin and `manage.py deliver_webhooks` call these."""

from collections import Counter
from datetime import datetime

from django.db.models import F
from django.utils import timezone

from campaigns.models import WebhookDelivery, WebhookEndpoint
from campaigns.webhooks import Dispatcher, endpoint_secret


def webhooks_deliver(*, now: datetime | None = None) -> Counter:
    """Turn new records into deliveries and post everything due at `now`, then stop."""
    with Dispatcher() as dispatcher:
        return dispatcher.run_until_idle(now or timezone.now())


def webhook_secret(*, endpoint: WebhookEndpoint) -> str:
    """The endpoint's current signing secret, for the one page that shows it."""
    return endpoint_secret(endpoint.pk, endpoint.secret_version)


def webhook_secrets_rotate(*, endpoint_ids) -> list[tuple[WebhookEndpoint, str]]:
    """A new secret for each endpoint (the old one stops working at once), to show once."""
    WebhookEndpoint.objects.filter(pk__in=endpoint_ids).update(
        secret_version=F("secret_version") + 1
    )
    return [
        (endpoint, webhook_secret(endpoint=endpoint))
        for endpoint in WebhookEndpoint.objects.filter(pk__in=endpoint_ids)
    ]


def webhook_deliveries_replay(*, delivery_ids, now: datetime | None = None) -> int:
    """Queue these deliveries again, due now, with 24 hours of retries of their own."""
    return WebhookDelivery.objects.filter(pk__in=delivery_ids).replay(now or timezone.now())
