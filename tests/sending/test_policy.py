"""The retry policy: what each kind of answer does to a Message (and to its campaign)."""

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from campaigns.kaleyra import Outcome, SendResult, documented, parse_answer
from campaigns.sending.policy import SINGLE_EXCHANGE, RetryPolicy, decide, pauses_campaign
from campaigns.sending.recorder import retry_policy

ACCEPTED = documented.accepted("AXXXXXXXXXXXXXXXXXXX")

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy()  # Kaleyra's schedule: WA500 at 5, 10 and 15 minutes


def answer(status: int, code: str, message: str = "") -> SendResult:
    body = {"code": code, "message": message or code, "data": {}, "error": {"error": code}}
    return parse_answer(status, json.dumps(body))


def timeout() -> SendResult:
    return SendResult(Outcome.TIMEOUT, duration_ms=30_000)


def refused() -> SendResult:
    return SendResult(Outcome.CONNECTION, duration_ms=3)


def test_accepted_is_done():
    decision = decide(parse_answer(202, json.dumps(ACCEPTED)), attempts=1, now=NOW, policy=POLICY)
    assert (decision.state, decision.next_attempt_at, decision.pause_reason) == (
        "accepted",
        None,
        "",
    )


@pytest.mark.parametrize(
    "result",
    [
        pytest.param(timeout(), id="timeout"),
        pytest.param(parse_answer(202, '{"code": "WA202", "data": {}}'), id="202-no-message-id"),
        pytest.param(parse_answer(200, "<html>OK</html>"), id="200-html"),
    ],
)
@pytest.mark.parametrize("policy", [POLICY, SINGLE_EXCHANGE], ids=["campaign", "single"])
def test_an_answer_that_may_have_been_sent_is_unknown_and_never_retried(result, policy):
    decision = decide(result, attempts=1, now=NOW, policy=policy)
    assert (decision.state, decision.next_attempt_at, decision.pause_reason) == (
        "unknown",
        None,
        "",
    )
    assert decision.detail


@pytest.mark.parametrize(
    ("status", "code"), [(400, "WA400"), (401, "WA401"), (401, "WA-401"), (404, "WA404")]
)
def test_a_refusal_is_final_at_the_first_attempt(status, code):
    decision = decide(answer(status, code), attempts=1, now=NOW, policy=POLICY)
    assert (decision.state, decision.next_attempt_at, decision.pause_reason) == ("failed", None, "")


def test_a_failure_says_what_kaleyra_said_and_what_it_means():
    result = answer(401, "WA401", "Phone number is not present")
    decision = decide(result, attempts=1, now=NOW, policy=POLICY)
    assert decision.detail.startswith("Phone number is not present ")
    assert "KALEYRA_SENDER" in decision.detail


def test_a_proxy_error_page_is_a_failure():
    result = parse_answer(502, "<h1>502 Bad Gateway</h1>")
    decision = decide(result, attempts=1, now=NOW, policy=POLICY)
    assert decision.state == "failed"


@pytest.mark.parametrize(
    ("policy", "delays"),
    [(POLICY, (300, 600, 900)), (RetryPolicy(wa500_delays=(1.5, 2, 60)), (1.5, 2, 60))],
    ids=["kaleyra", "configured"],
)
def test_wa500_is_retried_at_the_configured_delays_then_fails(policy, delays):
    decisions = [
        decide(answer(500, "WA500"), attempts=n, now=NOW, policy=policy) for n in (1, 2, 3, 4)
    ]

    assert [d.state for d in decisions] == ["queued", "queued", "queued", "failed"]
    assert [d.next_attempt_at for d in decisions] == [
        NOW + timedelta(seconds=delays[0]),
        NOW + timedelta(seconds=delays[1]),
        NOW + timedelta(seconds=delays[2]),
        None,
    ]
    assert all(not d.pause_reason for d in decisions)


