"""Callbacks matched to senders by business number: a throughput signal slows the sender it names
(or the one its message went out from), and a callback for a number that is none of ours is
applied, recorded on its inbox row and counted, never a 500."""

import time

import pytest
from django.core.management import call_command

from campaigns.callbacks import apply_pending_callbacks
from campaigns.kaleyra.sandbox import envelopes
from campaigns.models import CallbackInbox, Message, Reply, SenderPacing, StatusEvent
from campaigns.sending.pacing import current_pacing_factor
from tests.callbacks.test_callbacks import ASHA, callback_settings, deliver, post, state
from tests.support.callbacks import meta_error, v2_incoming, v2_status
from tests.support.factories import make_campaign, make_message, make_sender

__all__ = ["callback_settings"]  # the autouse fixture: live mode, a callback secret

pytestmark = pytest.mark.django_db
BRAND_A, BRAND_B, STRANGER = "+919000000001", "+919000000002", "+919111111111"


@pytest.fixture
def senders():
    return make_sender(business_number=BRAND_A, is_default=True), make_sender(
        business_number=BRAND_B
    )


def status_for(number: str, status: str, **fields):
    """A v2 status callback posted for the business number `number`."""
    body = v2_status(status, **fields)
    body["meta_object"]["value"]["metadata"] = envelopes.metadata(number.lstrip("+"))
    return body


def test_a_throughput_signal_slows_only_the_sender_it_names(client, senders):
    campaign = make_campaign(sender=senders[1])
    make_message(campaign, ASHA, message_id="KAL-1")
    now = str(int(time.time()))
    counts = deliver(
        client, status_for(BRAND_B, "failed", message_id="KAL-1", ts=now, errors=meta_error(130429))
    )
    assert current_pacing_factor(BRAND_B) == 0.5
    assert current_pacing_factor(BRAND_A) == 1.0
    assert "unknown_sender" not in counts
    assert CallbackInbox.objects.get().problem == ""


def test_a_signal_without_a_number_slows_the_sender_its_campaign_went_out_from(client, senders):
    campaign = make_campaign(sender=senders[1])
    make_message(campaign, ASHA, message_id="KAL-9")
    fields = {
        "id": "KAL-9",
        "status": "failed",
        "mobile": ASHA.lstrip("+"),
        "error_code": "130429",
        "timestamp": str(int(time.time())),
    }
    post(client, fields, "/callbacks/kaleyra/dynamic/")
    apply_pending_callbacks()
    assert list(SenderPacing.objects.values_list("sender", flat=True)) == [BRAND_B.lstrip("+")]


def test_a_callback_for_a_number_that_is_no_sender_is_applied_recorded_and_reported(
    client, senders
):
    message = make_message(make_campaign(), ASHA, message_id="KAL-5")
    now = str(int(time.time()))
    stranger = status_for(
        STRANGER, "delivered", message_id="KAL-5", ts=now, errors=meta_error(130429)
    )
    counts = deliver(client, stranger)  # 200 at the endpoint (`post` checks it)

    assert counts["unknown_sender"] == 1
    row = CallbackInbox.objects.get()
    assert row.problem == CallbackInbox.Problem.UNKNOWN_SENDER
    assert "+919111111111, which is no sender here" in row.error
    assert row.processed_at is not None
    # Applied as usual: the event is stored, its Message moved; the number is slowed nowhere.
    assert StatusEvent.objects.get().sender == STRANGER.lstrip("+")
    assert state(message) == Message.State.DELIVERED
    assert not SenderPacing.objects.exists()


def test_a_reply_to_a_number_that_is_no_sender_is_kept_and_reported(client, senders):
    body = v2_incoming(ASHA, {"id": "wamid.R1", "type": "text", "text": {"body": "hi"}})
    body["meta_object"]["value"]["metadata"] = envelopes.metadata(STRANGER.lstrip("+"))
    counts = deliver(client, body)
    assert counts["unknown_sender"] == 1
    assert Reply.objects.get().text == "hi"
    assert CallbackInbox.objects.get().problem == CallbackInbox.Problem.UNKNOWN_SENDER


def test_callbacks_for_our_numbers_are_not_reported(client, senders):
    body = v2_incoming(ASHA, {"id": "wamid.R2", "type": "text", "text": {"body": "hello"}})
    counts = deliver(client, body)  # the helpers' own metadata: BRAND_A's number
    assert "unknown_sender" not in counts
    assert CallbackInbox.objects.get().problem == ""


def test_without_any_sender_nothing_is_compared(client, settings):
    settings.KALEYRA_SENDER = ""
    counts = deliver(client, status_for(STRANGER, "delivered", message_id="KAL-0"))
    assert "unknown_sender" not in counts


def test_the_applier_command_says_how_many_were_for_unknown_numbers(client, senders, capsys):
    post(client, status_for(STRANGER, "sent", message_id="KAL-3"))
    call_command("apply_callbacks", "--once")
    assert "unknown_sender 1" in capsys.readouterr().out
