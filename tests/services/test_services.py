"""The send pipeline against a mocked Kaleyra: what is queued, sent, recorded, and never leaked."""

import json
import logging

import pytest

from campaigns.kaleyra import documented
from campaigns.kaleyra.answers import explain
from campaigns.models import Campaign, Message, MessageTemplate, OptOut, SendAttempt
from campaigns.recipients import RecipientInput, campaign_queue_recipients, recipients_from_numbers
from campaigns.services import (
    CampaignNotRunnable,
    CampaignNotSendable,
    campaign_send,
    campaign_send_test,
    campaign_start,
    run_options,
)
from campaigns.tasks import send_campaign_task
from tests.conftest import TEST_API_KEY
from tests.support.factories import make_campaign, make_message, make_template
from tests.support.provider import refused_url

pytestmark = pytest.mark.django_db

ACCEPTED = documented.accepted("AXXXXXXXXXXXXXXXXXXX")
ASHA = "+919876543210"
RAVI = "+919876543211"
US_NUMBER = "+12015550123"
CANADIAN = "+14165550123"


def queue(campaign, *numbers, **kwargs):
    return campaign_queue_recipients(
        campaign, [RecipientInput(n, line=i) for i, n in enumerate(numbers, start=1)], **kwargs
    )


def sent_bodies(provider) -> list[dict]:
    return [request.json() for request in provider.requests]


def everything_stored() -> str:
    """Every field of every Message and SendAttempt, as text."""
    rows = []
    for model in (Message, SendAttempt):
        for row in model.objects.all():
            rows.append(
                repr({f.attname: getattr(row, f.attname) for f in model._meta.concrete_fields})
            )
    return "\n".join(rows)


# --- accepted -----------------------------------------------------------------------------------


def test_accepted_message_is_recorded_with_its_attempt(provider, campaign, caplog):
    caplog.set_level(logging.DEBUG)

    provider.answer(202, json=ACCEPTED, delay=0.02)
    assert queue(campaign, ASHA).queued == 1

    summary = campaign_send(campaign)

    assert (summary.accepted, summary.failed, summary.unknown) == (1, 0, 0)
    message = Message.objects.get()
    assert message.state == Message.State.ACCEPTED
    assert message.message_id == "AXXXXXXXXXXXXXXXXXXX"
    assert message.last_code == "WA202"
    assert message.detail == ""
    assert message.attempts == 1
    attempt = SendAttempt.objects.get()
    assert attempt.message == message
    assert attempt.request_body == sent_bodies(provider)[0]
    assert attempt.request_body["messaging_object"]["to"] == ASHA
    assert attempt.http_status == 202
    assert attempt.code == "WA202"
    assert attempt.provider_message_id == "AXXXXXXXXXXXXXXXXXXX"
    assert json.loads(attempt.response_body) == ACCEPTED
    assert attempt.duration_ms >= 20
    # The key went out in the header, and nowhere else.
    assert provider.requests[0].headers["api-key"] == TEST_API_KEY
    assert TEST_API_KEY not in everything_stored()
    assert TEST_API_KEY not in caplog.text


def test_campaign_send_sends_each_queued_recipient_once(provider, campaign):
    provider.answer(202, json=ACCEPTED)
    queue(campaign, ASHA, RAVI)
    summary = campaign_send(campaign)
    assert summary.accepted == 2
    assert sorted(b["messaging_object"]["to"] for b in sent_bodies(provider)) == [ASHA, RAVI]
    campaign.refresh_from_db()
    assert campaign.state == campaign.State.COMPLETED


# --- failures -----------------------------------------------------------------------------------


def answer_for(name: str):
    """(status, body) of one of Kaleyra's documented failures."""
    return documented.ERRORS[name]


FINAL_ANSWERS = ["WA401", "WA400", "WA-401 account", "WA-401 version"]
PAUSE_CODES = ["RBC001", "E110", "WAV2101"]


