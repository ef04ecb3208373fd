"""The Kaleyra client: every documented answer and every broken one becomes the right SendResult
(sent for real to the stand-in on 127.0.0.1); the settings; the plain words for each code."""

import asyncio
import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from benchmarks.common import free_port
from campaigns.kaleyra import (
    SANDBOX_API_KEY,
    KaleyraClient,
    Outcome,
    answers,
    config_from_settings,
    documented,
    parse_answer,
)
from campaigns.kaleyra.client import user_agent
from tests.conftest import TEST_API_KEY
from tests.support.provider import send_once

BODY = b'{"messaging_object":{}}'

# Derived from `campaigns.kaleyra.documented` (checked word for word against Kaleyra's page below);
# tests/services imports these two names.
ACCEPTED = documented.accepted("AXXXXXXXXXXXXXXXXXXX")
DOCUMENTED_FAILURES = [
    pytest.param(status, payload, id=f"{status}-{name.replace(' ', '-')}")
    for name, (status, payload) in documented.ERRORS.items()
]


def send(body: bytes = BODY):
    """One send with a client made from the settings."""
    return send_once(config_from_settings(), body)


# --- Kaleyra's own words ------------------------------------------------------------------------


# Copied by hand from Kaleyra's "Send MPM template" page (sample success and failure responses),
# so a typo in `documented` cannot pass unnoticed.
KALEYRA_PAGE = {
    "RBC001": {
        "code": "RBC001",
        "message": "Incorrect SID or API key.",
        "data": [],
        "error": {"error": "Incorrect SID or API key."},
    },
    "WA401": {
        "code": "WA401",
        "message": "Phone number is not present or does not belong to the account.",
        "data": {},
        "error": {"phone_number": "Phone number is not present or does not belong to the account."},
    },
    "E110": {
        "code": "E110",
        "message": "Please check your balance, You have a low balance!",
        "data": {},
        "error": {"balance": "Please check your balance, You have a low balance!"},
    },
    "WA-401 account": {
        "code": "WA-401",
        "message": "API is not available for given customer.Please contact support for more info",
        "data": {},
        "error": {
            "account": "API is not available for given customer.Please contact support for more info"
        },
    },
    "WA-401 version": {
        "code": "WA-401",
        "message": "The phone number you're using is associated with different Version of our WA "
        "API. Please use the appropriate endpoint.",
        "data": {},
        "error": {
            "phone_number": "The phone number you're using is associated with different Version "
            "of our WA API. Please use the appropriate endpoint."
        },
    },
}


@pytest.mark.parametrize("name", list(KALEYRA_PAGE))
def test_documented_errors_are_kaleyras_words_exactly(name):
    assert documented.ERRORS[name][1] == KALEYRA_PAGE[name]


def test_documented_statuses_and_accepted_body_are_kaleyras():
    statuses = {name: status for name, (status, _) in documented.ERRORS.items()}
    assert statuses | {"WAV2101": 0} == {
        "RBC001": 401,
        "WA401": 401,
        "WA400": 400,
        "WA500": 500,
        "E110": 400,
        "WA-401 account": 401,
        "WA-401 version": 401,
        "WAV2101": 0,  # Kaleyra's page gives no status for it
    }
    assert documented.accepted("AXXXXXXXXXXXXXXXXXXX") == {
        "code": "WA202",
        "message": "Request Accepted",
        "data": {"message_id": "AXXXXXXXXXXXXXXXXXXX"},
        "error": {},
    }


# --- documented answers -------------------------------------------------------------------------


def test_202_wa202_is_accepted_with_its_message_id(provider):
    provider.answer(202, json=ACCEPTED)
    result = send()
    assert result.outcome is Outcome.ACCEPTED
    assert result.accepted
    assert result.http_status == 202
    assert result.code == "WA202"
    assert result.message == "Request Accepted"
    assert result.message_id == "AXXXXXXXXXXXXXXXXXXX"
    assert result.error == {}
    assert result.result_code == "WA202"
    assert json.loads(result.response_body) == ACCEPTED


@pytest.mark.parametrize(("status", "answer"), DOCUMENTED_FAILURES)
def test_documented_failures_are_rejections_with_code_message_and_error(provider, status, answer):
    provider.answer(status, json=answer)
    result = send()
    assert result.outcome is Outcome.REJECTED
    assert not result.accepted
    assert result.http_status == status
    assert result.code == answer["code"]
    assert result.result_code == answer["code"]
    assert result.message == answer["message"]
    assert result.error == answer["error"]
    assert result.message_id == ""
    assert json.loads(result.response_body) == answer


