"""The send engine end to end, against the local stand-in for Kaleyra.

The async path records answers from its own thread (its own database connection), and some
tests run `send_campaign` in subprocesses, so these tests commit: `transaction=True`. On SQLite
the test database is a file (mpmsite/settings_test.py) so that threads and subprocesses share it.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.utils import timezone

from benchmarks.standin import HANG_SUFFIX, STANDIN_ANSWERS, StandinThread
from campaigns import conf
from campaigns.callbacks import apply_pending_callbacks
from campaigns.kaleyra import Outcome, SendResult, config_from_settings, parse_answer
from campaigns.models import (
    Campaign,
    CampaignTallyDelta,
    Message,
    RateSlot,
    SendAttempt,
    SenderPacing,
    WorkerHeartbeat,
)
from campaigns.payload import serialize
from campaigns.recipients import RecipientInput, campaign_queue_recipients
from campaigns.selectors import campaign_content, campaign_for_sending
from campaigns.selectors.tallies import campaign_tallies
from campaigns.sending.bodies import RequestEncoder, request_body
from campaigns.sending.claims import Answer, Claimed
from campaigns.sending.journal import Journal
from campaigns.sending.pacing import slow_down
from campaigns.sending.policy import RetryPolicy
from campaigns.sending.ratelimit import RateLimiter
from campaigns.sending.recorder import record
from campaigns.sending.run import CampaignRun, RunOptions, Scope, claim, recover
from campaigns.sending.sender import Sender
from campaigns.sending.workers import HOST
from campaigns.services import CampaignNotRunnable, campaign_pause, campaign_send, run_options
from tests.sending.test_ratelimit import busiest_second
from tests.support.callbacks import v2_status
from tests.support.factories import make_campaign
from tests.support.provider import API_KEY, SENDER, SID, use_kaleyra_at

ROOT = Path(__file__).resolve().parents[2]
RESERVED_SUFFIXES = {*STANDIN_ANSWERS, HANG_SUFFIX}
WAIT = 60  # seconds: the most any one wait on a subprocess or a condition may take
# Seconds, in subprocesses: a killed one counts as dead soon after; wide enough that a run
# starved of CPU on a loaded machine (a stall past half of it) does not stop itself mid-test.
HEARTBEAT_LEASE = 2.5

transactional = pytest.mark.django_db(transaction=True)


def numbers(count: int, start: int = 0) -> list[str]:
    """Valid Indian mobile numbers whose endings the stand-in answers with 202."""
    found, n = [], start
    while len(found) < count:
        if f"{n % 10000:04d}" not in RESERVED_SUFFIXES:
            found.append(f"+9198{n:08d}")
        n += 1
    return found


def number_ending(suffix: str) -> str:
    return f"+91987654{suffix}"


def queue(campaign, phones, **kwargs):
    return campaign_queue_recipients(
        campaign, [RecipientInput(p, line=i) for i, p in enumerate(phones, start=2)], **kwargs
    )


def refs_seen(server) -> dict[str, int]:
    return requests.get(f"{server.base_url}/stats", timeout=5).json()["refs"]


def ref(message_id: int) -> str:
    return f"mpm-{message_id}"


def states(campaign) -> dict[str, int]:
    return dict(
        Message.objects.filter(campaign=campaign)
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )


@pytest.fixture
def engine_settings(settings, tmp_path):
    """The async engine, with its journals in this test's own folder."""
    settings.MPM_JOURNAL_DIR = str(tmp_path / "journal")
    settings.KALEYRA_RATE_PER_SECOND = 0
    return settings


@pytest.fixture
def start_standin(engine_settings):
    """Start the stand-in (with a latency) and point the Kaleyra settings at it."""
    servers = []

    def start(latency: float = 0.0) -> StandinThread:
        server = StandinThread(latency).__enter__()
        servers.append(server)
        use_kaleyra_at(engine_settings, server.base_url)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


# --- in this process ----------------------------------------------------------------------------


@transactional
def test_every_recipient_is_sent_once_and_recorded_once(start_standin, engine_settings):
    server = start_standin()
    campaign = make_campaign()
    assert queue(campaign, numbers(300)).queued == 300

    summary = campaign_send(campaign, options=run_options(concurrency=32))

    assert (summary.accepted, summary.failed, summary.unknown) == (300, 0, 0)
    assert states(campaign) == {"accepted": 300}
    messages = Message.objects.filter(campaign=campaign).annotate(sent=Count("attempts_log"))
    assert {m.sent for m in messages} == {1}
    assert all(m.message_id.startswith("SI") and m.attempts == 1 for m in messages)
    assert refs_seen(server) == {ref(m.id): 1 for m in messages}
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.COMPLETED
    # A run that ended cleanly leaves no journal behind.
    assert list(Path(engine_settings.MPM_JOURNAL_DIR).iterdir()) == []
    # Its counters' deltas (PostgreSQL) are folded in by the run itself.
    assert not CampaignTallyDelta.objects.filter(campaign_id=campaign.pk).exists()
    assert campaign_tallies(campaign.pk).states == {"accepted+": 300}