@pytest.mark.parametrize(
    ("status", "answer"),
    [pytest.param(*documented.ERRORS[name], id=name) for name in FINAL_ANSWERS],
)
def test_final_failure_is_recorded_in_plain_words(provider, campaign, caplog, status, answer):
    caplog.set_level(logging.DEBUG)
    provider.answer(status, json=answer)
    queue(campaign, ASHA)

    summary = campaign_send(campaign)

    assert (summary.accepted, summary.failed) == (0, 1)
    assert summary.codes == {answer["code"]: 1}
    message = Message.objects.get()
    assert message.state == Message.State.FAILED
    assert message.last_code == answer["code"]
    assert message.message_id == ""
    assert answer["message"] in message.detail
    assert explain(answer["code"]).meaning in message.detail
    assert explain(answer["code"]).action in message.detail
    attempt = SendAttempt.objects.get()
    assert (attempt.http_status, attempt.code) == (status, answer["code"])
    assert attempt.error == answer["error"]
    assert attempt.message_text == answer["message"]
    assert len(provider.requests) == 1  # 4xx answers are final: no retry
    assert TEST_API_KEY not in everything_stored()
    assert TEST_API_KEY not in caplog.text


@pytest.mark.parametrize("code", PAUSE_CODES)
def test_account_wide_answer_pauses_the_campaign(provider, campaign, code):
    status, answer = answer_for(code)
    provider.answer(status, json=answer)
    queue(campaign, ASHA, RAVI)

    # One request in flight at a time: after the account-wide answer nothing new leaves.
    summary = campaign_send(campaign, options=run_options(concurrency=1))

    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.PAUSED
    assert campaign.paused_reason.startswith(code)
    assert summary.paused_reason.startswith(code)
    assert len(provider.requests) == 1  # the second recipient was not tried
    assert set(Message.objects.values_list("state", flat=True)) == {Message.State.QUEUED}
    assert SendAttempt.objects.get().code == code
    with pytest.raises(CampaignNotRunnable, match="paused"):
        campaign_send(campaign)

    provider.reset()
    provider.answer(202, json=ACCEPTED)
    resumed = campaign_send(campaign, resume=True)

    assert resumed.accepted == 2
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.COMPLETED
    assert campaign.paused_reason == ""


def test_wa500_is_retried_three_times_then_fails(provider, campaign):
    status, answer = answer_for("WA500")
    provider.answer(status, json=answer)
    queue(campaign, ASHA)

    summary = campaign_send(campaign)

    assert (summary.failed, summary.retrying) == (1, 3)
    message = Message.objects.get()
    assert (message.state, message.attempts) == (Message.State.FAILED, 4)
    assert len(provider.requests) == 4
    assert list(SendAttempt.objects.values_list("code", flat=True)) == ["WA500"] * 4
    # A final failure says final things: not "retry later" once the retries are spent.
    assert "Failed for good after 4 attempts" in message.detail
    assert "Retry later" not in message.detail


def test_wa500_then_success_is_accepted(provider, campaign):
    status, answer = answer_for("WA500")
    provider.answer(status, json=answer)
    provider.answer(202, json=ACCEPTED)
    queue(campaign, ASHA)

    summary = campaign_send(campaign)

    assert summary.accepted == 1
    message = Message.objects.get()
    assert (message.state, message.attempts) == (Message.State.ACCEPTED, 2)


def test_wa500_retry_waits_for_its_time(provider, campaign, settings):
    settings.KALEYRA_WA500_RETRY_DELAYS = [600]
    status, answer = answer_for("WA500")
    provider.answer(status, json=answer)
    queue(campaign, ASHA)

    summary = campaign_send(campaign, options=run_options(wait_for_retries=False))

    assert summary.retrying == 1
    message = Message.objects.get()
    assert message.state == Message.State.QUEUED
    assert 590 < (message.next_attempt_at - message.updated_at).total_seconds() <= 600
    assert campaign_send(campaign, options=run_options(wait_for_retries=False)).done == 0
    assert len(provider.requests) == 1  # not due yet


def test_html_502_is_a_failure_with_the_body_kept(provider, campaign):
    provider.answer(502, body="<html>Bad Gateway</html>", content_type="text/html")
    queue(campaign, ASHA)
    campaign_send(campaign)
    message = Message.objects.get()
    assert message.state == Message.State.FAILED
    assert message.last_code == "unexpected"
    assert "does not document" in message.detail
    assert SendAttempt.objects.get().response_body == "<html>Bad Gateway</html>"