def test_the_settings_give_the_policy(settings):
    settings.KALEYRA_WA500_RETRY_DELAYS = [7, 8, 9]
    settings.MPM_CONNECT_RETRY_BASE_DELAY = 0.25
    settings.MPM_CONNECT_MAX_RETRIES = 2
    policy = retry_policy()
    assert (policy.wa500_delays, policy.connect_base_delay, policy.connect_max_retries) == (
        (7, 8, 9),
        0.25,
        2,
    )
    assert policy.pause_on_account_errors


def test_a_refused_connection_backs_off_doubling_with_jitter_then_fails():
    policy = RetryPolicy(connect_base_delay=2, connect_max_delay=60, connect_max_retries=7)
    rng = random.Random(1234)
    decisions = [
        decide(refused(), attempts=n, now=NOW, policy=policy, rng=rng) for n in range(1, 9)
    ]

    assert [d.state for d in decisions] == ["queued"] * 7 + ["failed"]
    delays = [(d.next_attempt_at - NOW).total_seconds() for d in decisions[:7]]
    backoff = [2, 4, 8, 16, 32, 60, 60]  # doubling, capped at connect_max_delay
    for delay, base in zip(delays, backoff, strict=True):
        assert 0.5 * base <= delay <= 1.5 * base
    assert len(set(delays)) == len(delays)  # jittered: no two retries at the same offset
    assert decisions[-1].next_attempt_at is None
    # The same seed gives the same schedule (the engine passes none: module-level random).
    replay = random.Random(1234)
    assert [
        decide(refused(), attempts=n, now=NOW, policy=policy, rng=replay).next_attempt_at
        for n in range(1, 9)
    ] == [d.next_attempt_at for d in decisions]


def test_jitter_spreads_many_workers_retries_over_the_whole_band():
    rng = random.Random(99)
    delays = [
        (decide(refused(), attempts=1, now=NOW, policy=POLICY, rng=rng).next_attempt_at - NOW)
        for _ in range(2000)
    ]
    seconds = [d.total_seconds() for d in delays]
    base = POLICY.connect_base_delay
    assert min(seconds) >= 0.5 * base and max(seconds) <= 1.5 * base
    assert min(seconds) < 0.55 * base and max(seconds) > 1.45 * base


def test_a_refused_connection_fails_after_connect_max_retries():
    policy = RetryPolicy(connect_max_retries=2)
    states = [decide(refused(), attempts=n, now=NOW, policy=policy).state for n in (1, 2, 3)]
    assert states == ["queued", "queued", "failed"]


@pytest.mark.parametrize(
    ("status", "code"), [(400, "E110"), (429, "WAV2101"), (400, "WAV2101"), (401, "RBC001")]
)
def test_account_wide_answers_pause_the_campaign_and_keep_the_message(status, code):
    result = answer(status, code)
    decision = decide(result, attempts=1, now=NOW, policy=POLICY)

    assert (decision.state, decision.next_attempt_at) == ("queued", None)
    assert decision.pause_reason.startswith(f"{code}: ")
    assert len(decision.pause_reason) > len(code) + 10  # says what to do, in words
    assert pauses_campaign(result, POLICY)


@pytest.mark.parametrize(
    ("status", "code"), [(400, "E110"), (429, "WAV2101"), (401, "RBC001"), (500, "WA500")]
)
def test_a_single_exchange_never_pauses_nor_retries(status, code):
    result = answer(status, code)
    decision = decide(result, attempts=1, now=NOW, policy=SINGLE_EXCHANGE)

    assert (decision.state, decision.next_attempt_at, decision.pause_reason) == ("failed", None, "")
    assert not pauses_campaign(result, SINGLE_EXCHANGE)


def test_a_single_exchange_does_not_retry_a_refused_connection():
    decision = decide(refused(), attempts=1, now=NOW, policy=SINGLE_EXCHANGE)
    assert (decision.state, decision.next_attempt_at) == ("failed", None)
