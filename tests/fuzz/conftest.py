"""What the fuzz suites share: a staff client, and callbacks authenticated by a header secret."""

import pytest
from django.test import Client

SECRET = {"X-Callback-Secret": "s3cret"}


@pytest.fixture
def staff(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def callback_settings(settings, db):
    """Set once per test: each assignment to `settings` stacks another override (Hypothesis
    runs many examples in one test)."""
    settings.KALEYRA_CALLBACK_HEADER = "X-Callback-Secret"
    settings.KALEYRA_CALLBACK_TOKEN = ["s3cret"]
    return settings