@transactional
def test_low_balance_pauses_the_campaign_and_resume_sends_the_rest(start_standin, monkeypatch):
    server = start_standin(latency=0.05)
    campaign = make_campaign()
    phones = numbers(300)
    low_balance = number_ending("0110")
    phones.insert(5, low_balance)
    queue(campaign, phones)
    options = run_options(concurrency=4)

    summary = campaign_send(campaign, options=options)

    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.PAUSED
    assert campaign.paused_reason.startswith("E110")
    assert summary.paused_reason == campaign.paused_reason
    held = Message.objects.get(campaign=campaign, to=low_balance)
    assert (held.state, held.last_code, held.attempts) == ("queued", "E110", 1)
    counts = states(campaign)
    assert set(counts) == {"accepted", "queued"}  # none failed, none left in `sending`
    assert counts["queued"] > 250  # the rest waits; only requests already out were answered
    with pytest.raises(CampaignNotRunnable, match="paused"):
        campaign_send(campaign, options=options)

    monkeypatch.delitem(STANDIN_ANSWERS, "0110")  # the operator tops up the balance
    summary = campaign_send(campaign, resume=True, options=options)

    campaign.refresh_from_db()
    assert (campaign.state, campaign.paused_reason) == (Campaign.State.COMPLETED, "")
    assert states(campaign) == {"accepted": 301}
    assert summary.accepted == counts["queued"]
    seen = refs_seen(server)
    for message in Message.objects.filter(campaign=campaign).annotate(sent=Count("attempts_log")):
        expected = 2 if message.to == low_balance else 1
        assert (message.sent, seen[ref(message.id)]) == (expected, expected), message.to


@transactional
def test_a_request_without_an_answer_is_unknown_and_never_resent(start_standin, engine_settings):
    engine_settings.KALEYRA_READ_TIMEOUT = 0.5
    server = start_standin()
    campaign = make_campaign()
    silent = number_ending(HANG_SUFFIX)
    phones = [*numbers(20), silent]
    queue(campaign, phones)

    summary = campaign_send(campaign, options=run_options(concurrency=8))

    assert (summary.accepted, summary.unknown, summary.failed) == (20, 1, 0)
    message = Message.objects.get(campaign=campaign, to=silent)
    assert (message.state, message.attempts) == ("unknown", 1)
    attempt = message.attempts_log.get()
    assert (attempt.http_status, attempt.code) == (None, "timeout")

    report = queue(campaign, phones)  # the same list again
    assert (report.queued, report.already_accepted, report.unknown_kept) == (0, 20, 1)
    summary = campaign_send(campaign, options=run_options(concurrency=8))

    assert (summary.accepted, summary.unknown) == (0, 0)
    message.refresh_from_db()
    assert message.state == "unknown"
    assert refs_seen(server)[ref(message.id)] == 1
    assert SendAttempt.objects.filter(message__campaign=campaign).count() == 21


@transactional
def test_a_refused_connection_is_retried_then_fails(engine_settings):
    engine_settings.MPM_CONNECT_MAX_RETRIES = 3
    with socket.socket() as probe:  # a port nothing listens on once the socket is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    use_kaleyra_at(engine_settings, f"http://127.0.0.1:{port}")
    campaign = make_campaign()
    queue(campaign, numbers(2))

    summary = campaign_send(campaign, options=run_options(concurrency=4))

    assert (summary.failed, summary.accepted) == (2, 0)
    for message in Message.objects.filter(campaign=campaign):
        assert (message.state, message.attempts) == ("failed", 4)  # 1 + MPM_CONNECT_MAX_RETRIES
        attempts = list(message.attempts_log.order_by("id"))
        assert [(a.http_status, a.code) for a in attempts] == [(None, "connection")] * 4
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.COMPLETED


@transactional
def test_sends_never_reach_kaleyra_faster_than_the_rate(start_standin):
    server = start_standin()
    campaign = make_campaign()
    queue(campaign, numbers(100))

    summary = campaign_send(campaign, options=run_options(rate=50))

    assert summary.accepted == 100
    arrivals = requests.get(f"{server.base_url}/stats?arrivals=1", timeout=5).json()["arrivals"]
    assert len(arrivals) == 100
    assert busiest_second(arrivals) <= 50


