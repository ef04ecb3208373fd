"""The staff's whole interface: catalog, templates, campaigns with their checks and preview,
sending through confirmation pages, read-only records of every message, HTTP exchange and
callback, and the outbound webhooks. Importing the modules registers their models (Django's
admin autodiscovery)."""

from campaigns.admin import (
    api,
    audiences,
    callbacks,
    campaigns,
    catalog,
    records,
    senders,
    site,
    webhooks,
)

__all__ = [
    "api",
    "audiences",
    "callbacks",
    "campaigns",
    "catalog",
    "records",
    "senders",
    "site",
    "webhooks",
]
