"""Applying Kaleyra's callbacks: statuses (v2 and dynamic-variable shapes from spec-notes),
forward-only states, replays, late matches, opt-outs every send path honours, the frequency cap,
orders, template events, Meta's codes, the sandbox's lifecycle and the dashboard's numbers."""

import io
import json
import time
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from campaigns import callbacks, recipients, services
from campaigns.callbacks import apply_pending_callbacks
from campaigns.callbacks.writelock import sqlite_write_lock
from campaigns.kaleyra.sandbox.callbacks import callback_plan, poster
from campaigns.models import (
    CallbackInbox,
    Campaign,
    ConsentEvent,
    Contact,
    Message,
    MessageTemplate,
    OptOut,
    Order,
    Reply,
    StatusEvent,
)
from campaigns.recipients import OPT_OUT_SKIP_REASON, RecipientInput
from campaigns.selectors import (
    campaign_failures,
    campaign_for_sending,
    campaign_funnel,
    campaign_orders,
    campaign_results,
    campaign_timeline,
)
from campaigns.sending.pacing import current_pacing_factor
from campaigns.tasks import send_campaign_task
from tests.support.callbacks import (
    meta_error,
    order_message,
    sandbox_statuses,
    text_reply,
    v2_status,
)
from tests.support.factories import make_campaign, make_message, make_product, make_template

ASHA = "+919876543210"
RAVI = "+919876543211"
MEERA = "+919876543212"
SECRET = {"X-Callback-Secret": "s3cret"}


@pytest.fixture(autouse=True)
def callback_settings(settings):
    settings.KALEYRA_MODE = "live"
    settings.KALEYRA_CALLBACK_HEADER = "X-Callback-Secret"
    settings.KALEYRA_CALLBACK_TOKEN = ["s3cret"]
    return settings


@pytest.fixture
def campaign(db):
    return make_campaign()


def post(client, body, url="/callbacks/kaleyra/"):
    response = client.post(url, json.dumps(body), content_type="application/json", headers=SECRET)
    assert response.status_code == 200, response.content
    return response


def deliver(client, *bodies, url="/callbacks/kaleyra/"):
    """Post callbacks through the real endpoint, then apply them as the applier would, its
    on-commit hooks included (the applier commits; a test's transaction never does)."""
    for body in bodies:
        post(client, body, url)
    with TestCase.captureOnCommitCallbacks(execute=True):
        return apply_pending_callbacks()


def state(message) -> str:
    message.refresh_from_db()
    return message.state


# --- statuses ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["top-level", "extra_info", "statuses[].id"])
def test_a_status_matches_by_whichever_id_equals_the_send_answer(client, campaign, where):
    message = make_message(campaign, ASHA, message_id="KAL-42")
    ids = {
        "top-level": {"message_id": "KAL-42", "meta_id": "wamid.Z"},
        "extra_info": {"extra_id": "KAL-42", "meta_id": "wamid.Z"},
        "statuses[].id": {"meta_id": "KAL-42"},
    }[where]
    counts = deliver(client, v2_status("delivered", **ids, price="0.78", currency="inr"))

    assert state(message) == Message.State.DELIVERED
    event = StatusEvent.objects.get()
    assert event.message == message
    assert event.applied
    assert event.status == StatusEvent.Status.DELIVERED
    assert event.timestamp == timezone.datetime(2025, 6, 25, 13, 16, 24, tzinfo=UTC)
    assert event.price == Decimal("0.78")
    assert event.currency == "INR"
    assert event.raw["meta_object"]["value"]["statuses"][0]["status"] == "delivered"
    assert counts["moved"] == 1
    assert CallbackInbox.objects.get().processed_at is not None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("SENT", "sent"), ("Delivered", "delivered"), ("READ", "read"), ("NOT-SENT", "not_sent")],
)
def test_statuses_are_compared_case_insensitively(client, campaign, raw, expected):
    message = make_message(campaign, ASHA, message_id="KAL-1")
    deliver(client, v2_status(raw, message_id="KAL-1"))

    assert state(message) == expected
    assert StatusEvent.objects.get().status_raw == raw


def test_an_unknown_status_is_kept_and_moves_nothing(client, campaign):
    message = make_message(campaign, ASHA, message_id="KAL-1")
    deliver(client, v2_status("deleted", message_id="KAL-1"))

    assert state(message) == Message.State.ACCEPTED
    assert StatusEvent.objects.get().status == StatusEvent.Status.UNKNOWN


