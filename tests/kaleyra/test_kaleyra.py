"""The Kaleyra client: every documented answer and every broken one becomes the right SendResult."""

import json

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured

from campaigns.kaleyra import (
    SANDBOX_API_KEY,
    USER_AGENT,
    KaleyraClient,
    Outcome,
    answers,
    config_from_settings,
    parse_answer,
)
from tests.conftest import KALEYRA_BASE, TEST_API_KEY

BODY = b'{"messaging_object":{}}'

# Kaleyra's documented answers, word for word from the send page (and WAV2101 from the v2 error
# page, which gives no HTTP status).
ACCEPTED = {
    "code": "WA202",
    "message": "Request Accepted",
    "data": {"message_id": "AXXXXXXXXXXXXXXXXXXX"},
    "error": {},
}
VERSION_MESSAGE = (
    "The phone number you're using is associated with different Version of our WA API. "
    "Please use the appropriate endpoint."
)
ACCOUNT_MESSAGE = "API is not available for given customer.Please contact support for more info"
DOCUMENTED_FAILURES = [
    pytest.param(
        401,
        {
            "code": "RBC001",
            "message": "Incorrect SID or API key.",
            "data": [],
            "error": {"error": "Incorrect SID or API key."},
        },
        id="401-RBC001",
    ),
    pytest.param(
        401,
        {
            "code": "WA401",
            "message": "Phone number is not present or does not belong to the account.",
            "data": {},
            "error": {
                "phone_number": "Phone number is not present or does not belong to the account."
            },
        },
        id="401-WA401",
    ),
    pytest.param(
        400,
        {
            "code": "WA400",
            "message": "Refer to correct payload format",
            "data": {},
            "error": {"payload": "Incorrect payload format"},
        },
        id="400-WA400",
    ),
    pytest.param(
        500,
        {
            "code": "WA500",
            "message": "Please try again later",
            "data": {},
            "error": {"error": "Internal server error"},
        },
        id="500-WA500",
    ),
    pytest.param(
        400,
        {
            "code": "E110",
            "message": "Please check your balance, You have a low balance!",
            "data": {},
            "error": {"balance": "Please check your balance, You have a low balance!"},
        },
        id="400-E110",
    ),
    pytest.param(
        401,
        {
            "code": "WA-401",
            "message": ACCOUNT_MESSAGE,
            "data": {},
            "error": {"account": ACCOUNT_MESSAGE},
        },
        id="401-WA-401-account",
    ),
    pytest.param(
        401,
        {
            "code": "WA-401",
            "message": VERSION_MESSAGE,
            "data": {},
            "error": {"phone_number": VERSION_MESSAGE},
        },
        id="401-WA-401-version",
    ),
    pytest.param(
        429,
        {
            "code": "WAV2101",
            "message": "Daily limit reached",
            "data": {},
            "error": {"account": "Daily limit reached"},
        },
        id="429-WAV2101",
    ),
    pytest.param(
        400,
        {
            "code": "WAV2101",
            "message": "Daily limit reached",
            "data": {},
            "error": {"account": "Daily limit reached"},
        },
        id="400-WAV2101",
    ),
]


@pytest.fixture
def client(provider):
    client = KaleyraClient(config_from_settings())
    yield client
    client.close()


# --- documented answers -------------------------------------------------------------------------


def test_202_wa202_is_accepted_with_its_message_id(provider, client):
    provider.answer(202, json=ACCEPTED)
    result = client.send(BODY)
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
def test_documented_failures_are_rejections_with_code_message_and_error(
    provider, client, status, answer
):
    provider.answer(status, json=answer)
    result = client.send(BODY)
    assert result.outcome is Outcome.REJECTED
    assert not result.accepted
    assert result.http_status == status
    assert result.code == answer["code"]
    assert result.result_code == answer["code"]
    assert result.message == answer["message"]
    assert result.error == answer["error"]
    assert result.message_id == ""
    assert json.loads(result.response_body) == answer


# --- undocumented answers -----------------------------------------------------------------------


def test_503_json_without_code_is_unexpected(provider, client):
    provider.answer(503, json={"message": "Service Unavailable"})
    result = client.send(BODY)
    assert result.outcome is Outcome.UNEXPECTED
    assert result.http_status == 503
    assert result.code == ""
    assert result.message == "Service Unavailable"
    assert result.result_code == "unexpected"