def test_refused_connection_is_retried_with_backoff_then_fails(provider, campaign, settings):
    settings.MPM_CONNECT_MAX_RETRIES = 2
    settings.KALEYRA_BASE_URL = refused_url()
    queue(campaign, ASHA)
    campaign_send(campaign)
    message = Message.objects.get()
    assert (message.state, message.attempts) == (Message.State.FAILED, 3)
    assert message.last_code == "connection"
    assert list(SendAttempt.objects.values_list("http_status", flat=True)) == [None] * 3
    assert "KALEYRA_REGION / KALEYRA_BASE_URL" in message.detail


def test_a_refused_sandbox_names_the_sandbox_setting(db, settings, campaign):
    settings.KALEYRA_MODE = "sandbox"
    settings.KALEYRA_SANDBOX_BASE_URL = refused_url()
    settings.MPM_CONNECT_MAX_RETRIES = 0
    queue(campaign, ASHA)
    campaign_send(campaign)
    message = Message.objects.get()
    assert message.state == Message.State.FAILED
    assert "KALEYRA_SANDBOX_BASE_URL" in message.detail
    assert "KALEYRA_BASE_URL" not in message.detail.replace("KALEYRA_SANDBOX_BASE_URL", "")


def test_timeout_leaves_the_message_unknown(provider, campaign, settings):
    settings.KALEYRA_READ_TIMEOUT = 0.2
    provider.hang()
    queue(campaign, ASHA)
    summary = campaign_send(campaign)
    assert (summary.unknown, summary.failed) == (1, 0)
    message = Message.objects.get()
    assert message.state == Message.State.UNKNOWN
    assert message.last_code == "timeout"
    assert "may or may not have been sent" in message.detail


def test_2xx_without_message_id_is_unknown_not_failed(provider, campaign):
    # Kaleyra took the request; marking it failed would send it again on the next run.
    provider.answer(202, json={"code": "WA202", "message": "Request Accepted", "data": {}})
    queue(campaign, ASHA)
    summary = campaign_send(campaign)
    assert (summary.unknown, summary.failed) == (1, 0)
    assert Message.objects.get().state == Message.State.UNKNOWN
    report = queue(campaign, ASHA)
    assert (report.queued, report.unknown_kept) == (0, 1)


# --- reruns -------------------------------------------------------------------------------------


def test_rerun_after_success_queues_and_sends_nothing(provider, campaign):
    provider.answer(202, json=ACCEPTED)
    queue(campaign, ASHA)
    campaign_send(campaign)
    assert len(provider.requests) == 1

    report = queue(campaign, ASHA)
    assert (report.queued, report.already_accepted) == (0, 1)
    summary = campaign_send(campaign)
    assert summary.total == 0
    assert len(provider.requests) == 1
    assert Message.objects.get().state == Message.State.ACCEPTED


def test_failed_messages_are_requeued_on_rerun(provider, campaign):
    provider.answer(*answer_for("WA400"))
    queue(campaign, ASHA, RAVI)
    campaign_send(campaign)
    assert set(Message.objects.values_list("state", flat=True)) == {Message.State.FAILED}

    provider.reset()
    provider.answer(202, json=ACCEPTED)
    report = queue(campaign, ASHA, RAVI)
    assert report.queued == 2
    summary = campaign_send(campaign)
    assert summary.accepted == 2
    assert len(provider.requests) == 4
    assert list(Message.objects.values_list("state", "attempts")) == [
        (Message.State.ACCEPTED, 2),
        (Message.State.ACCEPTED, 2),
    ]
    assert SendAttempt.objects.count() == 4


def test_unknown_messages_are_kept_unless_resend_unknown(provider, campaign, settings):
    settings.KALEYRA_READ_TIMEOUT = 0.2
    provider.hang()
    queue(campaign, ASHA)
    campaign_send(campaign)

    report = queue(campaign, ASHA)
    assert (report.queued, report.unknown_kept) == (0, 1)
    assert Message.objects.get().state == Message.State.UNKNOWN
    campaign_send(campaign)
    assert len(provider.requests) == 1

    report = queue(campaign, ASHA, resend_unknown=True)
    assert (report.queued, report.unknown_kept) == (1, 0)
    provider.reset()
    provider.answer(202, json=ACCEPTED)
    campaign_send(campaign)
    assert len(provider.requests) == 2
    assert Message.objects.get().state == Message.State.ACCEPTED


# --- queueing -----------------------------------------------------------------------------------