@transactional
def test_an_operator_pause_stops_sending_what_the_run_had_claimed(start_standin):
    server = start_standin()
    campaign = make_campaign()
    queue(campaign, numbers(200))
    rate = 40  # the run claims and hands its senders ~all 200 at once; they go out at 40/s
    run = threading.Thread(
        target=campaign_send, kwargs={"campaign": campaign, "options": run_options(rate=rate)}
    )
    run.start()
    try:
        accepted = Message.objects.filter(campaign=campaign, state="accepted")
        wait_until(lambda: accepted.count() >= 20, "the first sends")
        assert campaign_pause(campaign, reason="Paused by a test.")
        sent_at_pause = sum(refs_seen(server).values())
    finally:
        run.join(WAIT)
    assert not run.is_alive()

    # The run sees the pause within STATE_CHECK_INTERVAL (0.5 s); sends after it: ~20 at most.
    assert sum(refs_seen(server).values()) - sent_at_pause <= rate
    counts = states(campaign)
    assert set(counts) == {"accepted", "queued"}  # what was claimed and not sent is queued again
    assert counts["queued"] >= 200 - sent_at_pause - rate
    campaign.refresh_from_db()
    assert (campaign.state, campaign.paused_reason) == ("paused", "Paused by a test.")


class AlwaysLate(RateLimiter):
    """A limiter on a machine too busy to ever wake on time."""

    def __init__(self):
        super().__init__(1000)

    def late(self, slot: float) -> bool:
        return True


@pytest.mark.timeout(20)
@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_sender_that_always_wakes_late_still_sends_everything(start_standin, concurrency):
    server = start_standin()
    answers = []
    sender = Sender(
        config_from_settings(),
        concurrency=concurrency,
        limiter=AlwaysLate(),
        on_send=lambda m: None,
        on_answer=answers.append,
        should_stop=lambda: False,
    )
    items = [
        (
            Claimed(n, phone, {}, 0),
            json.dumps(
                {"messaging_object": {"to": phone}, "extra_info": {"ref": f"late-{n}"}}
            ).encode(),
        )
        for n, phone in enumerate(numbers(20))
    ]

    sender.submit(items)
    wait_until(lambda: not sender.pending, "every request answered")
    assert sender.stop() == []

    assert sorted(a.message.id for a in answers) == list(range(20))
    assert all(a.result.accepted for a in answers)
    assert refs_seen(server) == {f"late-{n}": 1 for n in range(20)}


# --- crash recovery -----------------------------------------------------------------------------


def expected_journal(settings, campaign_id: int, worker_id: str) -> Path:
    """Where a run's journal lives: `<campaign>@<host>@<pid>@<run>.jsonl`."""
    host, pid, run = worker_id.split(":")
    return Path(settings.MPM_JOURNAL_DIR) / f"{campaign_id}@{host}@{pid}@{run}.jsonl"