def test_out_of_order_events_never_move_a_message_back(client, campaign):
    message = make_message(campaign, ASHA, message_id="KAL-1")
    deliver(client, v2_status("read", message_id="KAL-1", ts="1750857390"))
    deliver(client, v2_status("delivered", message_id="KAL-1", ts="1750857385"))
    deliver(client, v2_status("sent", message_id="KAL-1", ts="1750857384"))

    assert state(message) == Message.State.READ
    assert StatusEvent.objects.filter(message=message).count() == 3


def test_events_racing_in_one_batch_end_at_the_furthest_state(client, campaign):
    one = make_message(campaign, ASHA, message_id="KAL-1")
    two = make_message(campaign, RAVI, message_id="KAL-2")
    for status, ts in [("read", "3"), ("sent", "1"), ("delivered", "2")]:
        post(client, v2_status(status, message_id="KAL-1", ts=ts))
        post(client, v2_status(status, message_id="KAL-2", ts=ts))
    apply_pending_callbacks()

    assert state(one) == state(two) == Message.State.READ


def test_failed_and_not_sent_are_final(client, campaign):
    failed = make_message(campaign, ASHA, message_id="KAL-1")
    delivered = make_message(campaign, RAVI, message_id="KAL-2")
    deliver(client, v2_status("failed", message_id="KAL-1", errors=meta_error(131026)))
    deliver(client, v2_status("delivered", message_id="KAL-1", ts="1750857999"))
    deliver(client, v2_status("delivered", message_id="KAL-2"))
    deliver(client, v2_status("failed", message_id="KAL-2", ts="1750857999"))

    assert state(failed) == Message.State.FAILED
    assert failed.meta_code == "131026"
    assert "cannot receive" in failed.detail
    assert state(delivered) == Message.State.DELIVERED  # a received message cannot fail any more


def test_a_replayed_event_is_stored_once(client, campaign):
    message = make_message(campaign, ASHA, message_id="KAL-1")
    body = v2_status("sent", message_id="KAL-1")
    first = deliver(client, body)
    again = deliver(client, body, body)

    assert StatusEvent.objects.count() == 1
    assert CallbackInbox.objects.count() == 3  # every delivery is kept as it arrived
    assert first["stored"] == 1
    assert again["duplicates"] == 2 and again["stored"] == 0
    assert state(message) == Message.State.SENT


def test_an_event_for_an_unknown_id_is_matched_when_the_id_appears(client, campaign):
    deliver(client, v2_status("delivered", message_id="KAL-LATE"))
    event = StatusEvent.objects.get()
    assert event.message is None and not event.applied

    message = make_message(campaign, ASHA, message_id="KAL-LATE")  # the send answer, recorded
    counts = apply_pending_callbacks()

    assert counts["matched_later"] == 1
    assert state(message) == Message.State.DELIVERED
    event.refresh_from_db()
    assert event.message == message and event.applied


def test_an_event_for_a_message_still_sending_waits_for_its_answer(client, campaign):
    message = make_message(campaign, ASHA, message_id="", state=Message.State.SENDING)
    deliver(client, v2_status("sent", message_id="KAL-9", ref=f"mpm-{message.pk}"))

    # The engine's recorder only records rows still `sending`: the event must not move it.
    assert state(message) == Message.State.SENDING
    assert StatusEvent.objects.get().message == message

    Message.objects.filter(pk=message.pk).update(state="accepted", message_id="KAL-9")
    apply_pending_callbacks()

    assert state(message) == Message.State.SENT
    assert StatusEvent.objects.get().applied


def test_the_ref_carries_the_message_when_no_id_matches(client, campaign):
    message = make_message(campaign, ASHA, message_id="")  # e.g. the send timed out: unknown
    Message.objects.filter(pk=message.pk).update(state=Message.State.UNKNOWN)
    deliver(
        client, v2_status("sent", message_id="KAL-X", meta_id="wamid.Q", ref=f"mpm-{message.pk}")
    )

    assert state(message) == Message.State.SENT  # the callback proves it did reach Kaleyra


def test_a_ref_for_another_recipient_is_not_trusted(client, campaign):
    message = make_message(campaign, RAVI, message_id="")
    deliver(client, v2_status("sent", message_id="KAL-X", ref=f"mpm-{message.pk}"))

    assert state(message) == Message.State.ACCEPTED
    assert StatusEvent.objects.get().message is None


