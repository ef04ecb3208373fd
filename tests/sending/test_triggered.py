"""Always-on (triggered) campaigns: a run that stays open sends what is queued while it runs,
within a fraction of a second; one Message per recipient and trigger; the frequency cap across
triggers; pause and cancel; the campaign never completes by itself; its own task queue."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.models import Campaign, Message
from campaigns.recipients import RecipientInput, campaign_queue_recipients
from campaigns.selectors import campaign_for_sending
from campaigns.sending.run import TRIGGERED_QUEUE
from campaigns.services import (
    CampaignNotRunnable,
    campaign_cancel,
    campaign_next_due,
    campaign_pause,
    campaign_send,
    run_options,
)
from campaigns.services.background import campaign_queue_and_send
from campaigns.services.healing import campaigns_heal, send_task_for
from campaigns.tasks import send_campaign_task
from tests.support.factories import make_campaign

transactional = pytest.mark.django_db(transaction=True)
ASHA, RAVI = "+919876543210", "+919812345678"


def trigger(campaign, *phones, key: str):
    return campaign_queue_recipients(
        campaign, [RecipientInput(p, line=n) for n, p in enumerate(phones, 1)], trigger_key=key
    )


def always_on():
    return campaign_for_sending(make_campaign(triggered=True).pk)


@transactional
def test_an_open_run_sends_each_trigger_within_a_fraction_of_a_second(provider, settings):
    settings.MPM_FREQUENCY_CAP_HOURS = 0
    provider.answer()
    campaign = always_on()
    done = {}
    options = run_options(concurrency=8, stay_open=30)
    runner = threading.Thread(
        target=lambda: done.setdefault("summary", campaign_send(campaign, options=options))
    )
    runner.start()
    try:
        latencies = []
        for n in range(5):
            time.sleep(0.2)
            queued_at = time.monotonic()
            report = trigger(campaign, ASHA, key=f"cart-{n}")
            assert report.queued == 1
            while len(provider.requests) < n + 1:
                assert time.monotonic() - queued_at < 5, "the open run did not send the trigger"
                time.sleep(0.01)
            latencies.append(time.monotonic() - queued_at)
        assert max(latencies) < 1.0, latencies
        assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.SENDING
    finally:
        campaign_pause(campaign, reason="The test is over.")
        runner.join(timeout=30)
        connection.close()
    assert not runner.is_alive()
    assert done["summary"].accepted == 5
    assert [r.to for r in provider.requests] == [ASHA] * 5
    assert set(Message.objects.filter(campaign=campaign).values_list("trigger_key", flat=True)) == {
        f"cart-{n}" for n in range(5)
    }


@transactional
def test_one_message_per_trigger_and_the_frequency_cap_across_triggers(provider, settings):
    settings.MPM_FREQUENCY_CAP_HOURS = 24
    provider.answer()
    campaign = always_on()

    first = campaign_queue_and_send(campaign, [RecipientInput(ASHA, line=1)], trigger_key="k1")
    assert first.queued == 1
    again = campaign_queue_and_send(campaign, [RecipientInput(ASHA, line=1)], trigger_key="k1")
    assert (again.queued, again.already_accepted) == (0, 1)  # the same trigger: nothing new
    capped = campaign_queue_and_send(campaign, [RecipientInput(ASHA, line=1)], trigger_key="k2")
    assert capped.queued == 0 and "frequency cap" in capped.skipped[0][1]
    other = campaign_queue_and_send(campaign, [RecipientInput(RAVI, line=1)], trigger_key="k2")
    assert other.queued == 1

    assert sorted(r.to for r in provider.requests) == sorted([ASHA, RAVI])
    # Nothing left to send, yet it stays open for the next trigger, even after a recovery round.
    campaigns_heal(send_task=send_campaign_task)
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.SENDING

    settings.MPM_FREQUENCY_CAP_HOURS = 0
    later = campaign_queue_and_send(campaign, [RecipientInput(ASHA, line=1)], trigger_key="k3")
    assert later.queued == 1
    assert [r.to for r in provider.requests].count(ASHA) == 2


@transactional
def test_a_batch_campaign_still_sends_each_number_once_and_completes(provider):
    provider.answer()
    campaign = campaign_for_sending(make_campaign().pk)
    campaign_queue_and_send(campaign, [RecipientInput(ASHA, line=1)])
    again = campaign_queue_and_send(campaign, [RecipientInput(ASHA, line=1)])
    assert again.already_accepted == 1 and len(provider.requests) == 1
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.COMPLETED


@pytest.mark.django_db
def test_always_on_sends_have_their_own_task_queue():
    assert send_task_for(send_campaign_task, always_on().pk).queue_name == TRIGGERED_QUEUE
    batch = make_campaign()
    assert send_task_for(send_campaign_task, batch.pk).queue_name == "default"


@transactional
def test_cancelling_an_always_on_campaign_skips_what_waits_and_refuses_new_triggers(provider):
    provider.answer()
    campaign = always_on()
    trigger(campaign, ASHA, key="k1")
    campaign_cancel(campaign)
    assert Message.objects.get(campaign=campaign).state == Message.State.SKIPPED
    with pytest.raises(CampaignNotRunnable, match="cancelled"):
        campaign_queue_and_send(campaign, [RecipientInput(RAVI, line=1)], trigger_key="k2")
    assert provider.requests == []


@transactional
def test_a_trigger_queued_as_the_run_closed_is_due_at_once_and_its_task_comes_back(
    provider, settings
):
    """The API saw the run alive and booked no task; the run closed without claiming it. The
    ending task finds it ready and books the next run now, not at the next recovery."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    provider.answer()
    campaign = always_on()
    campaign_send(campaign, options=run_options(stay_open=0.1))  # opened, closed: nothing due
    assert campaign_next_due(campaign) is None
    trigger(campaign, ASHA, key="late")
    before = timezone.now()
    assert before - timedelta(seconds=5) <= campaign_next_due(campaign) <= timezone.now()

    Message.objects.filter(campaign=campaign).update(
        state=Message.State.QUEUED, next_attempt_at=before + timedelta(minutes=5), attempts=1
    )
    assert campaign_next_due(campaign) == before + timedelta(minutes=5)  # only a retry waits
    campaign_pause(campaign)
    assert campaign_next_due(campaign) is None


@transactional
def test_the_send_task_books_a_run_for_a_ready_trigger_on_the_triggered_queue(provider, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    settings.MPM_TRIGGERED_STAY_OPEN = 0.1
    provider.answer()
    campaign = always_on()
    trigger(campaign, ASHA, key="k1")
    send_campaign_task.call(campaign.pk)
    assert len(provider.requests) == 1
    assert send_campaign_task.get_backend().results == []  # nothing left: no run booked
