"""The offline sandbox: it answers the real client and services exactly as Kaleyra documents."""

import json

import pytest
from django.test import Client

from campaigns.kaleyra import SANDBOX_API_KEY, KaleyraConfig, SendResult, config_from_settings
from campaigns.kaleyra.sandbox.views import TEST_NUMBERS
from campaigns.models import Campaign, Message, MessageTemplate, SendAttempt
from campaigns.payload import build_request, serialize
from campaigns.recipients import RecipientInput, campaign_queue_recipients, normalise_phone
from campaigns.selectors import campaign_content, campaign_for_sending
from campaigns.services import campaign_send, campaign_send_test, run_options
from tests.support.factories import add_section_with, make_campaign, make_product, make_template
from tests.support.provider import send_once

pytestmark = pytest.mark.django_db

ASHA = "+919876543210"
PATH = "/sandbox/v2/SANDBOX/whatsapp/+910000000000/messages"

# What each test-number suffix must answer, from Kaleyra's send page (WAV2101 from its v2 error
# page, which gives no HTTP status; the sandbox uses 429).
EXPECTED_ANSWERS = {
    "9401": (401, "RBC001"),
    "9110": (400, "E110"),
    "0400": (400, "WA400"),
    "0401": (401, "WA401"),
    "0402": (401, "WA-401"),
    "0403": (401, "WA-401"),
    "0500": (500, "WA500"),
    "0502": (502, "unexpected"),
    "9101": (429, "WAV2101"),
}


def number_ending(suffix: str) -> str:
    """A valid Indian mobile number ending in `suffix`."""
    number = f"+91987651{suffix}"
    assert normalise_phone(number) == (number, ""), number
    return number


def body_for(campaign, to=ASHA) -> dict:
    return build_request(campaign_content(campaign_for_sending(campaign.pk)), to)


def sandbox_send(body: bytes, api_key=SANDBOX_API_KEY) -> SendResult:
    base_url = config_from_settings().base_url
    return send_once(
        KaleyraConfig(base_url=base_url, sid="SANDBOX", api_key=api_key, sender="+91"), body
    )


def post(client: Client, body, **headers):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(
        PATH,
        data=data,
        content_type="application/json",
        headers={"api-key": SANDBOX_API_KEY, **headers},
    )


# --- through the services -----------------------------------------------------------------------


def test_a_valid_send_is_accepted_with_a_message_id(sandbox, campaign):
    campaign_queue_recipients(campaign, [RecipientInput(ASHA)])
    summary = campaign_send(campaign)
    assert summary.accepted == 1
    message = Message.objects.get()
    assert message.state == Message.State.ACCEPTED
    assert message.last_code == "WA202"
    assert message.message_id.startswith("SBX")
    assert len(sandbox.requests) == 1


def test_message_ids_are_distinct(sandbox, campaign):
    campaign_queue_recipients(campaign, [RecipientInput(ASHA), RecipientInput("+919876543211")])
    campaign_send(campaign)
    ids = list(Message.objects.values_list("message_id", flat=True))
    assert len(set(ids)) == 2


def test_every_test_number_is_covered_here():
    assert set(TEST_NUMBERS) == set(EXPECTED_ANSWERS)


@pytest.mark.parametrize("suffix", EXPECTED_ANSWERS)
def test_each_test_number_gives_its_documented_answer(sandbox, campaign, suffix):
    result = campaign_send_test(campaign, to=number_ending(suffix))

    status, code = EXPECTED_ANSWERS[suffix]
    message = Message.objects.get()
    attempt = message.attempts_log.get()
    assert (attempt.http_status, message.last_code) == (status, code)
    assert (result.http_status, result.result_code) == (status, code)
    assert message.state == Message.State.FAILED
    if suffix == "9401":
        assert json.loads(attempt.response_body)["data"] == []  # as documented: a list
    if suffix == "0502":
        assert "502 Bad Gateway" in attempt.response_body
    if suffix == "0403":
        assert "phone_number" in attempt.error