def test_kaleyras_own_not_sent_status_without_a_meta_object(client, campaign):
    message = make_message(campaign, ASHA, message_id="KAL-1")
    deliver(client, {"status": "not-sent", "message_id": "KAL-1", "extra_info": {"ref": ""}})

    assert state(message) == Message.State.NOT_SENT
    assert "did not pass the message on" in message.detail


@pytest.mark.parametrize("as_query", [True, False])
def test_the_dynamic_variable_form(client, campaign, as_query):
    message = make_message(campaign, ASHA, message_id="KAL-7")
    fields = {
        "id": "KAL-7",
        "status": "FAILED",
        "mobile": "919876543210",
        "error": "Message undeliverable",
        "error_code": "131026",
        "ref": "",
        "ref1": "",
        "ref2": "",
        "price": "",
        "timestamp": "2025-06-25 13:16:24",
    }
    url = "/callbacks/kaleyra/dynamic/"
    if as_query:
        assert client.get(url, fields, headers=SECRET).status_code == 200
    else:
        post(client, fields, url)
    apply_pending_callbacks()

    assert state(message) == Message.State.FAILED
    assert message.meta_code == "131026"
    event = StatusEvent.objects.get()
    assert event.error_title == "Message undeliverable"
    assert event.timestamp.year == 2025


def test_a_malformed_row_is_marked_and_never_blocks_the_queue(client, campaign):
    message = make_message(campaign, ASHA, message_id="KAL-1")
    CallbackInbox.objects.create(kind="kaleyra", body='{"unrelated": true}')
    CallbackInbox.objects.create(kind="kaleyra", body="not even json")
    post(client, v2_status("read", message_id="KAL-1"))
    counts = apply_pending_callbacks()

    assert counts["errors"] == 2
    assert state(message) == Message.State.READ
    bad = CallbackInbox.objects.exclude(error="").order_by("id")
    assert [row.processed_at is not None for row in bad] == [True, True]
    assert "No status, message or template event" in bad[0].error
    assert not CallbackInbox.objects.filter(processed_at__isnull=True).exists()


def test_a_row_that_breaks_the_batch_is_isolated(client, campaign, monkeypatch):
    good = make_message(campaign, ASHA, message_id="KAL-1")
    post(client, v2_status("sent", message_id="KAL-1"))
    post(client, v2_status("sent", message_id="KAL-BOOM"))
    real = callbacks.inbox._prepare_statuses

    def explode(updates, counts):
        if any(u.provider_message_id == "KAL-BOOM" for u in updates):
            raise ValueError("unexpected data")
        return real(updates, counts)

    monkeypatch.setattr(callbacks.inbox, "_prepare_statuses", explode)
    counts = apply_pending_callbacks()

    assert state(good) == Message.State.SENT
    assert counts["errors"] == 1
    assert "unexpected data" in CallbackInbox.objects.get(error__contains="ValueError").error


def test_the_command_applies_what_is_stored(client, campaign):
    message = make_message(campaign, ASHA, message_id="KAL-1")
    post(client, v2_status("delivered", message_id="KAL-1"))
    out = io.StringIO()
    call_command("apply_callbacks", "--once", stdout=out)

    assert state(message) == Message.State.DELIVERED
    assert "rows 1" in out.getvalue()


# --- opt-outs, everywhere -------------------------------------------------------------------------


@pytest.mark.parametrize("reply", ["STOP", "stop", " Unsubscribe. ", "ROKO!"])
def test_a_stop_reply_opts_the_number_out(client, db, settings, reply):
    settings.MPM_STOP_WORDS = ["roko"]
    deliver(client, text_reply(ASHA, reply))

    opt_out = OptOut.objects.get()
    assert opt_out.phone == ASHA
    assert opt_out.reason == OptOut.Reason.STOP_KEYWORD
    assert opt_out.keyword == reply.strip()
    assert opt_out.source is not None  # the callback it came in
    # The opt-out list is the consent ledger's view: the reply is its event.
    [event] = ConsentEvent.objects.filter(contact__phone=ASHA)
    assert (event.status, event.source, event.source_ref) == (
        "opted_out",
        "whatsapp_stop",
        reply.strip(),
    )
    assert Contact.objects.get(phone=ASHA).consent == "opted_out"


def test_other_replies_do_not_opt_out(client, db):
    deliver(client, text_reply(ASHA, "please stop sending me the old catalog"))
    assert not OptOut.objects.exists()