def test_an_invalid_recipient_queues_nothing_and_names_its_line(provider, campaign):
    report = campaign_queue_recipients(
        campaign, recipients_from_numbers(f"{ASHA}\n98765 43211\n{RAVI}")
    )
    assert report.queued == 0
    assert [(line, raw) for line, raw, _ in report.invalid] == [(2, "98765 43211")]
    assert "country code" in report.invalid[0][2]
    assert not Message.objects.exists()
    campaign_send(campaign)
    assert len(provider.requests) == 0


def test_a_recipient_with_bad_values_is_invalid(campaign):
    report = campaign_queue_recipients(
        campaign, [RecipientInput(ASHA, {"body_1": "two\nlines"}, line=4)]
    )
    assert [(line, raw) for line, raw, _ in report.invalid] == [(4, ASHA)]
    assert "body_1" in report.invalid[0][2]
    assert not Message.objects.exists()


def test_duplicates_are_reported_and_queued_once(campaign):
    report = queue(campaign, ASHA, "0091 98765 43210", RAVI)
    assert report.queued == 2
    assert report.duplicates == [ASHA]
    assert sorted(Message.objects.values_list("to", flat=True)) == [ASHA, RAVI]


def test_per_recipient_overrides_are_stored_and_sent(provider, campaign):
    provider.answer(202, json=ACCEPTED)
    campaign_queue_recipients(
        campaign, [RecipientInput(ASHA, {"body_1": "Asha", "ref": "row-1", "ref1": ""}, line=1)]
    )
    assert Message.objects.get().overrides == {"body_1": "Asha", "ref": "row-1"}
    campaign_send(campaign)
    body = sent_bodies(provider)[0]
    components = body["messaging_object"]["template"]["components"]
    assert components[1]["parameters"] == [{"type": "text", "text": "Asha"}]
    assert body["extra_info"]["ref"] == "row-1"


def test_long_ref_override_is_a_warning_not_invalid(campaign):
    report = campaign_queue_recipients(campaign, [RecipientInput(ASHA, {"ref": "r" * 256}, line=3)])
    assert report.queued == 1
    assert report.invalid == []
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("line 3:")


def test_us_number_is_skipped_with_a_reason_when_the_setting_is_on(provider, campaign, settings):
    settings.MPM_SKIP_US_RECIPIENTS = True
    provider.answer(202, json=ACCEPTED)
    report = queue(campaign, US_NUMBER, CANADIAN)
    assert report.queued == 1
    assert [number for number, _ in report.skipped] == [US_NUMBER]
    assert "US" in report.skipped[0][1]
    skipped = Message.objects.get(to=US_NUMBER)
    assert skipped.state == Message.State.SKIPPED
    assert "2025-04-01" in skipped.detail

    assert report.skipped_count == 1
    assert campaign_send(campaign).accepted == 1
    assert [b["messaging_object"]["to"] for b in sent_bodies(provider)] == [CANADIAN]
    assert Message.objects.get(to=US_NUMBER).state == Message.State.SKIPPED


def test_us_number_is_sent_when_the_setting_is_off(provider, campaign, settings):
    settings.MPM_SKIP_US_RECIPIENTS = False
    provider.answer(202, json=ACCEPTED)
    report = queue(campaign, US_NUMBER)
    assert (report.queued, report.skipped) == (1, [])
    campaign_send(campaign)
    assert [b["messaging_object"]["to"] for b in sent_bodies(provider)] == [US_NUMBER]


def test_us_number_is_not_skipped_for_a_utility_template(provider, settings):
    settings.MPM_SKIP_US_RECIPIENTS = True
    campaign = make_campaign(template=make_template(category=MessageTemplate.Category.UTILITY))
    assert queue(campaign, US_NUMBER).skipped == []


# --- unsendable campaigns -----------------------------------------------------------------------


def test_invalid_campaign_raises_with_every_problem_and_sends_nothing(provider):
    campaign = make_campaign(
        template=make_template(status=MessageTemplate.Status.PAUSED),
        thumbnail_product=None,
        sections=(("x" * 25, 1),),
    )
    queue(campaign, ASHA)
    with pytest.raises(CampaignNotSendable) as caught:
        campaign_send(campaign)
    assert {p.field for p in caught.value.problems} == {
        "template",
        "thumbnail_product",
        "sections[1].title",
    }
    assert len(provider.requests) == 0
    assert Message.objects.get().state == Message.State.QUEUED
    assert not SendAttempt.objects.exists()


