"""The callback receiver (`manage.py receive_callbacks`, aiohttp) keeps the Django view's contract
for POST /callbacks/kaleyra/: every credential method, the same refusals, nothing stored unless
answered 200, and concurrent callbacks committed together (group commit), each answered only
once stored. The real app on a real socket against the test database."""

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import requests
from aiohttp.test_utils import TestClient, TestServer
from django.db import OperationalError
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from benchmarks.common import free_port
from campaigns.callbacks import apply_pending_callbacks
from campaigns.callbacks import receiver as receiver_module
from campaigns.callbacks.receiver import PATH, receiver_app
from campaigns.models import CallbackInbox
from tests.callbacks.test_webhooks import AUTH_METHODS, BASIC, HEADER, STATUS_BODY
from tests.deploy.production import ROOT, production_env

pytestmark = pytest.mark.django_db(transaction=True)  # the writer's thread has its own connection


def exchange(calls, method="POST", path=PATH):
    """Each (headers, body bytes) posted to a fresh receiver at once: [(status, json, headers)]."""

    async def run():
        async with TestClient(TestServer(receiver_app())) as client:

            async def one(headers, body):
                async with client.request(method, path, data=body, headers=headers) as answer:
                    text = await answer.text()
                    try:
                        document = json.loads(text)
                    except ValueError:
                        document = text
                    return answer.status, document, answer.headers

            return await asyncio.gather(*(one(headers, body) for headers, body in calls))

    return asyncio.run(run())


JSON = {"Content-Type": "application/json"}
STATUS = json.dumps(STATUS_BODY).encode()


@pytest.fixture(params=AUTH_METHODS, ids=lambda method: method.name)
def auth(request, settings):
    settings.KALEYRA_MODE = "live"  # no sandbox secret: only the method under test
    request.param.configure(settings, ["current-secret"])
    return request.param


@pytest.fixture
def header_auth(settings):
    settings.KALEYRA_MODE = "live"
    HEADER.configure(settings, ["current-secret"])
    return {**JSON, "X-Callback-Secret": "current-secret"}


def test_good_credentials_store_the_callback_as_the_view_does(auth):
    headers = {**JSON, **auth.headers(Client(), "current-secret")}
    [(status, document, _)] = exchange([(headers, STATUS)])

    assert (status, document) == (200, {"status": "received"})
    row = CallbackInbox.objects.get()
    assert (row.kind, row.content_type) == (CallbackInbox.Kind.KALEYRA, "application/json")
    assert json.loads(row.body) == STATUS_BODY
    assert apply_pending_callbacks()["rows"] == 1  # the applier reads it like any other


def test_wrong_or_missing_credentials_are_refused_and_nothing_is_stored(auth):
    wrong = {**JSON, **auth.headers(Client(), "a-wrong-secret")}
    answers = exchange([(wrong, STATUS), (JSON, STATUS)])

    for status, document, headers in answers:
        assert status == 401
        assert document["error"] == "unauthorized"
        if auth is BASIC:
            assert headers["WWW-Authenticate"] == 'Basic realm="kaleyra-callbacks"'
    assert not CallbackInbox.objects.exists()


@pytest.mark.parametrize(
    "body, status, detail",
    [
        (b"", 400, "The body is empty."),
        (b"{not json", 400, "The body was refused"),
        (b"[1, 2]", 400, "The body must be a JSON object."),
        (b"{}", 400, "The body must be a JSON object."),
        (b'{"a": "\xff"}', 400, "The body is not UTF-8."),
        (b'{"a": "' + b"x" * 1_000_000 + b'"}', 413, "larger than 1000000 bytes"),
    ],
    ids=["empty", "not-json", "not-objects", "empty-object", "not-utf8", "too-large"],
)
def test_malformed_bodies_are_refused_with_the_reason(header_auth, body, status, detail):
    [(got, document, _)] = exchange([(header_auth, body)])

    assert got == status
    assert document["error"] == "malformed"
    assert detail in document["detail"]
    assert not CallbackInbox.objects.exists()