def test_replies_are_kept_once_and_shown_on_the_contact_page(client, db, admin_client):
    reply = text_reply(ASHA, "Do you have this in blue?", ident="wamid.Q1")
    deliver(client, reply, reply, text_reply(ASHA, "STOP", ident="wamid.Q2"))  # one replayed

    assert [(r.text, r.type, r.provider_message_id) for r in Reply.objects.order_by("id")] == [
        ("Do you have this in blue?", "text", "wamid.Q1"),
        ("STOP", "text", "wamid.Q2"),
    ]
    assert Reply.objects.get(provider_message_id="wamid.Q1").sent_at is not None
    assert not Order.objects.exists()
    contact = Contact.objects.get(phone=ASHA)
    page = admin_client.get(f"/campaigns/contacts/{contact.pk}/").content.decode()
    assert "Do you have this in blue?" in page and 'id="contact-replies"' in page


def test_an_order_is_not_kept_as_a_reply(client, db):
    item = {"product_retailer_id": "SHOE-1", "quantity": 1, "item_price": 10, "currency": "INR"}
    deliver(client, order_message(ASHA, [item], ident="wamid.O1"))
    assert Order.objects.count() == 1
    assert not Reply.objects.exists()


def test_start_removes_the_opt_out_but_not_an_operators(client, db):
    deliver(client, text_reply(ASHA, "STOP", ident="a"), text_reply(RAVI, "STOP", ident="b"))
    OptOut.objects.create(phone=MEERA, reason=OptOut.Reason.MANUAL)
    deliver(client, text_reply(ASHA, "Start", ident="c"), text_reply(MEERA, "START", ident="d"))

    assert set(OptOut.objects.values_list("phone", flat=True)) == {RAVI, MEERA}
    asha = Contact.objects.get(phone=ASHA)
    assert asha.consent == "opted_in"
    assert [(e.status, e.source) for e in asha.consent_events.all()] == [
        ("opted_out", "whatsapp_stop"),
        ("opted_in", "whatsapp_start"),
    ]


def test_meta_131050_opts_the_number_out(client, campaign):
    message = make_message(campaign, ASHA, message_id="KAL-1")
    deliver(client, v2_status("failed", message_id="KAL-1", errors=meta_error(131050)))

    assert state(message) == Message.State.FAILED
    assert OptOut.objects.get().reason == OptOut.Reason.META_131050
    assert ConsentEvent.objects.get(contact__phone=ASHA).source == "meta_131050"


def test_queueing_skips_opted_out_numbers(client, db):
    deliver(client, text_reply(ASHA, "STOP"))
    campaign = campaign_for_sending(make_campaign().pk)
    report = recipients.campaign_queue_recipients(
        campaign, [RecipientInput(ASHA, line=1), RecipientInput(RAVI, line=2)]
    )

    assert report.queued == 1
    assert report.skipped == [(ASHA, OPT_OUT_SKIP_REASON)]
    assert Message.objects.get(to=ASHA).state == Message.State.SKIPPED
    assert recipients.skip_reason(campaign, ASHA) == OPT_OUT_SKIP_REASON


def test_the_command_honours_opt_outs(client, db, sandbox):
    deliver(client, text_reply(ASHA, "STOP"))
    campaign = make_campaign()
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "send_campaign", str(campaign.pk), "--to", f"{ASHA},{RAVI}", stdout=out, stderr=err
    )

    assert out.getvalue().strip().splitlines()[-1] == "accepted 1, failed 0, skipped 1"
    assert f"skipped {ASHA}: {OPT_OUT_SKIP_REASON}" in err.getvalue()
    assert len(sandbox.requests) == 1


def test_the_admin_and_the_worker_honour_opt_outs(
    client, admin_client, provider, django_capture_on_commit_callbacks
):
    make_message(make_campaign(), ASHA, message_id="KAL-OLD")
    deliver(client, v2_status("failed", message_id="KAL-OLD", errors=meta_error(131050)))
    assert OptOut.objects.filter(phone=ASHA).exists()
    provider.answer()
    campaign = make_campaign()

    url = reverse("admin:campaigns_campaign_send", args=[campaign.pk])
    with django_capture_on_commit_callbacks(execute=True):  # the worker runs the send
        response = admin_client.post(url, {"numbers": f"{ASHA}\n{RAVI}", "confirm": "Yes"})
    assert response.status_code == 302

    assert len(provider.requests) == 1
    assert json.loads(provider.requests[0].body)["messaging_object"]["to"] == RAVI
    assert Message.objects.get(campaign=campaign, to=ASHA).detail == OPT_OUT_SKIP_REASON