def test_html_502_is_unexpected_with_its_body_recorded(provider, client):
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    provider.answer(502, body=html, content_type="text/html")
    result = client.send(BODY)
    assert result.outcome is Outcome.UNEXPECTED
    assert result.http_status == 502
    assert result.code == ""
    assert result.response_body == html
    assert result.result_code == "unexpected"


def test_very_long_body_is_recorded_cut(provider, client):
    provider.answer(502, body="x" * 10_000, content_type="text/html")
    result = client.send(BODY)
    assert result.response_body == "x" * 4000


def test_200_without_message_id_is_unexpected(provider, client):
    provider.answer(200, json={"code": "WA202", "message": "Request Accepted", "data": {}})
    result = client.send(BODY)
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


def test_a_timeout_may_have_been_sent_and_a_refused_connection_not(provider, client):
    provider.answer(body=requests.ReadTimeout("read timed out"))
    provider.answer(body=requests.ConnectionError("refused"))
    assert client.send(BODY).may_have_been_sent is True
    assert client.send(BODY).may_have_been_sent is False


def test_json_list_answer_is_unexpected():
    result = parse_answer(400, b'["no"]')
    assert result.outcome is Outcome.UNEXPECTED
    assert result.response_body == '["no"]'


def test_undecodable_bytes_never_raise():
    result = parse_answer(500, b"\xff\xfe broken")
    assert result.outcome is Outcome.UNEXPECTED
    assert "broken" in result.response_body


def test_read_timeout_is_a_timeout(provider, client):
    provider.answer(body=requests.ReadTimeout("read timed out"))
    result = client.send(BODY)
    assert result.outcome is Outcome.TIMEOUT
    assert result.http_status is None
    assert result.result_code == "timeout"


@pytest.mark.parametrize(
    "error",
    [requests.ConnectTimeout("connect timed out"), requests.ConnectionError("refused")],
    ids=["connect-timeout", "connection-error"],
)
def test_connection_failures_are_connection(provider, client, error):
    provider.answer(body=error)
    result = client.send(BODY)
    assert result.outcome is Outcome.CONNECTION
    assert result.http_status is None
    assert result.result_code == "connection"


def test_connection_dropped_after_sending_may_have_been_sent(provider, client):
    provider.answer(
        body=requests.ConnectionError(
            "('Connection aborted.', RemoteDisconnected('Remote end closed connection'))"
        )
    )
    assert client.send(BODY).outcome is Outcome.TIMEOUT


# --- the request --------------------------------------------------------------------------------


def test_the_request_goes_to_the_senders_messages_url_with_key_and_json(
    provider, client, kaleyra_settings
):
    provider.answer(202, json=ACCEPTED)
    client.send(BODY)
    assert len(provider.requests) == 1
    request = provider.requests[0].request
    assert request.method == "POST"
    assert request.url == (
        f"{KALEYRA_BASE}/v2/{kaleyra_settings.KALEYRA_SID}/whatsapp/"
        f"{kaleyra_settings.KALEYRA_SENDER}/messages"
    )
    assert request.headers["api-key"] == TEST_API_KEY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.body == BODY


def test_the_client_does_not_retry_a_post_by_itself(provider, client):
    provider.answer(500, json=DOCUMENTED_FAILURES[3].values[1])
    client.send(BODY)
    assert len(provider.requests) == 1


def test_timeouts_come_from_settings(provider, kaleyra_settings):
    kaleyra_settings.KALEYRA_CONNECT_TIMEOUT = 2.5
    kaleyra_settings.KALEYRA_READ_TIMEOUT = 12.0
    provider.answer(202, json=ACCEPTED)
    KaleyraClient(config_from_settings()).send(BODY)
    assert provider.requests[0].request.req_kwargs["timeout"] == (2.5, 12.0)


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
    settings.KALEYRA_SANDBOX = True
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


def test_results_never_hold_the_key(provider, client):
    provider.answer(401, json=DOCUMENTED_FAILURES[0].values[1])
    assert TEST_API_KEY not in repr(client.send(BODY))


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
