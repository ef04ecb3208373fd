"""Shared fixtures: Kaleyra played by a stand-in on 127.0.0.1 (`provider`), the app's own sandbox
over HTTP (`sandbox`), and ready campaigns."""

import os

import pytest
from django.core.signals import request_started
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from benchmarks.standin import Script, StandinThread
from campaigns.selectors import campaign_for_sending
from tests.support.factories import make_campaign
from tests.support.provider import API_KEY, Provider, use_kaleyra_at

# The fuzz suites (tests/fuzz/): quick enough for every CI run; HYPOTHESIS_PROFILE=deep digs
# further. No example database: nothing is written into the checkout. The database fixtures are
# per test, not per example; every fuzz test compares counts before and after each example.
for _name, _examples in (("ci", 60), ("deep", 2000)):
    hypothesis_settings.register_profile(
        _name,
        max_examples=_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

KALEYRA_BASE = "https://kaleyra.test"
TEST_API_KEY = API_KEY


def pytest_collection_modifyitems(config, items):
    """Browser tests (marked e2e) run last: the quick tests report first, and Playwright's
    session-wide event loop starts only after them."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


@pytest.fixture(autouse=True)
def consent_not_required(settings):
    """Most tests send to made-up numbers with no consent recorded; the consent tests
    (tests/audiences/) turn MPM_CONSENT_REQUIRED back on, as it is by default."""
    settings.MPM_CONSENT_REQUIRED = False


# Database 15 of the local Redis (.ci/run starts one), emptied around each test that uses it.
TEST_REDIS_URL = os.environ.get("MPM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url():
    """A Redis for the shared-rate tests; skipped with the reason where none runs (CI has one)."""
    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1)
    try:
        client.flushdb()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {TEST_REDIS_URL} (start redis-server or set MPM_TEST_REDIS_URL)")
    yield TEST_REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def kaleyra_settings(settings):
    """Real (non-sandbox) Kaleyra settings, at a host no test ever reaches."""
    use_kaleyra_at(settings, KALEYRA_BASE)
    return settings


@pytest.fixture
def provider(kaleyra_settings, tmp_path_factory):
    """Kaleyra played by the stand-in on 127.0.0.1; the real client and engine talk to it."""
    script = Script()
    with StandinThread(script=script) as server:
        use_kaleyra_at(kaleyra_settings, server.base_url)
        kaleyra_settings.MPM_JOURNAL_DIR = str(tmp_path_factory.mktemp("journal"))
        yield Provider(server, script)


class Sandbox:
    """The app's own sandbox served over HTTP by the live test server; `requests` lists the
    paths of the requests that reached it."""

    def __init__(self):
        self.requests: list[str] = []

    def heard(self, sender, environ, **kwargs):
        if environ.get("PATH_INFO", "").startswith("/sandbox/"):
            self.requests.append(environ["PATH_INFO"])


@pytest.fixture
def sandbox(settings, live_server, tmp_path_factory):
    """Sandbox mode, sends going over HTTP to the sandbox of the live test server (so these
    tests commit: the server answers from its own thread and database connection)."""
    settings.KALEYRA_MODE = "sandbox"
    settings.KALEYRA_SANDBOX_BASE_URL = f"{live_server.url}/sandbox"
    settings.SITE_URL = live_server.url  # where the sandbox posts its callbacks
    settings.MPM_JOURNAL_DIR = str(tmp_path_factory.mktemp("journal"))
    stand_in = Sandbox()
    request_started.connect(stand_in.heard)
    yield stand_in
    request_started.disconnect(stand_in.heard)


@pytest.fixture
def campaign(db):
    return campaign_for_sending(make_campaign().pk)


DATABASE_FIXTURES = {"db", "transactional_db", "live_server", "client", "admin_client"}


@pytest.fixture(autouse=True)
def counters_match_records(request):
    """Every test that wrote to the database leaves each campaign's counters (kept by the
    triggers of `models.tally_sql`) equal to a recount of its records: whatever path the test
    drove (engine, callbacks, queueing, admin, commands), no count is lost or doubled."""
    yield
    uses_db = request.node.get_closest_marker("django_db") or (
        DATABASE_FIXTURES & set(request.fixturenames)
    )
    if not uses_db:
        return
    from tests.support.tallies import all_drift

    with request.getfixturevalue("django_db_blocker").unblock():
        found = all_drift()
    assert not found, f"counters differ from a recount (maintained, recounted): {found}"