def test_warnings_alone_do_not_stop_a_send(provider):
    provider.answer(202, json=ACCEPTED)
    campaign = make_campaign(ref="r" * 300)
    queue(campaign, ASHA)
    assert campaign_send(campaign).accepted == 1
    assert sent_bodies(provider)[0]["extra_info"]["ref"] == "r" * 255


# --- test sends ---------------------------------------------------------------------------------


def test_test_send_is_recorded_apart_and_does_not_block_the_real_send(provider, campaign):
    provider.answer(202, json=ACCEPTED)
    result = campaign_send_test(campaign, to="+91 98765 43210")
    assert result.accepted
    test_message = Message.objects.get()
    assert test_message.is_test
    assert test_message.to == ASHA
    assert test_message.state == Message.State.ACCEPTED
    assert test_message.attempts_log.count() == 1

    report = queue(campaign, ASHA)
    assert (report.queued, report.already_accepted) == (1, 0)
    assert campaign_send(campaign).accepted == 1
    assert len(provider.requests) == 2
    real = Message.objects.get(is_test=False)
    assert real.to == ASHA
    assert real.state == Message.State.ACCEPTED


def test_test_send_can_repeat(provider, campaign):
    provider.answer(202, json=ACCEPTED)
    campaign_send_test(campaign, to=ASHA)
    campaign_send_test(campaign, to=ASHA)
    assert Message.objects.filter(is_test=True, to=ASHA).count() == 2


def test_test_send_to_an_invalid_number_sends_nothing(provider, campaign):
    with pytest.raises(CampaignNotSendable) as caught:
        campaign_send_test(campaign, to="98765 43210")
    assert [p.field for p in caught.value.problems] == ["to"]
    assert len(provider.requests) == 0
    assert not Message.objects.exists()


def test_test_send_to_an_opted_out_number_is_refused_in_plain_words(provider, campaign):
    OptOut.objects.create(phone=ASHA, reason=OptOut.Reason.META_131050)
    with pytest.raises(CampaignNotSendable) as caught:
        campaign_send_test(campaign, to="+91 98765 43210")
    [problem] = caught.value.problems
    assert problem.field == "to"
    assert problem.message.startswith("Not sent: this number opted out on ")
    assert "131050" in problem.message
    assert len(provider.requests) == 0 and not Message.objects.exists()


def test_test_send_honours_the_us_rule(provider, campaign, settings):
    settings.MPM_SKIP_US_RECIPIENTS = True
    with pytest.raises(CampaignNotSendable, match="US"):
        campaign_send_test(campaign, to=US_NUMBER)
    assert len(provider.requests) == 0
    settings.MPM_SKIP_US_RECIPIENTS = False
    provider.answer()
    assert campaign_send_test(campaign, to=US_NUMBER).accepted


def test_test_send_is_not_held_back_by_the_frequency_cap(provider, campaign, settings):
    settings.MPM_FREQUENCY_CAP_HOURS = 24
    provider.answer()
    other = make_campaign()
    make_message(other, ASHA)  # a marketing message an hour ago would cap a real send
    assert queue(campaign, ASHA).skipped_count == 1
    assert campaign_send_test(campaign, to=ASHA).accepted
    assert len(provider.requests) == 1


def test_test_send_never_pauses_the_campaign_nor_retries(provider, campaign):
    provider.answer(*answer_for("E110"))
    result = campaign_send_test(campaign, to=ASHA)
    assert not result.accepted and result.code == "E110"
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.DRAFT
    message = Message.objects.get()
    assert (message.is_test, message.state, message.attempts) == (True, Message.State.FAILED, 1)
    assert len(provider.requests) == 1


def test_test_send_of_an_invalid_campaign_sends_nothing(provider):
    campaign = make_campaign(thumbnail_product=None)
    with pytest.raises(CampaignNotSendable):
        campaign_send_test(campaign, to=ASHA)
    assert len(provider.requests) == 0


# --- refs ---------------------------------------------------------------------------------------