def test_only_post_to_the_callback_url_is_served(header_auth):
    [(status, _, headers)] = exchange([(header_auth, None)], method="GET")
    assert status == 405 and headers["Allow"] == "POST"
    [(status, _, _)] = exchange([(header_auth, STATUS)], path="/callbacks/kaleyra/templates/")
    assert status == 404  # the other callback URLs stay with gunicorn (mpm-nginx.conf)
    assert not CallbackInbox.objects.exists()


def test_concurrent_callbacks_are_committed_together_and_each_is_answered(header_auth, monkeypatch):
    batches = []
    real_commit = receiver_module._commit

    def counting_commit(callbacks):
        batches.append(len(callbacks))
        real_commit(callbacks)

    monkeypatch.setattr(receiver_module, "_commit", counting_commit)
    bodies = [
        json.dumps({**STATUS_BODY, "n": n}).encode() for n in range(300)
    ]  # each one different
    answers = exchange([(header_auth, body) for body in bodies])

    assert [status for status, _, _ in answers] == [200] * 300
    assert sum(batches) == 300
    assert len(batches) < 300  # grouped: more than one callback per transaction
    stored = sorted(
        json.loads(body)["n"] for body in CallbackInbox.objects.values_list("body", flat=True)
    )
    assert stored == list(range(300))


def test_a_database_failure_is_a_503_and_the_next_callbacks_are_stored(header_auth, monkeypatch):
    real_insert = receiver_module.insert_callbacks
    failures = []

    def insert_once_failing(cursor, callbacks):
        if not failures:
            failures.append(len(callbacks))
            raise OperationalError("database is locked")
        real_insert(cursor, callbacks)

    monkeypatch.setattr(receiver_module, "insert_callbacks", insert_once_failing)

    async def run():
        async with TestClient(TestServer(receiver_app())) as client:
            first = await client.post(PATH, data=STATUS, headers=header_auth)
            second = await client.post(PATH, data=STATUS, headers=header_auth)
            return (first.status, await first.json()), (second.status, await second.json())

    first, second = asyncio.run(run())
    assert first == (503, {"error": "temporarily unavailable"})
    assert second == (200, {"status": "received"})
    assert CallbackInbox.objects.count() == 1  # the refused one was not stored, Kaleyra retries


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=200),
            st.text(max_size=200).map(str.encode),
            st.dictionaries(st.text(max_size=10), st.text(max_size=20), min_size=1).map(
                lambda d: json.dumps(d).encode()
            ),
        ),
        min_size=1,
        max_size=15,
    )
)
def test_any_body_is_stored_or_refused_in_plain_words_never_a_500(header_auth, bodies):
    CallbackInbox.objects.all().delete()
    answers = exchange([(header_auth, body) for body in bodies])

    statuses = [status for status, _, _ in answers]
    assert set(statuses) <= {200, 400}
    for status, document, _ in answers:
        if status == 400:
            assert document["error"] == "malformed" and document["detail"]
    assert CallbackInbox.objects.count() == statuses.count(200)


def test_the_command_serves_the_documented_environment_and_stops_cleanly(tmp_path):
    port = free_port()
    env = production_env(tmp_path, MPM_CALLBACK_BIND=f"127.0.0.1:{port}")
    database = tmp_path / "db.sqlite3"
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    server = subprocess.Popen(
        [sys.executable, "manage.py", "receive_callbacks"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "Receiving Kaleyra's callbacks" in server.stdout.readline()
        credentials = ("kaleyra", env["KALEYRA_CALLBACK_PASSWORD"])
        url = f"http://127.0.0.1:{port}{PATH}"
        for _ in range(100):
            try:
                answer = requests.post(url, json=STATUS_BODY, auth=credentials, timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert answer.status_code == 200
        assert requests.post(url, json=STATUS_BODY, timeout=5).status_code == 401
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0

    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM campaigns_callbackinbox").fetchone() == (1,)


def test_the_command_refuses_a_bind_that_is_not_host_and_port(tmp_path):
    env = production_env(tmp_path)
    done = subprocess.run(
        [sys.executable, "manage.py", "receive_callbacks", "--bind", "localhost"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "--bind must be HOST:PORT, not 'localhost'." in done.stderr