def test_a_number_opted_out_after_queueing_is_not_sent(client, campaign):
    queued = make_message(
        campaign, ASHA, state=Message.State.QUEUED, message_id="", claimed_at=None
    )
    deliver(client, text_reply(ASHA, "STOP"))

    assert state(queued) == Message.State.SKIPPED
    assert queued.detail == OPT_OUT_SKIP_REASON


# --- the frequency cap ------------------------------------------------------------------------------


def test_the_frequency_cap_skips_recent_recipients_of_other_campaigns(db, settings):
    earlier = make_campaign()
    make_message(earlier, ASHA, claimed_at=timezone.now() - timedelta(hours=2))
    make_message(earlier, RAVI, claimed_at=timezone.now() - timedelta(hours=30))
    make_message(earlier, MEERA, state=Message.State.FAILED, message_id="")
    campaign = campaign_for_sending(make_campaign().pk)

    report = recipients.campaign_queue_recipients(
        campaign, [RecipientInput(n, line=i) for i, n in enumerate([ASHA, RAVI, MEERA])]
    )

    assert report.queued == 2
    assert [number for number, _ in report.skipped] == [ASHA]
    assert report.skipped[0][1].startswith("skipped (frequency cap)")
    assert "24 hours" in report.skipped[0][1]

    settings.MPM_FREQUENCY_CAP_HOURS = 0
    assert recipients.skip_reason(campaign, ASHA) == ""


def test_the_frequency_cap_spares_utility_templates(db):
    make_message(make_campaign(), ASHA)
    utility = make_campaign(template=make_template(category=MessageTemplate.Category.UTILITY))
    assert recipients.skip_reason(utility, ASHA) == ""


# --- orders ---------------------------------------------------------------------------------------


def test_an_order_is_recorded_and_attributed_to_the_latest_campaign_message(client, db):
    older, latest = make_campaign(name="Older"), make_campaign(name="Latest")
    make_message(older, ASHA, claimed_at=timezone.now() - timedelta(days=3))
    message = make_message(
        latest, ASHA, state=Message.State.READ, claimed_at=timezone.now() - timedelta(days=1)
    )
    shoe = make_product(retailer_id="SHOE-1", name="Running shoe")
    items = [
        {"product_retailer_id": "SHOE-1", "quantity": 2, "item_price": 1499.5, "currency": "INR"},
        {"product_retailer_id": "GONE-9", "quantity": "1", "item_price": "99", "currency": "INR"},
    ]
    # The order's own time decides the window: "now" for this test.
    body = order_message(ASHA, items, ts=str(int(time.time())))
    counts = deliver(client, body, body)

    assert counts["orders"] == 1 and counts["duplicates"] == 1
    order = Order.objects.get()
    assert (order.campaign, order.message) == (latest, message)
    assert order.total == Decimal("3098.00")
    assert (order.currency, order.catalog_id, order.text) == ("INR", "CAT1", "Please deliver soon")
    lines = {item.retailer_id: item for item in order.items.all()}
    assert lines["SHOE-1"].product == shoe and lines["SHOE-1"].quantity == 2
    assert lines["GONE-9"].product is None  # unknown here, kept by its retailer id
    assert lines["GONE-9"].item_price == Decimal("99.00")


def test_an_order_outside_the_window_is_kept_unattributed(client, db, settings):
    settings.MPM_ORDER_ATTRIBUTION_DAYS = 7
    make_message(make_campaign(), ASHA, claimed_at=timezone.now() - timedelta(days=8))
    line = {"product_retailer_id": "X", "quantity": 1, "item_price": 5, "currency": "INR"}
    body = order_message(ASHA, [line], ts=str(int(time.time())))
    deliver(client, body)

    order = Order.objects.get()
    assert order.campaign is None and order.message is None
    assert order.from_phone == ASHA


# --- templates and Meta's codes ------------------------------------------------------------------


def sending_campaign(**fields) -> Campaign:
    campaign = make_campaign(**fields)
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.SENDING)
    return campaign