def test_wav2101_is_a_rejection_under_any_4xx_status(provider):
    # Kaleyra's error page gives no HTTP status for the daily limit: 400 must read as 429 does.
    _, payload = documented.ERRORS["WAV2101"]
    provider.answer(400, json=payload)
    result = send()
    assert (result.outcome, result.code, result.http_status) == (Outcome.REJECTED, "WAV2101", 400)


# --- undocumented answers -----------------------------------------------------------------------


def test_503_json_without_code_is_unexpected(provider):
    provider.answer(503, json={"message": "Service Unavailable"})
    result = send()
    assert result.outcome is Outcome.UNEXPECTED
    assert result.http_status == 503
    assert result.code == ""
    assert result.message == "Service Unavailable"
    assert result.result_code == "unexpected"


def test_html_502_is_unexpected_with_its_body_recorded(provider):
    provider.answer(502, body=documented.PROXY_502_HTML, content_type="text/html")
    result = send()
    assert result.outcome is Outcome.UNEXPECTED
    assert result.http_status == 502
    assert result.code == ""
    assert result.response_body == documented.PROXY_502_HTML
    assert result.result_code == "unexpected"


def test_very_long_body_is_recorded_cut(provider):
    provider.answer(502, body="x" * 10_000, content_type="text/html")
    result = send()
    assert result.response_body == "x" * 4000


def test_200_without_message_id_is_unexpected(provider):
    provider.answer(200, json={"code": "WA202", "message": "Request Accepted", "data": {}})
    result = send()
    assert result.outcome is Outcome.UNEXPECTED
    assert result.http_status == 200
    assert result.code == "WA202"
    assert result.message_id == ""


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (202, b'{"code": "WA202", "data": {}}', True),  # Kaleyra took it, answer is odd
        (200, b"<html>ok</html>", True),
        (202, json.dumps(ACCEPTED).encode(), False),  # accepted: known to be sent
        (502, b"<html>Bad Gateway</html>", False),
        (400, b'{"code": "WA400"}', False),
    ],
)
def test_may_have_been_sent_for_odd_2xx_answers_only(status, body, expected):
    assert parse_answer(status, body).may_have_been_sent is expected


def test_json_list_answer_is_unexpected():
    result = parse_answer(400, b'["no"]')
    assert result.outcome is Outcome.UNEXPECTED
    assert result.response_body == '["no"]'


def test_undecodable_bytes_never_raise():
    result = parse_answer(500, b"\xff\xfe broken")
    assert result.outcome is Outcome.UNEXPECTED
    assert "broken" in result.response_body


# --- no answer ----------------------------------------------------------------------------------


def test_read_timeout_is_a_timeout_that_may_have_been_sent(provider, kaleyra_settings):
    kaleyra_settings.KALEYRA_READ_TIMEOUT = 0.2
    provider.hang()
    result = send()
    assert result.outcome is Outcome.TIMEOUT and result.may_have_been_sent
    assert result.http_status is None
    assert result.result_code == "timeout"
    assert len(provider.requests) == 1


def test_a_refused_connection_is_connection_and_never_left(kaleyra_settings):
    kaleyra_settings.KALEYRA_BASE_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens
    result = send()
    assert result.outcome is Outcome.CONNECTION and not result.may_have_been_sent
    assert result.http_status is None
    assert result.result_code == "connection"


def test_connection_dropped_after_sending_may_have_been_sent(provider):
    async def drop(request):
        request.transport.close()
        await asyncio.sleep(1)

    provider.script.answers.append(drop)
    result = send()
    assert result.outcome is Outcome.TIMEOUT and result.may_have_been_sent
    assert len(provider.requests) == 1


# --- the request --------------------------------------------------------------------------------


def test_the_request_goes_to_the_senders_messages_url_with_key_and_json(provider, kaleyra_settings):
    provider.answer(202, json=ACCEPTED)
    send()
    assert len(provider.requests) == 1
    request = provider.requests[0]
    assert request.method == "POST"
    assert request.path == (
        f"/v2/{kaleyra_settings.KALEYRA_SID}/whatsapp/{kaleyra_settings.KALEYRA_SENDER}/messages"
    )
    assert request.headers["api-key"] == TEST_API_KEY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == user_agent()
    assert request.body == BODY


def test_the_client_does_not_retry_a_post_by_itself(provider):
    provider.answer_error("WA500")
    assert send().code == "WA500"
    assert len(provider.requests) == 1


