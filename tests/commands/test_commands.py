"""The management commands end to end: `send_campaign` against the sandbox, and `demo`."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from campaigns.models import Campaign, Message, Product, SendAttempt
from tests.support.factories import make_campaign, make_template

ACCEPTED_A = "+919876543210"
ACCEPTED_B = "+447911123456"
WA401_NUMBER = "+919876540401"
US_NUMBER = "+12025550143"


def send(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("send_campaign", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code, err = exc.returncode, io.StringIO(err.getvalue() + str(exc))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def campaign(db):
    return make_campaign()


def test_send_to_numbers_counts_each_outcome(sandbox, campaign):
    numbers = f"{ACCEPTED_A},{ACCEPTED_B},{WA401_NUMBER},{US_NUMBER},{ACCEPTED_A}"
    code, out, err = send(str(campaign.pk), "--to", numbers)

    assert code == 1
    assert out.strip().splitlines()[-1] == "accepted 2, failed 1, skipped 1"
    assert "Removed 1 duplicate" in err
    assert "WA401" in err
    states = dict(Message.objects.values_list("to", "state"))
    assert states == {
        ACCEPTED_A: "accepted",
        ACCEPTED_B: "accepted",
        WA401_NUMBER: "failed",
        US_NUMBER: "skipped",
    }
    assert len(sandbox.requests) == 3


def test_rerun_sends_nothing_new(sandbox, campaign):
    assert send(str(campaign.pk), "--to", f"{ACCEPTED_A},{ACCEPTED_B}")[0] == 0
    code, out, err = send(str(campaign.pk), "--to", f"{ACCEPTED_A},{ACCEPTED_B}")

    assert code == 0
    assert out.strip() == "accepted 0, failed 0, skipped 2"
    assert "already accepted" in err
    assert len(sandbox.requests) == 2
    assert SendAttempt.objects.count() == 2


def test_all_accepted_exits_zero(sandbox, campaign):
    code, out, _ = send(str(campaign.pk), "--to", ACCEPTED_A)
    assert (code, out.strip()) == (0, "accepted 1, failed 0, skipped 0")


def test_csv_overrides_reach_the_payload(sandbox, campaign, tmp_path):
    csv_file = tmp_path / "recipients.csv"
    csv_file.write_text(
        f"phone,header,body_1,ref\n{ACCEPTED_A},basket,Ravi,crm-42\n{ACCEPTED_B},,,\n"
    )
    code, _out, _ = send(str(campaign.pk), "--recipients", str(csv_file))

    assert code == 0
    first = Message.objects.get(to=ACCEPTED_A).attempts_log.get().request_body
    components = first["messaging_object"]["template"]["components"]
    assert components[0]["parameters"][0]["text"] == "basket"
    assert components[1]["parameters"][0]["text"] == "Ravi"
    assert first["extra_info"]["ref"] == "crm-42"
    second = Message.objects.get(to=ACCEPTED_B)
    assert second.attempts_log.get().request_body["extra_info"]["ref"] == f"mpm-{second.pk}"


def test_csv_with_bad_rows_sends_nothing_and_names_the_rows(sandbox, campaign, tmp_path):
    csv_file = tmp_path / "recipients.csv"
    csv_file.write_text(f"phone,body_2\n{ACCEPTED_A},\nnot-a-number,\n{ACCEPTED_B},extra\n")
    code, _out, err = send(str(campaign.pk), "--recipients", str(csv_file))

    assert code == 2
    assert "line 3" in err and "not-a-number" in err
    assert "line 4" in err and "there is no {{2}}" in err
    assert "nothing was sent" in err
    assert not sandbox.requests
    assert not Message.objects.exists()


def test_valid_only_sends_to_the_valid_rows_and_exits_1_naming_the_rest(
    sandbox, campaign, tmp_path
):
    csv_file = tmp_path / "recipients.csv"
    csv_file.write_text(f"phone,body_2\n{ACCEPTED_A},\nnot-a-number,\n{ACCEPTED_B},extra\n")
    code, out, err = send(str(campaign.pk), "--recipients", str(csv_file), "--valid-only")

    assert code == 1
    assert "line 3" in err and "line 4" in err
    assert "2 invalid line(s) were left out (listed above); the rest were sent." in err
    assert out.strip().splitlines()[-1] == "accepted 1, failed 0, skipped 0"
    assert list(Message.objects.values_list("to", flat=True)) == [ACCEPTED_A]


def test_valid_only_with_no_valid_row_exits_2_and_sends_nothing(sandbox, campaign):
    code, _, err = send(str(campaign.pk), "--to", "12345,not-a-number", "--valid-only")
    assert code == 2 and "No valid recipient" in err
    assert not sandbox.requests and not Message.objects.exists()


def test_valid_only_dry_run_prints_the_valid_rows_and_exits_1(sandbox, campaign):
    code, out, err = send(
        str(campaign.pk), "--to", f"{ACCEPTED_A},12345", "--dry-run", "--valid-only"
    )
    assert code == 1
    assert "1 request(s) would be sent" in out and "the rest would be sent" in err
    assert not sandbox.requests and not Message.objects.exists()


def test_csv_extra_columns_are_ignored_with_a_note(sandbox, campaign, tmp_path):
    csv_file = tmp_path / "recipients.csv"
    csv_file.write_text(f"phone;colour\n{ACCEPTED_A};red\n")
    code, out, err = send(str(campaign.pk), "--recipients", str(csv_file))
    assert code == 0 and "Column “colour” ignored" in err
    assert out.strip().splitlines()[-1] == "accepted 1, failed 0, skipped 0"


def test_a_header_only_csv_exits_2_saying_so(sandbox, campaign, tmp_path):
    csv_file = tmp_path / "recipients.csv"
    csv_file.write_text("phone,body_1\n")
    code, _, err = send(str(campaign.pk), "--recipients", str(csv_file))
    assert code == 2 and "The file has no recipients." in err
    assert not sandbox.requests


def test_dry_run_prints_payloads_and_sends_nothing(sandbox, campaign):
    code, out, _ = send(str(campaign.pk), "--to", f"{ACCEPTED_A},{US_NUMBER}", "--dry-run")

    assert code == 0
    assert '"to": "+919876543210"' in out
    assert "1 request(s) would be sent" in out
    assert not sandbox.requests
    assert not Message.objects.exists()


def test_invalid_campaign_exits_2_naming_the_problem(sandbox, db):
    campaign = make_campaign(sections=(("A title that is far too long", 1),))
    code, _, err = send(str(campaign.pk), "--to", ACCEPTED_A)
    assert code == 2
    assert "the limit is 24" in err
    assert not sandbox.requests


def test_unknown_campaign_and_missing_file_exit_2(sandbox, db, tmp_path):
    assert send("999", "--to", ACCEPTED_A)[0] == 2
    campaign = make_campaign(template=make_template(header_text="", body_text="Hello"))
    code, _, err = send(str(campaign.pk), "--recipients", str(tmp_path / "missing.csv"))
    assert code == 2 and "Cannot read" in err


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        ("KALEYRA_SENDER", "", "KALEYRA_SENDER"),
        ("KALEYRA_BASE_URL", "ftp://kaleyra.test", "http"),
        ("KALEYRA_API_KEY", "key\r\nX-Other: 1", "line break"),
    ],
)
def test_bad_kaleyra_settings_exit_2_and_leave_the_campaign_unsent(
    kaleyra_settings, campaign, setting, value, words
):
    setattr(kaleyra_settings, setting, value)

    code, _, err = send(str(campaign.pk), "--to", ACCEPTED_A)

    assert code == 2
    assert words in err
    assert not Message.objects.exclude(state="queued").exists()  # nothing claimed or sent
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.DRAFT


def test_demo_is_idempotent(db, settings, tmp_path):
    settings.BASE_DIR = tmp_path
    out = io.StringIO()
    call_command("demo", stdout=out)
    call_command("demo", stdout=out)

    assert Product.objects.count() >= 40
    assert Campaign.objects.count() == 1
    admin = get_user_model().objects.get(username="admin", is_superuser=True)
    assert list(admin.groups.values_list("name", flat=True)) == ["Marketers"]
    assert out.getvalue().count("Admin login: admin / ") == 1
    assert (tmp_path / "static" / "demo" / "products" / "AUDIO-02.svg").exists()


def test_demo_campaign_is_ready_to_send(sandbox, db, settings, tmp_path):
    settings.BASE_DIR = tmp_path
    call_command("demo", stdout=io.StringIO())
    campaign = Campaign.objects.get()
    code, out, _ = send(str(campaign.pk), "--to", ACCEPTED_A)
    assert (code, out.strip()) == (0, "accepted 1, failed 0, skipped 0")


def test_a_cancelled_campaign_queues_nothing_and_exits_2(sandbox, campaign):
    Campaign.objects.filter(pk=campaign.pk).cancel()
    code, _, err = send(str(campaign.pk), "--to", ACCEPTED_A)
    assert code == 2
    assert "The campaign is cancelled: nothing more can be sent from it" in err
    assert not Message.objects.exists()
    assert not sandbox.requests


def test_no_wait_with_a_retry_pending_names_it_and_exits_3(provider, campaign, settings):
    settings.KALEYRA_WA500_RETRY_DELAYS = [600]
    provider.answer_error("WA500")
    code, out, err = send(str(campaign.pk), "--to", ACCEPTED_A, "--no-wait")
    assert code == 3
    assert (
        "accepted 0, failed 0, skipped 0, waiting for a retry 1 (WA500: 1; next attempt at " in out
    )
    assert "1 message(s) are waiting for a retry" in err
    message = Message.objects.get()
    assert message.state == Message.State.QUEUED and message.attempts == 1


def test_a_run_waiting_for_a_retry_keeps_its_lease_and_sends_it(provider, campaign, settings):
    """The wait beats the heartbeat: with a short lease, a sleep past half of it would end the
    run (its claims others' to settle) instead of sending the retry when due."""
    settings.MPM_HEARTBEAT_LEASE = 0.4
    settings.KALEYRA_WA500_RETRY_DELAYS = [1.5]
    provider.answer_error("WA500")
    provider.answer()
    code, out, _ = send(str(campaign.pk), "--to", ACCEPTED_A)
    assert (code, out.strip().splitlines()[-1]) == (0, "accepted 1, failed 0, skipped 0")
    message = Message.objects.get()
    assert message.state == Message.State.ACCEPTED and message.attempts == 2


def test_every_recipient_accepted_is_the_only_exit_0(provider, campaign):
    provider.answer()
    code, out, _ = send(str(campaign.pk), "--to", ACCEPTED_A, "--no-wait")
    assert (code, out.strip().splitlines()[-1]) == (0, "accepted 1, failed 0, skipped 0")


def test_a_paused_campaign_queues_nothing_without_resume(provider, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(
        state=Campaign.State.PAUSED, paused_reason="E110: low balance."
    )
    code, _, err = send(str(campaign.pk), "--to", ACCEPTED_A)
    assert code == 2
    assert "The campaign is paused (E110: low balance.): nothing was queued" in err
    assert not Message.objects.exists() and not provider.requests


def test_the_waiting_line_names_each_waiting_message_once(provider, campaign, settings):
    """Two WA500 answers for one message (the first retried at once) count it once, by its
    last answer."""
    settings.KALEYRA_WA500_RETRY_DELAYS = [0, 600]
    provider.answer_error("WA500")
    code, out, _ = send(str(campaign.pk), "--to", ACCEPTED_A, "--no-wait")
    assert code == 3
    assert "waiting for a retry 1 (WA500: 1; next attempt at" in out