def test_a_template_status_event_stops_campaigns_using_it(client, db):
    template = make_template(name="spring_sale", language="en_US")
    campaign = sending_campaign(template=template)
    other = sending_campaign()
    event = {
        "id": "1",
        "event": "PAUSED",
        "message_template_id": "9",
        "message_template_name": "spring_sale",
        "message_template_language": "en_US",
        "reason": "Low quality rating",
    }
    deliver(client, event, url="/callbacks/kaleyra/templates/")

    template.refresh_from_db()
    campaign.refresh_from_db()
    assert template.status == MessageTemplate.Status.PAUSED
    assert campaign.state == Campaign.State.PAUSED
    assert "spring_sale (en_US) is now paused" in campaign.paused_reason
    assert "Low quality rating" in campaign.paused_reason
    assert Campaign.objects.get(pk=other.pk).state == Campaign.State.SENDING

    deliver(client, {**event, "event": "APPROVED"}, url="/callbacks/kaleyra/templates/")
    template.refresh_from_db()
    assert template.status == MessageTemplate.Status.APPROVED
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.PAUSED  # operator resumes


@pytest.mark.parametrize("code", [131048, 368])
def test_account_level_meta_codes_pause_the_campaign(client, db, code):
    campaign = sending_campaign()
    make_message(campaign, ASHA, message_id="KAL-1")
    deliver(client, v2_status("failed", message_id="KAL-1", errors=meta_error(code)))

    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.PAUSED
    assert campaign.paused_reason.startswith(f"Meta {code}:")


def test_132016_disables_the_template_and_pauses_its_campaigns(client, db):
    campaign = sending_campaign()
    make_message(campaign, ASHA, message_id="KAL-1")
    deliver(client, v2_status("failed", message_id="KAL-1", errors=meta_error(132016)))

    campaign.refresh_from_db()
    assert campaign.template.status == MessageTemplate.Status.DISABLED
    assert campaign.state == Campaign.State.PAUSED


def test_131049_is_retried_once_a_day_later_when_enabled(client, campaign, settings):
    settings.MPM_RETRY_131049 = True
    message = make_message(campaign, ASHA, message_id="KAL-1")
    before = timezone.now()
    deliver(client, v2_status("failed", message_id="KAL-1", errors=meta_error(131049)))

    message.refresh_from_db()
    assert message.state == Message.State.QUEUED
    assert message.meta_retried and message.meta_code == "131049"
    assert message.next_attempt_at >= before + timedelta(hours=24)
    assert "per-user marketing limit" in message.detail

    # The retry was sent (a new id) and declined again: now it stays failed.
    Message.objects.filter(pk=message.pk).update(state="accepted", message_id="KAL-2")
    deliver(client, v2_status("failed", message_id="KAL-2", errors=meta_error(131049)))
    assert state(message) == Message.State.FAILED


@pytest.fixture
def dummy_tasks(settings):
    """A task backend that keeps what is enqueued (and, unlike the immediate one, can defer)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    backend = send_campaign_task.get_backend()
    assert backend.supports_defer
    return backend


def test_131049_wakes_a_worker_for_the_campaign_at_the_retry_time(
    client, campaign, settings, dummy_tasks, django_capture_on_commit_callbacks
):
    settings.MPM_RETRY_131049 = True
    message = make_message(campaign, ASHA, message_id="KAL-1")
    post(client, v2_status("failed", message_id="KAL-1", errors=meta_error(131049)))
    with django_capture_on_commit_callbacks(execute=True) as hooks:
        counts = apply_pending_callbacks()

    assert counts["requeued_131049"] == 1
    assert len(hooks) == 1
    message.refresh_from_db()
    [result] = dummy_tasks.results
    assert result.task.func is send_campaign_task.func
    assert result.args == [campaign.pk]
    assert result.task.run_after == message.next_attempt_at


def test_131049_schedules_nothing_when_not_retried(
    client, campaign, dummy_tasks, django_capture_on_commit_callbacks
):
    make_message(campaign, ASHA, message_id="KAL-1")
    post(client, v2_status("failed", message_id="KAL-1", errors=meta_error(131049)))
    with django_capture_on_commit_callbacks(execute=True) as hooks:
        apply_pending_callbacks()

    assert hooks == []
    assert dummy_tasks.results == []


def test_131049_retry_with_a_backend_that_cannot_defer(
    client, campaign, settings, provider, django_capture_on_commit_callbacks
):
    """The immediate backend (tests, development) cannot wait a day: nothing is enqueued, the
    message stays queued for its time, and the applier does not fail."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.MPM_RETRY_131049 = True
    message = make_message(campaign, ASHA, message_id="KAL-1")
    post(client, v2_status("failed", message_id="KAL-1", errors=meta_error(131049)))
    with django_capture_on_commit_callbacks(execute=True) as hooks:
        counts = apply_pending_callbacks()

    assert len(hooks) == 1
    assert counts["requeued_131049"] == 1 and counts["errors"] == 0
    assert state(message) == Message.State.QUEUED
    assert len(provider.requests) == 0  # nothing was sent early


