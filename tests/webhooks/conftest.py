"""Webhook tests post to receivers on 127.0.0.1 over plain http (allowed here as in
development); nothing ever leaves the machine."""

import pytest


@pytest.fixture(autouse=True)
def local_http(settings):
    settings.MPM_WEBHOOK_LOCAL_HTTP = True
    settings.MPM_WEBHOOK_TIMEOUT = 5.0
    return settings