def test_a_campaign_send_to_test_numbers_records_each_answer(sandbox, campaign):
    numbers = [number_ending(s) for s in ("0400", "0401", "0500")] + ["+919876543210"]
    campaign_queue_recipients(campaign, [RecipientInput(n) for n in numbers])

    summary = campaign_send(campaign)

    assert (summary.accepted, summary.failed) == (1, 3)
    assert dict(Message.objects.values_list("to", "last_code")) == {
        numbers[0]: "WA400",
        numbers[1]: "WA401",
        numbers[2]: "WA500",
        numbers[3]: "WA202",
    }
    assert Message.objects.get(to=numbers[2]).attempts == 4  # WA500: three retries


@pytest.mark.parametrize("suffix", ["9110", "9101", "9401"])
def test_an_account_error_pauses_once_and_resume_completes_the_campaign(sandbox, campaign, suffix):
    """As with a real account: the operator tops up (or waits a day, or fixes the key) and
    resumes; the message that hit the error goes through, and the good ones behind it too."""
    numbers = [number_ending(suffix), "+919876543210", "+919876543211"]
    campaign_queue_recipients(campaign, [RecipientInput(n) for n in numbers])

    first = campaign_send(campaign, options=run_options(concurrency=1))
    code = EXPECTED_ANSWERS[suffix][1]
    assert first.paused_reason.startswith(code)
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.PAUSED

    again = campaign_send(campaign, resume=True)
    assert again.paused_reason == ""
    assert dict(Message.objects.values_list("to", "state")) == dict.fromkeys(
        numbers, Message.State.ACCEPTED
    )
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.COMPLETED


def test_a_test_send_does_not_use_up_the_campaigns_account_answer(sandbox, campaign):
    number = number_ending("9110")
    assert campaign_send_test(campaign, to=number).code == "E110"
    campaign_queue_recipients(campaign, [RecipientInput(number)])
    summary = campaign_send(campaign)
    assert summary.paused_reason.startswith("E110")  # the real send still meets the answer


def test_no_natural_test_ending_is_an_account_error():
    """0001, 1234, 0000 … are what people type for a test: they must simply be accepted."""
    for natural in ("0001", "0000", "1234", "1111", "9999", "4321"):
        assert natural not in TEST_NUMBERS


def test_test_send_goes_through_the_sandbox(sandbox, campaign):
    result = campaign_send_test(campaign, to=number_ending("9110"))
    assert (result.http_status, result.code) == (400, "E110")
    assert "balance" in result.error


# --- through the client -------------------------------------------------------------------------


def test_a_wrong_api_key_gets_rbc001(sandbox, campaign):
    result = sandbox_send(serialize(body_for(campaign)), api_key="not-the-key")
    assert (result.http_status, result.code) == (401, "RBC001")
    assert result.message == "Incorrect SID or API key."


def test_a_body_that_is_not_json_gets_wa400(sandbox):
    result = sandbox_send(b"{not json")
    assert (result.http_status, result.code) == (400, "WA400")
    assert "not JSON" in result.error["payload"]


def test_a_malformed_body_gets_wa400_naming_the_problem(sandbox, campaign):
    body = body_for(campaign)
    button = body["messaging_object"]["template"]["components"][-1]
    button["index"] = 10
    button["parameters"][0]["action"]["sections"][0]["title"] = "x" * 25
    result = sandbox_send(serialize(body))
    assert (result.http_status, result.code) == (400, "WA400")
    assert result.message == "Refer to correct payload format"
    assert "button_index" in result.error["payload"]
    assert "sections[1].title" in result.error["payload"]