def test_131049_fails_for_good_by_default(client, campaign):
    message = make_message(campaign, ASHA, message_id="KAL-1")
    deliver(client, v2_status("failed", message_id="KAL-1", errors=meta_error(131049)))

    assert state(message) == Message.State.FAILED
    assert "per-user marketing limit" in message.detail


def test_throughput_errors_slow_the_sender_down_for_a_while(client, campaign, settings):
    settings.MPM_PACING_SLOWDOWN_SECONDS = 60
    make_message(campaign, ASHA, message_id="KAL-1")
    now = str(int(time.time()))
    assert current_pacing_factor("+919000000001") == 1.0

    deliver(client, v2_status("failed", message_id="KAL-1", ts=now, errors=meta_error(130429)))

    assert current_pacing_factor("+919000000001") == 0.5
    assert current_pacing_factor("+919000000002") == 1.0
    later = timezone.now() + timedelta(seconds=61)
    assert current_pacing_factor("+919000000001", now=later) == 1.0


def test_an_old_replayed_throughput_error_changes_nothing(client, campaign):
    make_message(campaign, ASHA, message_id="KAL-1")
    deliver(
        client, v2_status("failed", message_id="KAL-1", ts="1600000000", errors=meta_error(130429))
    )
    assert current_pacing_factor("+919000000001") == 1.0


# --- the sandbox plays the provider ----------------------------------------------------------------


def test_the_sandbox_plans_failures_by_number_suffix():
    plan = callback_plan(
        to="+919876541050",
        message_id="SBX1",
        extra_info={"ref": "mpm-1"},
        sender="+910000000000",
        products=list,
        start=100.0,
        step=0.5,
    )
    [(when, body)] = plan
    status = body["meta_object"]["value"]["statuses"][0]
    assert (when, status["status"], status["errors"][0]["code"]) == (100.5, "failed", 131050)
    assert body["extra_info"]["ref"] == "mpm-1"


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_lifecycle_end_to_end(live_server, settings):
    """A campaign sent to the sandbox: the sandbox posts callbacks to the running app, the
    applier applies them, and the Messages end read (or failed, as their numbers say)."""
    settings.KALEYRA_MODE = "sandbox"
    settings.KALEYRA_CALLBACK_HEADER = ""
    settings.KALEYRA_CALLBACK_TOKEN = []  # nothing configured: the sandbox's own secret
    settings.KALEYRA_SANDBOX_BASE_URL = f"{live_server.url}/sandbox"
    settings.SITE_URL = live_server.url  # where the sandbox posts its callbacks
    settings.MPM_SANDBOX_CALLBACKS = True
    settings.MPM_SANDBOX_CALLBACK_DELAY = 0.05
    settings.MPM_FREQUENCY_CAP_HOURS = 0
    campaign = campaign_for_sending(make_campaign().pk)
    numbers = ["+919811112345", "+919811116789", "+919811111026"]
    report = recipients.campaign_queue_recipients(
        campaign, [RecipientInput(n, line=i) for i, n in enumerate(numbers)]
    )
    assert report.queued == 3
    summary = services.campaign_send(campaign)
    assert summary.accepted == 3

    # The sandbox answered at once; its poster thread is posting the callbacks meanwhile.
    assert poster().drain(timeout=20)
    while apply_pending_callbacks()["rows"]:
        pass
    expected = {message.to: sandbox_statuses(message)[-1] for message in Message.objects.all()}
    assert dict(Message.objects.values_list("to", "state")) == expected
    assert expected["+919811111026"] == "failed"
    assert Message.objects.get(to="+919811111026").meta_code == "131026"
    assert StatusEvent.objects.filter(applied=False).count() == 0
    assert not CallbackInbox.objects.exclude(error="").exists()


# --- the dashboard's numbers -------------------------------------------------------------------------


