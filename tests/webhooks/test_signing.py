"""Signing: each endpoint's derived secret, and what a receiver's check accepts and refuses."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.webhooks import endpoint_secret, signature, verify_signature

SECRET = "whsec_" + "ab" * 32
BODY = b'{"id":"status-1","type":"message.read","data":{}}'
NOW = 1_750_857_384


def test_a_good_signature_is_accepted():
    header = signature(SECRET, NOW, BODY)
    assert header.startswith("v1=")
    assert verify_signature(SECRET, str(NOW), BODY, header, now=NOW)


def test_a_tampered_body_is_refused():
    header = signature(SECRET, NOW, BODY)
    assert not verify_signature(SECRET, NOW, BODY.replace(b"read", b"sent"), header, now=NOW)


def test_another_secret_is_refused():
    header = signature("whsec_other", NOW, BODY)
    assert not verify_signature(SECRET, NOW, BODY, header, now=NOW)


def test_a_changed_timestamp_is_refused():
    """The timestamp is signed with the body: moving it forward to pass the window fails."""
    header = signature(SECRET, NOW - 1000, BODY)
    assert not verify_signature(SECRET, NOW, BODY, header, now=NOW)


@pytest.mark.parametrize(("age", "accepted"), [(0, True), (300, True), (301, False), (-301, False)])
def test_the_replay_window_is_300_seconds_either_way(age, accepted):
    header = signature(SECRET, NOW - age, BODY)
    assert verify_signature(SECRET, NOW - age, BODY, header, now=NOW) is accepted


@pytest.mark.parametrize("header", ["", "v1=", "v0=abc", "garbage", "v1=" + "0" * 64])
def test_malformed_or_wrong_headers_are_refused(header):
    assert not verify_signature(SECRET, NOW, BODY, header, now=NOW)


@pytest.mark.parametrize("timestamp", ["", "soon", None, "1.5"])
def test_a_timestamp_that_is_not_a_number_is_refused(timestamp):
    assert not verify_signature(SECRET, timestamp, BODY, signature(SECRET, NOW, BODY), now=NOW)


def test_any_of_several_signatures_may_match():
    header = f"v1={'0' * 64}, {signature(SECRET, NOW, BODY)}"
    assert verify_signature(SECRET, NOW, BODY, header, now=NOW)


def test_secrets_differ_by_endpoint_version_and_signing_key(settings):
    settings.MPM_WEBHOOK_SIGNING_KEY = ""
    first = endpoint_secret(1, 1)
    assert first == endpoint_secret(1, 1)
    assert first.startswith("whsec_") and len(first) == 6 + 64
    assert len({first, endpoint_secret(2, 1), endpoint_secret(1, 2)}) == 3
    settings.MPM_WEBHOOK_SIGNING_KEY = "a-dedicated-signing-key"
    assert endpoint_secret(1, 1) != first


@given(secret=st.text(min_size=1), body=st.binary(), timestamp=st.integers(0, 2**40))
def test_every_signature_verifies_and_any_flipped_byte_does_not(secret, body, timestamp):
    header = signature(secret, timestamp, body)
    assert verify_signature(secret, timestamp, body, header, now=timestamp)
    if body:
        flipped = bytes([body[0] ^ 1]) + body[1:]
        assert not verify_signature(secret, timestamp, flipped, header, now=timestamp)
