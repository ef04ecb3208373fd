"""The staff's whole interface: catalog, templates, campaigns with their checks and preview,
sending through confirmation pages, and read-only records of every message, HTTP exchange and
callback. Importing the modules registers their models (Django's admin autodiscovery)."""

from campaigns.admin import api, callbacks, campaigns, catalog, records, site

__all__ = ["api", "callbacks", "campaigns", "catalog", "records", "site"]