def test_timeouts_come_from_settings(kaleyra_settings):
    kaleyra_settings.KALEYRA_CONNECT_TIMEOUT = 2.5
    kaleyra_settings.KALEYRA_READ_TIMEOUT = 12.0

    async def timeouts():
        client = KaleyraClient(config_from_settings())
        await client.close()
        return client.session.timeout.sock_connect, client.session.timeout.sock_read

    assert asyncio.run(timeouts()) == (2.5, 12.0)


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("in", "api.in.kaleyra.io"),
        ("sg", "api.kaleyra.io"),
        ("eu", "api.eu.kaleyra.io"),
        ("na", "api.na.kaleyra.ai"),
        ("IN", "api.in.kaleyra.io"),
    ],
)
def test_regional_urls(kaleyra_settings, region, host):
    kaleyra_settings.KALEYRA_BASE_URL = ""
    kaleyra_settings.KALEYRA_REGION = region
    config = config_from_settings()
    assert config.base_url == f"https://{host}"
    assert config.messages_url == (
        f"https://{host}/v2/HXAP16TEST97IN/whatsapp/+919000000001/messages"
    )


def test_base_url_setting_overrides_the_region(kaleyra_settings):
    kaleyra_settings.KALEYRA_REGION = "eu"
    kaleyra_settings.KALEYRA_BASE_URL = "https://api.ap.kaleyra.io/"
    config = config_from_settings()
    assert config.base_url == "https://api.ap.kaleyra.io/"
    assert config.messages_url.startswith("https://api.ap.kaleyra.io/v2/")  # no double slash


def test_unknown_region_is_improperly_configured(kaleyra_settings):
    kaleyra_settings.KALEYRA_BASE_URL = ""
    kaleyra_settings.KALEYRA_REGION = "us"
    with pytest.raises(ImproperlyConfigured, match="KALEYRA_REGION"):
        config_from_settings()


def test_missing_sender_is_improperly_configured(kaleyra_settings):
    kaleyra_settings.KALEYRA_SENDER = ""
    with pytest.raises(ImproperlyConfigured, match="KALEYRA_SENDER"):
        config_from_settings()


def test_sandbox_mode_points_at_the_sandbox(settings):
    settings.KALEYRA_MODE = "sandbox"
    settings.KALEYRA_SANDBOX_BASE_URL = "http://127.0.0.1:9999/sandbox"
    settings.KALEYRA_API_KEY = TEST_API_KEY
    settings.KALEYRA_BASE_URL = "https://api.in.kaleyra.io"
    config = config_from_settings()
    assert config.base_url == "http://127.0.0.1:9999/sandbox"
    assert config.api_key == SANDBOX_API_KEY
    assert config.messages_url.startswith("http://127.0.0.1:9999/sandbox/v2/")


def test_repr_of_config_hides_the_key(kaleyra_settings):
    config = config_from_settings()
    assert config.api_key == TEST_API_KEY
    assert TEST_API_KEY not in repr(config)
    assert TEST_API_KEY not in str(config)
    assert TEST_API_KEY not in f"{config!r} {[config]}"
    assert "HXAP16TEST97IN" in repr(config)


def test_results_never_hold_the_key(provider):
    provider.answer_error("RBC001")
    assert TEST_API_KEY not in repr(send())


# --- plain words --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("WA202", "accepted"),
        ("RBC001", "API key"),
        ("WA401", "sender number"),
        ("WA400", "malformed"),
        ("WA500", "3 retries"),
        ("E110", "balance"),
        ("WA-401", "not available"),
        ("WAV2101", "daily"),
        ("timeout", "may or may not have been sent"),
        ("connection", "never left"),
    ],
)
def test_explain_gives_plain_words_for_each_code(code, words):
    explanation = answers.explain(code)
    assert explanation is not None
    assert words in str(explanation)
    assert explanation.action


def test_each_documented_code_has_its_own_explanation():
    codes = ["RBC001", "WA401", "WA400", "WA500", "E110", "WA-401", "WAV2101"]
    explanations = [answers.explain(code) for code in codes]
    assert len(set(explanations)) == len(codes)
    assert answers.TRANSPORT_ANSWERS["unexpected"] not in explanations


def test_unknown_code_or_bare_status_is_explained_as_unexpected():
    assert answers.explain("ZZ999") == answers.TRANSPORT_ANSWERS["unexpected"]
    assert answers.explain("", 503) == answers.TRANSPORT_ANSWERS["unexpected"]


def test_nothing_to_explain():
    assert answers.explain("") is None
    assert answers.explain("", None) is None