def test_a_number_not_in_e164_gets_wa400(sandbox, campaign):
    result = sandbox_send(serialize(body_for(campaign, to="919876543210")))
    assert result.code == "WA400"
    assert "messaging_object.to" in result.error["payload"]


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"messaging_object": "x"},
        {"messaging_object": {"template": "x"}},
        {"messaging_object": {"template": {"components": "x"}}},
        {"messaging_object": {"template": {"language": "en", "components": []}}},
        {"messaging_object": {"template": {"components": ["x"]}}},
        {
            "messaging_object": {
                "template": {"components": ["x", {"type": "button", "sub_type": "mpm"}]}
            }
        },
        {
            "messaging_object": {
                "template": {
                    "components": [
                        {"type": "header", "parameters": ["x"]},
                        {"type": "body", "parameters": {"type": "text"}},
                        {"type": "header", "parameters": [{"type": "text", "text": ["x"]}]},
                        {"type": "button", "sub_type": "mpm", "parameters": ["x"]},
                    ]
                }
            }
        },
        {
            "messaging_object": {
                "template": {
                    "components": [
                        {
                            "type": "button",
                            "sub_type": "mpm",
                            "index": 0,
                            "parameters": [
                                {"action": {"sections": ["x", {"product_items": ["y"]}]}}
                            ],
                        }
                    ]
                }
            }
        },
    ],
    ids=[
        "list",
        "object-not-dict",
        "template-not-dict",
        "components-not-list",
        "language-not-dict",
        "component-not-dict",
        "component-not-dict-beside-a-button",
        "parameter-not-dict",
        "section-and-item-not-dict",
    ],
)
def test_wrongly_typed_bodies_get_wa400_not_a_crash(sandbox, body):
    result = sandbox_send(json.dumps(body).encode())
    assert (result.http_status, result.code) == (400, "WA400")
    assert result.error["payload"]


def test_wrongly_typed_values_in_a_valid_shape_get_wa400(sandbox, campaign):
    body = body_for(campaign)
    body["messaging_object"]["template"]["name"] = ["abandoned_cart"]
    action = body["messaging_object"]["template"]["components"][-1]["parameters"][0]["action"]
    action["thumbnail_product_retailer_id"] = ["SKU"]
    action["sections"][0]["title"] = 5
    action["sections"][0]["product_items"][0]["product_retailer_id"] = {"id": "SKU"}
    result = sandbox_send(serialize(body))
    assert (result.http_status, result.code) == (400, "WA400")
    for field in ("template.name", "thumbnail_product_retailer_id", "sections[1].title"):
        assert field in result.error["payload"]
    assert "sections[1].products" in result.error["payload"]


@pytest.mark.parametrize(
    "status", [s for s in MessageTemplate.Status if s != MessageTemplate.Status.APPROVED]
)
def test_an_unapproved_template_gets_wa400(sandbox, status):
    campaign = make_campaign(template=make_template(status=status))
    result = sandbox_send(serialize(body_for(campaign)))
    assert result.code == "WA400"
    assert f"template {campaign.template.name} is not approved" in result.error["payload"]


def test_a_template_in_another_language_gets_wa400(sandbox, campaign):
    body = body_for(campaign)
    body["messaging_object"]["template"]["language"]["code"] = "pt_BR"
    result = sandbox_send(serialize(body))
    assert result.code == "WA400"
    assert "not approved" in result.error["payload"]


def test_an_unknown_product_gets_wa400(sandbox):
    campaign = make_campaign(sections=())
    add_section_with(campaign, "Shoes", [make_product(retailer_id="KNOWN-1")])
    body = body_for(campaign)
    action = body["messaging_object"]["template"]["components"][-1]["parameters"][0]["action"]
    action["sections"][0]["product_items"].append({"product_retailer_id": "GHOST-9"})
    action["thumbnail_product_retailer_id"] = "GHOST-1"
    result = sandbox_send(serialize(body))
    assert result.code == "WA400"
    assert "product GHOST-1 is not in the catalog" in result.error["payload"]
    assert "product GHOST-9 is not in the catalog" in result.error["payload"]
    assert "KNOWN-1" not in result.error["payload"]


# --- the endpoint itself ------------------------------------------------------------------------


def test_the_sandbox_is_404_when_sandbox_mode_is_off(settings, campaign):
    settings.KALEYRA_MODE = "live"
    response = post(Client(), body_for(campaign))
    assert response.status_code == 404
    assert not SendAttempt.objects.exists()


@pytest.mark.parametrize("address", ["203.0.113.7", "10.0.0.2", "::ffff:198.51.100.1", ""])
def test_the_sandbox_answers_loopback_only_by_default(settings, campaign, address):
    settings.KALEYRA_MODE = "sandbox"
    response = post(Client(REMOTE_ADDR=address), body_for(campaign))
    assert response.status_code == 404
    assert post(Client(REMOTE_ADDR="::1"), body_for(campaign)).status_code == 202


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded"])
def test_the_sandbox_refuses_requests_that_came_through_a_proxy(settings, campaign, header):
    """Behind nginx on the same machine every visitor arrives from 127.0.0.1."""
    settings.KALEYRA_MODE = "sandbox"
    response = post(Client(), body_for(campaign), **{header: "203.0.113.7"})
    assert response.status_code == 404


