"""Fixtures for the client tests: no proxy from the environment unless a test sets one."""

import pytest

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "request_method")


@pytest.fixture(autouse=True)
def no_ambient_proxy(monkeypatch):
    """The client honours proxy variables (`trust_env`): one set on the machine running the tests
    would send their 127.0.0.1 requests elsewhere."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