def cut_last_line(path: Path):
    """What a crash during the last write could leave: half a line."""
    data = path.read_bytes()
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(data[: start + (len(data) - start) // 2])


def beating(worker_id: str, seconds_ago: float = 0) -> str:
    """A run's heartbeat row, last beaten `seconds_ago`."""
    at = timezone.now() - timedelta(seconds=seconds_ago)
    host, pid, _ = worker_id.split(":")
    WorkerHeartbeat.objects.create(
        worker_id=worker_id, host=host, pid=int(pid), started_at=at, beat_at=at
    )
    return worker_id


@pytest.mark.django_db
def test_recover_settles_what_a_dead_run_left_in_sending(engine_settings):
    campaign = campaign_for_sending(make_campaign().pk)
    content = campaign_content(campaign)
    lease = conf.MPM_HEARTBEAT_LEASE
    dead = beating(f"{HOST}:{os.getpid()}:0123456789ab", seconds_ago=lease + 1)
    elsewhere = "other-host:4242:ba9876543210"  # never beat: dead, and its journal is not here
    live = beating(f"{HOST}:{os.getpid()}:aaaaaaaaaaaa", seconds_ago=lease / 2)
    live_elsewhere = beating("other-host:4343:bbbbbbbbbbbb")

    def claimed(to, worker):
        return Message.objects.create(
            campaign=campaign, to=to, state="sending", claimed_by=worker, claimed_at=timezone.now()
        )

    def answer(message, result):
        return Answer(Claimed(message.id, message.to, {}, 0), "{}", result)

    answered, refused, in_flight, never_left, cut_short = (
        claimed(n, dead) for n in numbers(5, start=100)
    )
    dead_elsewhere = claimed(numbers(1, start=200)[0], elsewhere)
    still_elsewhere = claimed(numbers(1, start=300)[0], live_elsewhere)
    still_running = claimed(numbers(1, start=400)[0], live)
    wa401 = {"code": "WA401", "message": "Phone number is not present", "data": {}, "error": {}}

    journal = Journal(campaign.pk, dead)  # what the dead run wrote before it died
    assert journal.path == expected_journal(engine_settings, campaign.pk, dead)
    for message in (answered, refused, in_flight, cut_short):
        journal.sending(message.id)
    journal.answered(answer(answered, accepted_result()))
    journal.answered(answer(refused, parse_answer(401, json.dumps(wa401))))
    journal.answered(answer(cut_short, accepted_result()))
    journal.close(remove=False)
    cut_last_line(journal.path)
    other = Journal(campaign.pk, live)  # a run still going has a journal too
    other.sending(still_running.id)
    other.answered(answer(still_running, accepted_result()))
    other.close(remove=False)

    counts = recover(campaign.pk, content)

    assert counts == {"recorded": 2, "unknown": 3, "requeued": 1}
    for message in (answered, refused, in_flight, cut_short, never_left, dead_elsewhere):
        message.refresh_from_db()
    assert (answered.state, answered.message_id, answered.attempts) == (
        "accepted",
        "SI000000000042",
        1,
    )
    attempt = answered.attempts_log.get()
    expected_body = request_body(content, Claimed(answered.id, answered.to, {}, 0))
    assert attempt.request_body == expected_body
    assert attempt.request_body["extra_info"]["ref"] == ref(answered.id)
    assert (refused.state, refused.last_code, refused.attempts) == ("failed", "WA401", 1)
    for message in (in_flight, cut_short, dead_elsewhere):
        assert message.state == "unknown"
        assert "may have been sent" in message.detail
    assert (never_left.state, never_left.claimed_by) == ("queued", "")
    for message in (still_elsewhere, still_running):  # their runs still beat
        message.refresh_from_db()
        assert message.state == "sending"
    assert SendAttempt.objects.count() == 2
    # The dead run's journal is settled and gone; a live run's is its own business.
    assert list(Path(engine_settings.MPM_JOURNAL_DIR).iterdir()) == [other.path]
    assert recover(campaign.pk, content) == {"recorded": 0, "unknown": 0, "requeued": 0}
    # The settled run's heartbeat is gone: should it wake, it cannot beat again.
    assert set(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == {
        live,
        live_elsewhere,
    }


@pytest.mark.django_db
def test_a_run_stalled_past_half_its_lease_never_comes_back_to_life(engine_settings):
    """Others may count it dead and requeue its claims once the lease is over: after a stall
    past the fence it stops for good, even though its row is still there to beat."""
    from campaigns.sending.workers import Heartbeat

    heartbeat = Heartbeat(None)
    assert heartbeat.valid()
    stalled = time.monotonic() - heartbeat.fence - 0.1  # its last beat, before the stall
    heartbeat.last = stalled
    assert not heartbeat.valid()
    heartbeat.beat()
    assert heartbeat.lost and not heartbeat.valid()
    row = WorkerHeartbeat.objects.get(worker_id=heartbeat.worker_id)
    heartbeat.last = time.monotonic() - heartbeat.interval - 0.01  # a beat due again
    heartbeat.beat()
    assert WorkerHeartbeat.objects.get(worker_id=heartbeat.worker_id).beat_at == row.beat_at


@pytest.mark.django_db
def test_a_run_whose_row_expired_cannot_renew_it(engine_settings):
    from campaigns.sending.workers import Heartbeat

    heartbeat = Heartbeat(None)
    lease = conf.MPM_HEARTBEAT_LEASE
    WorkerHeartbeat.objects.update(beat_at=timezone.now() - timedelta(seconds=lease + 1))
    heartbeat.last = time.monotonic() - heartbeat.interval - 0.01
    heartbeat.beat()
    assert heartbeat.lost


def accepted_result() -> SendResult:
    body = json.dumps({"code": "WA202", "data": {"message_id": "SI000000000042"}})
    return SendResult(
        Outcome.ACCEPTED, 202, "WA202", "Request Accepted", {}, "SI000000000042", body, 180
    )


@pytest.mark.timeout(20)
def test_a_sender_whose_journal_fails_stops_the_run_instead_of_hanging(start_standin):
    server = start_standin()
    config = config_from_settings()

    def journal_full(message):
        raise OSError(28, "No space left on device")

    sender = Sender(
        config,
        concurrency=2,
        limiter=RateLimiter(0),
        on_send=journal_full,
        on_answer=lambda answer: None,
        should_stop=lambda: False,
    )
    sender.submit([(Claimed(n, phone, {}, 0), b"{}") for n, phone in enumerate(numbers(10))])

    with pytest.raises(RuntimeError, match="No space left on device"):
        while sender.pending:
            time.sleep(0.01)
    unsent = sender.stop()

    assert refs_seen(server) == {}  # nothing left without its journal line
    assert len(unsent) >= 8 and set(unsent) <= set(range(10))


# --- send_campaign in subprocesses --------------------------------------------------------------


def database_url() -> str:
    """The test database, as a URL for a `manage.py` subprocess."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        return f"postgres://{quote(db['USER'], safe='')}{password}@{host}:{port}/{db['NAME']}"
    if connection.vendor == "sqlite" and not connection.is_in_memory_db():
        return f"sqlite:///{db['NAME']}"
    pytest.skip("a subprocess can only share a file or PostgreSQL test database")


def command_env(settings, server) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mpmsite.settings",
        "DJANGO_SECRET_KEY": "test-only-secret-key-not-for-production",
        "DATABASE_URL": database_url(),
        "KALEYRA_SID": SID,
        "KALEYRA_API_KEY": API_KEY,
        "KALEYRA_SENDER": SENDER,
        "KALEYRA_BASE_URL": server.base_url,
        "KALEYRA_RATE_PER_SECOND": "0",
        "MPM_JOURNAL_DIR": settings.MPM_JOURNAL_DIR,
        "MPM_HEARTBEAT_LEASE": str(HEARTBEAT_LEASE),
        "MPM_CONSENT_REQUIRED": "false",  # as the suite's own settings (tests/conftest.py)
    }


class Command:
    """`manage.py send_campaign …` in a subprocess, its output kept in files."""

    def __init__(self, tmp_path: Path, env: dict, *args: str):
        self.out = tmp_path / f"out-{time.monotonic_ns()}.txt"
        self.err = self.out.with_suffix(".err")
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "send_campaign", *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=err,
            )

    def wait(self) -> int:
        return self.proc.wait(timeout=WAIT)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=WAIT)  # reaped: its pid no longer exists

    @property
    def output(self) -> tuple[str, str]:
        return self.out.read_text(), self.err.read_text()


def wait_until(condition, what: str):
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def accepted_attempts(campaign) -> dict[int, int]:
    """Accepted SendAttempts per Message id."""
    return dict(
        SendAttempt.objects.filter(message__campaign=campaign)
        .exclude(provider_message_id="")
        .values_list("message_id")
        .annotate(n=Count("id"))
        .values_list("message_id", "n")
    )


@transactional
def test_a_run_killed_mid_campaign_resumes_with_every_message_settled(
    start_standin, engine_settings, tmp_path
):
    concurrency = 64
    server = start_standin(latency=0.2)
    campaign = make_campaign()
    phones = numbers(3000)
    csv_file = tmp_path / "recipients.csv"
    csv_file.write_text("phone\n" + "\n".join(phones) + "\n")
    env = command_env(engine_settings, server)
    args = (str(campaign.pk), "--rate", "0")
    accepted = Message.objects.filter(campaign=campaign, state="accepted")

    first = Command(
        tmp_path, env, *args, "--recipients", str(csv_file), "--concurrency", str(concurrency)
    )
    try:
        wait_until(lambda: accepted.count() >= 300 or first.proc.poll() is not None, "sends")
    finally:
        first.kill()
    assert first.proc.returncode == -signal.SIGKILL, first.output
    assert 300 <= accepted.count() < 3000
    assert Message.objects.filter(campaign=campaign, state="sending").exists()
    time.sleep(HEARTBEAT_LEASE)  # until then its claims might still be a live run's

    resumed = Command(tmp_path, env, *args, "--resume", "--concurrency", "256")
    try:
        code = resumed.wait()
    finally:
        resumed.kill()

    out, err = resumed.output
    in_flight = Message.objects.filter(campaign=campaign, state="unknown").count()
    # Requests in flight at the kill may have arrived: reported, never silently resent.
    assert code == (1 if in_flight else 0), resumed.output
    if in_flight:
        assert f"in flight when an earlier run stopped: {in_flight}" in err
        assert f"unknown {in_flight}" in out
    assert "recovered after a crash" in err
    assert "Sending" in err and "accepted=" in err  # the progress bar
    assert out.strip().splitlines()[-1].startswith("accepted ")
    counts = states(campaign)
    assert set(counts) <= {"accepted", "unknown"}  # every Message in a definite state
    assert sum(counts.values()) == 3000
    unknown = set(
        Message.objects.filter(campaign=campaign, state="unknown").values_list("id", flat=True)
    )
    assert len(unknown) <= concurrency  # at most the requests in flight when it was killed
    accepted_ids = set(accepted.values_list("id", flat=True))
    assert accepted_attempts(campaign) == dict.fromkeys(accepted_ids, 1)
    seen = refs_seen(server)
    assert all(seen.get(ref(mid)) == 1 for mid in accepted_ids)
    assert all(seen.get(ref(mid), 0) <= 1 for mid in unknown)  # never resent on its own
    assert sum(seen.values()) == len(accepted_ids) + sum(seen.get(ref(m), 0) for m in unknown)

    # Kaleyra reports what it received: each request that reached it gets a status callback
    # carrying the Message's own ref, which settles the Message it came from.
    engine_settings.KALEYRA_CALLBACK_HEADER = "X-Callback-Secret"
    engine_settings.KALEYRA_CALLBACK_TOKEN = ["s3cret"]
    reached = Message.objects.filter(id__in=[mid for mid in unknown if seen.get(ref(mid))])
    for message in reached:
        status = v2_status(
            "sent", ref=ref(message.pk), recipient_id=message.to[1:], message_id=f"SI{message.pk}"
        )
        response = Client().post(
            "/callbacks/kaleyra/",
            json.dumps(status),
            content_type="application/json",
            headers={"X-Callback-Secret": "s3cret"},
        )
        assert response.status_code == 200
    apply_pending_callbacks()
    left = set(
        Message.objects.filter(campaign=campaign, state="unknown").values_list("id", flat=True)
    )
    assert left == {mid for mid in unknown if not seen.get(ref(mid))}  # usually none
    assert set(states(campaign)) <= {"accepted", "sent", "unknown"}

    # What never reached Kaleyra may be sent on the operator's word; nothing is sent twice.
    again = Command(
        tmp_path,
        env,
        *args,
        "--recipients",
        str(csv_file),
        "--resend-unknown",
        "--concurrency",
        "64",
    )
    try:
        assert again.wait() == 0, again.output
    finally:
        again.kill()

    final = states(campaign)
    assert set(final) <= {"accepted", "sent"} and sum(final.values()) == 3000
    every_id = set(Message.objects.filter(campaign=campaign).values_list("id", flat=True))
    assert refs_seen(server) == {ref(mid): 1 for mid in every_id}  # exactly once each


@transactional
def test_two_workers_on_one_campaign_send_each_message_once(
    start_standin, engine_settings, tmp_path
):
    if connection.vendor != "postgresql":
        pytest.skip(
            "two workers share a campaign through SELECT … FOR UPDATE SKIP LOCKED: "
            "PostgreSQL only (run with DATABASE_URL=postgres://…)"
        )
    # A limit makes each claim a second's worth (500), so neither worker can claim the whole
    # campaign before the other starts (without one, the first claims 1,000 twice at once).
    rate = 500
    server = start_standin(latency=0.05)
    campaign = make_campaign()
    queue(campaign, numbers(2000))
    env = command_env(engine_settings, server)
    args = (str(campaign.pk), "--resume", "--rate", str(rate), "--concurrency", "32")

    workers = [Command(tmp_path, env, *args) for _ in range(2)]
    try:
        codes = [worker.wait() for worker in workers]
    finally:
        for worker in workers:
            worker.kill()

    assert codes == [0, 0], [worker.output for worker in workers]
    assert states(campaign) == {"accepted": 2000}
    every_id = set(Message.objects.filter(campaign=campaign).values_list("id", flat=True))
    assert accepted_attempts(campaign) == dict.fromkeys(every_id, 1)
    assert SendAttempt.objects.filter(message__campaign=campaign).count() == 2000
    assert refs_seen(server) == {ref(mid): 1 for mid in every_id}
    # Both really worked on it, each claiming a share of the Messages.
    claimers = Message.objects.filter(campaign=campaign).values_list("claimed_by", flat=True)
    assert {claimer.split(":")[1] for claimer in claimers} == {
        str(worker.proc.pid) for worker in workers
    }


# --- self-healing: db_worker killed, a fresh one started --------------------------------------


def manage(tmp_path, env, *args) -> subprocess.Popen:
    out = (tmp_path / f"{args[0]}-{time.monotonic_ns()}.txt").open("w")
    return subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=out, stderr=out
    )


def stop(proc: subprocess.Popen):
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=WAIT)


@transactional
@pytest.mark.timeout(180)
def test_a_killed_worker_heals_itself_and_the_campaign_completes_once(
    start_standin, engine_settings, tmp_path
):
    server = start_standin(latency=0.2)
    campaign = make_campaign()
    queue(campaign, numbers(2000))
    env = {
        **command_env(engine_settings, server),
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
        "MPM_RECOVERY_INTERVAL": "0.5",
        "MPM_SEND_CONCURRENCY": "64",
    }
    worker = ["db_worker", "--interval", "0.1", "--no-startup-delay"]
    accepted = Message.objects.filter(campaign=campaign, state="accepted")
    start = (
        "from campaigns.models import Campaign; "
        "from campaigns.services.background import campaign_enqueue_send; "
        f"campaign_enqueue_send(Campaign.objects.get(pk={campaign.pk}))"
    )
    assert manage(tmp_path, env, "shell", "-c", start).wait(timeout=WAIT) == 0

    first = manage(tmp_path, env, *worker)
    try:
        wait_until(lambda: accepted.count() >= 300 or first.poll() is not None, "sends")
    finally:
        stop(first)
    assert first.returncode == -signal.SIGKILL
    assert accepted.count() < 2000
    assert Message.objects.filter(campaign=campaign, state="sending").exists()

    fresh = manage(tmp_path, env, *worker)
    try:
        deadline = time.monotonic() + 120
        while Campaign.objects.get(pk=campaign.pk).state != Campaign.State.COMPLETED:
            assert time.monotonic() < deadline, states(campaign)
            time.sleep(0.2)
    finally:
        stop(fresh)

    counts = states(campaign)
    assert set(counts) <= {"accepted", "unknown"} and sum(counts.values()) == 2000
    unknown = set(
        Message.objects.filter(campaign=campaign, state="unknown").values_list("id", flat=True)
    )
    accepted_ids = set(accepted.values_list("id", flat=True))
    assert accepted_attempts(campaign) == dict.fromkeys(accepted_ids, 1)
    seen = refs_seen(server)
    assert all(seen.get(ref(mid)) == 1 for mid in accepted_ids)
    assert all(seen.get(ref(mid), 0) <= 1 for mid in unknown)  # in flight at the kill: never resent
    assert max(seen.values()) == 1  # 0 duplicates at the stand-in
    assert not WorkerHeartbeat.objects.filter(campaign=campaign).exists()
    # Staff see what happened to the killed worker's task (admin: Task results).
    from django_tasks_db.models import DBTaskResult

    [stuck] = DBTaskResult.objects.filter(exception_class_path="WorkerStopped")
    assert stuck.args_kwargs["args"] == [campaign.pk] and "MPM_HEARTBEAT_LEASE" in stuck.traceback


@transactional
@pytest.mark.parametrize("shared_through", ["database", "redis"])
def test_two_machines_sending_from_one_number_never_exceed_its_rate_together(
    start_standin, engine_settings, tmp_path, request, shared_through
):
    """Two processes with their own worker ids and no files in common (each its own journal
    folder), sending two campaigns from one sender number: they share only the database (or a
    Redis, with MPM_RATE_REDIS_URL), and together reach Kaleyra no faster than the number's rate."""
    rate = 100
    server = start_standin()
    redis_url = request.getfixturevalue("redis_url") if shared_through == "redis" else ""
    campaigns = [make_campaign(), make_campaign()]
    for n, campaign in enumerate(campaigns):
        queue(campaign, numbers(200, start=n * 10_000))
    machines = []
    for n, campaign in enumerate(campaigns):
        env = {
            **command_env(engine_settings, server),
            "MPM_JOURNAL_DIR": str(tmp_path / f"m{n}"),
            "MPM_RATE_REDIS_URL": redis_url,
        }
        args = (str(campaign.pk), "--resume", "--rate", str(rate), "--concurrency", "32")
        machines.append(Command(tmp_path, env, *args))
    try:
        codes = [machine.wait() for machine in machines]
    finally:
        for machine in machines:
            machine.kill()

    assert codes == [0, 0], [machine.output for machine in machines]
    assert [states(campaign) for campaign in campaigns] == [{"accepted": 200}] * 2
    arrivals = requests.get(f"{server.base_url}/stats?arrivals=1", timeout=5).json()["arrivals"]
    assert len(arrivals) == 400
    assert busiest_second(arrivals) <= rate
    assert RateSlot.objects.exists() == (shared_through == "database")
    # They shared the pace rather than taking turns: about 4 s for 400 at 100/s.
    assert max(arrivals) - min(arrivals) == pytest.approx(400 / rate, rel=0.1)


@transactional
def test_meta_throughput_errors_slow_the_engine_down(settings, tmp_path):
    """After Meta's 130429 for this sender the engine paces at half its rate; later, at full."""
    settings.MPM_JOURNAL_DIR = str(tmp_path)
    campaign = campaign_for_sending(make_campaign().pk)
    config = config_from_settings()
    run = CampaignRun(
        Scope(campaign.pk), campaign_content(campaign), config, RunOptions(rate=80), None
    )
    try:
        run._follow_meta_pacing()
        assert (run.pacing_factor, run.limiter.rate) == (1.0, 80)

        slow_down(sender=config.sender, code="130429")
        run._follow_meta_pacing()
        assert (run.pacing_factor, run.limiter.rate) == (0.5, 40)
        assert run.progress.rate_limit == 40

        SenderPacing.objects.update(until=timezone.now() - timedelta(seconds=1))
        run._follow_meta_pacing()
        assert (run.pacing_factor, run.limiter.rate) == (1.0, 80)
    finally:
        run.sender.stop()
        run._release(clean=True)


@pytest.mark.django_db
def test_an_overlong_code_or_id_in_an_answer_is_cut_and_the_group_still_commits():
    campaign = make_campaign()
    queue(campaign, numbers(2))
    first, second = claim(Scope(campaign.pk), 2, "host:1:run")
    odd = json.dumps({"code": "X" * 300, "data": {"message_id": "M" * 300}})
    answers = [
        Answer(first, "{}", SendResult(Outcome.ACCEPTED, 202, "X" * 300, "", {}, "M" * 300, odd)),
        Answer(second, "{}", accepted_result()),
    ]

    record(answers, campaign_id=campaign.pk, policy=RetryPolicy())

    odd_message = Message.objects.get(pk=first.id)
    assert (odd_message.state, odd_message.message_id) == ("accepted", "M" * 100)
    assert odd_message.last_code == "X" * 20
    attempt = SendAttempt.objects.get(message_id=first.id)
    assert (attempt.code, attempt.provider_message_id) == ("X" * 20, "M" * 100)
    assert attempt.response_body == odd  # the raw answer is kept whole
    assert Message.objects.get(pk=second.id).state == "accepted"


# --- claims and request bytes -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_claim_takes_ready_messages_in_id_order_and_marks_them_as_this_workers():
    campaign = make_campaign()
    queue(campaign, numbers(6))
    first, later, test_send, *rest = Message.objects.filter(campaign=campaign).order_by("id")
    Message.objects.filter(pk=later.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    Message.objects.filter(pk=test_send.pk).update(is_test=True)
    Message.objects.filter(pk=rest[0].pk).update(state=Message.State.ACCEPTED)

    claimed = claim(Scope(campaign.pk), 2, "host:1:run")

    assert [c.id for c in claimed] == [first.pk, rest[1].pk]
    assert claimed[0] == Claimed(first.pk, first.to, {}, 0)
    sending = Message.objects.filter(state=Message.State.SENDING)
    assert set(sending.values_list("id", "claimed_by")) == {
        (first.pk, "host:1:run"),
        (rest[1].pk, "host:1:run"),
    }
    assert [c.id for c in claim(Scope(campaign.pk), 10, "host:1:run")] == [rest[2].pk]
    assert claim(Scope(campaign.pk), 10, "host:1:run") == []


@pytest.mark.django_db
@pytest.mark.parametrize("campaign_ref", ["", "spring-sale"])
def test_request_bytes_are_the_built_body_with_or_without_recipient_values(campaign_ref):
    campaign = campaign_for_sending(make_campaign(ref=campaign_ref).pk)
    content = campaign_content(campaign)
    encoder = RequestEncoder(content)
    for message in (
        Claimed(7, "+919876543210", {}, 0),
        Claimed(8, "+919876543211", {"body_1": "Asha", "ref": "row-8"}, 0),
        Claimed(9, "+919876543212", {"body_1": "Ravi"}, 1),
    ):
        wire = encoder.encode(message)
        assert wire == serialize(request_body(content, message))
        sent_ref = json.loads(wire)["extra_info"].get("ref")
        assert sent_ref == (message.overrides.get("ref") or campaign_ref or ref(message.id))


def test_answers_that_could_not_be_committed_stay_in_the_journal_for_the_next_run(
    provider, campaign, monkeypatch
):
    """The database refuses the commit (disk full, say): the run fails, and the next run records
    the answers from the journal instead of sending those messages again."""
    from django.db import OperationalError

    from campaigns.sending import recorder

    provider.answer()
    queue(campaign, numbers(3))

    def refuse(*args, **kwargs):
        raise OperationalError("database or disk is full")

    monkeypatch.setattr(recorder, "record", refuse)
    with pytest.raises(OperationalError):
        campaign_send(campaign)
    assert list(Path(conf.MPM_JOURNAL_DIR).glob(f"{campaign.pk}@*.jsonl"))
    monkeypatch.undo()

    summary = campaign_send(campaign, resume=True)

    assert states(campaign) == {"accepted": 3}
    assert len(provider.requests) == 3  # none sent twice
    assert summary.total == 0
    assert not list(Path(conf.MPM_JOURNAL_DIR).glob(f"{campaign.pk}@*.jsonl"))


@pytest.mark.django_db
def test_after_a_crash_a_test_send_that_never_left_fails_and_a_real_one_is_queued_again():
    """A test send is one exchange the user watched: it is never sent later, out of sight."""
    campaign = campaign_for_sending(make_campaign().pk)
    dead = f"{HOST}:{os.getpid()}:gone"  # no heartbeat: dead, though its process lives
    real, test = (
        Message.objects.create(
            campaign=campaign,
            to=phone,
            is_test=is_test,
            state=Message.State.SENDING,
            claimed_by=dead,
            claimed_at=timezone.now(),
        )
        for phone, is_test in ((numbers(1)[0], False), (numbers(1, 500)[0], True))
    )

    counts = recover(campaign.pk, campaign_content(campaign))

    assert counts == {"recorded": 0, "unknown": 0, "requeued": 2}
    real.refresh_from_db()
    test.refresh_from_db()
    assert real.state == Message.State.QUEUED
    assert (test.state, test.detail) == (
        Message.State.FAILED,
        "The test send was interrupted before it left.",
    )