def test_the_dashboard_numbers_equal_the_stored_events(client, db):
    campaign = make_campaign()
    statuses = {
        "+919800000001": ["sent", "delivered", "read"],
        "+919800000002": ["sent", "delivered"],
        "+919800000003": ["sent"],
        "+919800000004": ["failed"],
        "+919800000005": ["read"],  # receipts in any order: read implies delivered and sent
        "+919800000006": [],
    }
    for n, (to, events) in enumerate(statuses.items()):
        make_message(campaign, to, message_id=f"KAL-{n}")
        for ts, status in enumerate(events, start=1):
            errors = {"errors": meta_error(131026)} if status == "failed" else {}
            post(
                client, v2_status(status, message_id=f"KAL-{n}", ts=str(1750857000 + ts), **errors)
            )
    make_message(campaign, "+919800000007", state=Message.State.SKIPPED, message_id="")
    make_message(campaign, "+919800000008", state=Message.State.FAILED, message_id="")
    make_message(campaign, "+919800000009", state=Message.State.QUEUED, message_id="")
    Message.objects.filter(to="+919800000008").update(last_code="WA400")
    make_product(retailer_id="SKU-A", name="A")
    line = {"product_retailer_id": "SKU-A", "quantity": 3, "item_price": 10, "currency": "INR"}
    post(client, order_message("+919800000001", [line], ts=str(int(time.time()))))
    apply_pending_callbacks()

    funnel = campaign_funnel(campaign.pk)
    events = StatusEvent.objects.filter(message__campaign=campaign)

    def reached(*names):
        return events.filter(status__in=names).values("message").distinct().count()

    assert funnel.total == 9 and funnel.skipped == 1 and funnel.queued == 8
    assert funnel.waiting == 1
    assert funnel.accepted == 6  # every message with a provider id, failed in WhatsApp included
    assert funnel.read == reached("read") == 2
    assert funnel.delivered == reached("delivered", "read") == 3
    assert funnel.sent == reached("sent", "delivered", "read") == 4
    assert funnel.failed == 2
    assert funnel.delivery_rate == 50.0 and funnel.read_rate == pytest.approx(66.7)
    assert [step["count"] for step in funnel.steps()] == [8, 6, 4, 3, 2]

    failures = {group["code"]: group for group in campaign_failures(campaign.pk)}
    assert failures["131026"]["count"] == events.filter(error_code="131026").count() == 1
    assert failures["131026"]["source"] == "Meta"
    assert failures["WA400"]["count"] == 1

    timeline = campaign_timeline(campaign.pk, bucket="day")
    assert sum(point["reads"] for point in timeline) == events.filter(status="read").count()
    assert sum(point["sends"] for point in timeline) == 6
    assert (
        sum(point["delivered"] for point in timeline) == events.filter(status="delivered").count()
    )

    orders = campaign_orders(campaign.pk)
    assert orders["totals"] == [{"currency": "INR", "orders": 1, "revenue": Decimal("30.00")}]
    [product] = orders["products"]
    assert (product["retailer_id"], product["units"], product["revenue"]) == ("SKU-A", 3, 30)

    other = make_campaign(name="Empty")
    results = campaign_results(order_by="-delivery_rate")
    assert [r.id for r in results] == [campaign.pk, other.pk]  # no rate yet: last
    assert results[0].orders == 1 and results[0].delivery_rate == 50.0
    assert results[0].funnel == funnel


def test_the_sqlite_write_lock_is_reentrant(db):
    with sqlite_write_lock(), sqlite_write_lock():
        CallbackInbox.objects.create(kind="kaleyra", body="{}")
    with sqlite_write_lock():  # released above: taken again at once
        assert CallbackInbox.objects.count() == 1


@pytest.mark.parametrize(
    "word",
    [
        "APPROVED",
        "Approved",
        "REINSTATED",
        "Submission Rejected",
        "in-appeal",
        "PAUSED",
        "DISABLED",
        "PENDING_DELETION",
        "LIMIT_EXCEEDED",
        "Pending",
        "FLAGGED",
    ],
)
def test_a_status_word_means_the_same_in_a_callback_and_in_the_sync(word):
    from campaigns.callbacks.parsing import parse_template
    from campaigns.services.template_parsing import parse_status

    [update] = parse_template(
        {"event": word, "message_template_name": "t", "message_template_language": "en"}
    )
    synced, unknown = parse_status(word)
    if update.status:
        assert (synced, unknown) == (update.status, "")
    else:  # no meaning here: a callback changes nothing, the sync names it and does not send
        assert (synced, unknown) == (MessageTemplate.Status.PENDING, word)