def test_the_sandbox_answers_the_networks_it_is_told_to(settings, campaign):
    settings.KALEYRA_MODE = "sandbox"
    settings.MPM_SANDBOX_ALLOWED_IPS = ["10.0.0.0/8"]
    assert post(Client(REMOTE_ADDR="10.1.2.3"), body_for(campaign)).status_code == 202
    assert post(Client(REMOTE_ADDR="127.0.0.1"), body_for(campaign)).status_code == 404


def test_a_bad_sandbox_network_is_a_configuration_error(settings):
    from django.core import checks

    settings.MPM_SANDBOX_ALLOWED_IPS = ["127.0.0.0/8", "localhost"]
    [error] = [m for m in checks.run_checks() if m.id == "campaigns.E001"]
    assert "MPM_SANDBOX_ALLOWED_IPS" in error.msg and "'localhost'" in error.msg


@pytest.mark.django_db(transaction=True)
def test_sandbox_callbacks_go_to_the_configured_site_signed_with_the_sandbox_secret(
    settings, campaign
):
    """The Host header of the request cannot choose where callbacks go, and the production
    callback credentials never leave with them."""
    from campaigns.callbacks.auth import SANDBOX_HEADER, sandbox_token
    from campaigns.kaleyra.sandbox.callbacks import poster
    from tests.support.receiver import Receiver

    settings.KALEYRA_MODE = "sandbox"
    settings.ALLOWED_HOSTS = ["*"]
    settings.MPM_SANDBOX_CALLBACKS = True
    settings.MPM_SANDBOX_CALLBACK_DELAY = 0.01
    settings.KALEYRA_CALLBACK_USERNAME = ["kaleyra"]
    settings.KALEYRA_CALLBACK_PASSWORD = ["production-secret"]
    settings.KALEYRA_CALLBACK_HEADER = "X-Production"
    settings.KALEYRA_CALLBACK_TOKEN = ["production-token"]
    with Receiver() as site, Receiver() as attacker:
        settings.SITE_URL = site.url
        attacker_host = attacker.url.removeprefix("http://")
        response = post(Client(HTTP_HOST=attacker_host), body_for(campaign))
        assert response.status_code == 202
        assert poster().drain(timeout=10)

    assert attacker.requests == []
    assert {r.path for r in site.requests} == {"/callbacks/kaleyra/"}
    for request in site.requests:
        assert request.headers[SANDBOX_HEADER] == sandbox_token()
        assert "Authorization" not in request.headers and "X-Production" not in request.headers
        assert b"production" not in request.body


def test_the_sandbox_secret_is_refused_in_live_mode(settings, client):
    from campaigns.callbacks.auth import SANDBOX_HEADER, sandbox_token

    settings.KALEYRA_MODE = "live"
    settings.KALEYRA_CALLBACK_HEADER = "X-Production"
    settings.KALEYRA_CALLBACK_TOKEN = ["production-token"]
    body = json.dumps({"type": "message", "data": {}})
    headers = {SANDBOX_HEADER: sandbox_token()}
    response = client.post("/callbacks/kaleyra/", body, "application/json", headers=headers)
    assert response.status_code == 401


def test_the_endpoint_needs_no_login_and_no_csrf_token(settings, campaign):
    settings.KALEYRA_MODE = "sandbox"
    assert (
        "django.contrib.auth.middleware.LoginRequiredMiddleware" in settings.MIDDLEWARE
    )  # the check below would be meaningless without it
    response = post(Client(enforce_csrf_checks=True), body_for(campaign))
    assert response.status_code == 202
    assert response.json()["code"] == "WA202"
    assert response.json()["data"]["message_id"]


def test_the_endpoint_only_takes_post(settings):
    settings.KALEYRA_MODE = "sandbox"
    assert Client().get(PATH).status_code == 405