def test_ref_carries_the_message_id_when_the_campaign_leaves_it_empty(provider, campaign):
    provider.answer(202, json=ACCEPTED)
    queue(campaign, ASHA, RAVI)
    campaign_send(campaign)
    refs = {b["messaging_object"]["to"]: b["extra_info"]["ref"] for b in sent_bodies(provider)}
    messages = {m.to: m.pk for m in Message.objects.all()}
    assert refs == {ASHA: f"mpm-{messages[ASHA]}", RAVI: f"mpm-{messages[RAVI]}"}
    for attempt in SendAttempt.objects.all():
        assert attempt.request_body["extra_info"]["ref"] == f"mpm-{attempt.message_id}"


def test_ref_is_the_campaigns_own_when_set(provider):
    provider.answer(202, json=ACCEPTED)
    campaign = make_campaign(ref="spring-sale", ref1="marketing")
    queue(campaign, ASHA)
    campaign_send(campaign)
    assert sent_bodies(provider)[0]["extra_info"] == {
        "ref": "spring-sale",
        "ref1": "marketing",
        "wa_source": "api",
    }


def test_test_send_ref_carries_its_own_message_id(provider, campaign):
    provider.answer(202, json=ACCEPTED)
    campaign_send_test(campaign, to=ASHA)
    assert sent_bodies(provider)[0]["extra_info"]["ref"] == f"mpm-{Message.objects.get().pk}"


# --- Kaleyra settings that cannot send ------------------------------------------------------------


def test_a_test_send_without_a_sender_setting_says_so_and_records_nothing(kaleyra_settings):
    kaleyra_settings.KALEYRA_SENDER = ""
    campaign = make_campaign()
    with pytest.raises(CampaignNotSendable) as caught:
        campaign_send_test(campaign, to=ASHA)
    assert [p.field for p in caught.value.problems] == ["settings"]
    assert "KALEYRA_SENDER" in str(caught.value)
    assert not Message.objects.exists()


def test_a_send_with_an_unusable_url_never_starts_the_campaign(kaleyra_settings, campaign):
    kaleyra_settings.KALEYRA_BASE_URL = "kaleyra.test"  # no scheme
    queue(campaign, ASHA)
    with pytest.raises(CampaignNotRunnable, match="Sending is not configured"):
        campaign_send(campaign)
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.DRAFT
    assert Message.objects.get().state == Message.State.QUEUED


@pytest.mark.parametrize(
    ("setting", "value"),
    [("KALEYRA_SENDER", ""), ("KALEYRA_REGION", "mars"), ("KALEYRA_API_KEY", "k\nX: 1")],
)
def test_the_system_check_refuses_live_settings_that_cannot_send(kaleyra_settings, setting, value):
    from django.core import checks

    assert "campaigns.E002" not in [m.id for m in checks.run_checks()]
    setattr(kaleyra_settings, setting, value)
    if setting == "KALEYRA_REGION":
        kaleyra_settings.KALEYRA_BASE_URL = ""
    errors = [m for m in checks.run_checks() if m.id == "campaigns.E002"]
    assert len(errors) == 1 and errors[0].msg.startswith("Nothing can be sent:")
    assert errors[0].is_serious()


# --- the background task ------------------------------------------------------------------------


def test_the_send_task_comes_back_for_a_wa500_retry_when_its_backend_can_wait(
    provider, campaign, settings
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    settings.KALEYRA_WA500_RETRY_DELAYS = [600]
    provider.answer(*answer_for("WA500"))
    queue(campaign, ASHA)
    campaign_start(campaign)

    line = send_campaign_task.call(campaign.pk)

    assert line.startswith(
        "accepted 0, failed 0, skipped 0, waiting for a retry 1 (WA500: 1; next attempt at "
    )
    [later] = send_campaign_task.get_backend().results
    assert later.args == [campaign.pk]
    assert later.task.run_after == Message.objects.get().next_attempt_at


def test_the_send_task_with_a_backend_that_cannot_wait_leaves_the_retry_queued(
    provider, campaign, settings
):
    settings.KALEYRA_WA500_RETRY_DELAYS = [600]  # the tests' immediate backend cannot defer
    provider.answer(*answer_for("WA500"))
    queue(campaign, ASHA)
    campaign_start(campaign)

    line = send_campaign_task.call(campaign.pk)
    assert line.startswith("accepted 0, failed 0, skipped 0, waiting for a retry 1 (WA500: 1; ")
    assert Message.objects.get().state == Message.State.QUEUED
    assert len(provider.requests) == 1
