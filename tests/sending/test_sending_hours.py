"""Sending hours in each recipient's own zone, through the real engine and the stand-in: who is
outside them waits for their next opening (set as they are queued, and checked again as they
are claimed), progress counts who waits, and the campaign comes back then by itself."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.localtime import SendingHours
from campaigns.models import Campaign, Message
from campaigns.recipients import RecipientInput
from campaigns.selectors import campaign_progress
from campaigns.services import background
from campaigns.tasks import send_campaign_task
from tests.api.conftest import ALL, user_with

pytestmark = pytest.mark.django_db
DUMMY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
SAO_PAULO, KOLKATA = "+5511987654321", "+919876543210"  # zones guessed from the numbers


def hours_open_in_sao_paulo_only() -> SendingHours:
    """Two hours around São Paulo's present time: India (8½ hours ahead) is outside."""
    local = timezone.now().astimezone(ZoneInfo("America/Sao_Paulo"))
    start = (local - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (local + timedelta(hours=1)).time().replace(second=0, microsecond=0)
    return SendingHours(start, end)


@pytest.fixture
def deferring(settings):
    settings.TASKS = DUMMY
    yield send_campaign_task.get_backend()


def with_hours(campaign, hours: SendingHours):
    Campaign.objects.filter(pk=campaign.pk).update(send_from=hours.start, send_until=hours.end)
    campaign.refresh_from_db()


def send_now(campaign, phones, capture):
    with capture(execute=True):
        background.campaign_queue_and_send(
            campaign, [RecipientInput(p, line=n) for n, p in enumerate(phones, 1)]
        )


def test_outside_their_hours_a_recipient_waits_for_the_opening_where_they_are(
    campaign, provider, deferring, django_capture_on_commit_callbacks
):
    hours = hours_open_in_sao_paulo_only()
    with_hours(campaign, hours)
    provider.answer()
    send_now(campaign, [SAO_PAULO, KOLKATA], django_capture_on_commit_callbacks)

    opening = hours.opens_at(timezone.now(), ZoneInfo("Asia/Kolkata"))
    india = Message.objects.get(to=KOLKATA)
    assert india.state == Message.State.QUEUED
    assert abs(india.next_attempt_at - opening) < timedelta(minutes=1)
    assert Message.objects.get(to=SAO_PAULO).next_attempt_at is None

    send_campaign_task.call(campaign.pk)
    assert [r.to for r in provider.requests] == [SAO_PAULO]
    progress = campaign_progress(campaign.pk)
    assert progress["waiting_for_their_time"] == 1
    assert progress["state"] == Campaign.State.SENDING  # not completed: India is still to come
    assert "in each recipient's own time zone" in progress["their_time"]
    *_, comeback = [r for r in deferring.results if r.task.func is send_campaign_task.func]
    assert comeback.task.run_after == india.next_attempt_at  # back by itself at India's opening


def test_the_engine_checks_the_hours_again_as_it_claims(
    campaign, provider, deferring, django_capture_on_commit_callbacks
):
    """A message due at night (a retry, a resumed campaign, hours set after queueing) is not
    sent then: it goes back in the queue until its hours open."""
    provider.answer()
    with_hours(campaign, SendingHours(datetime.min.time(), datetime.max.time()))  # all day
    send_now(campaign, [SAO_PAULO, KOLKATA], django_capture_on_commit_callbacks)
    assert not Message.objects.filter(next_attempt_at__isnull=False).exists()

    hours = hours_open_in_sao_paulo_only()
    with_hours(campaign, hours)  # the hours have moved on since they were queued
    send_campaign_task.call(campaign.pk)
    assert [r.to for r in provider.requests] == [SAO_PAULO]
    india = Message.objects.get(to=KOLKATA)
    assert (india.state, india.attempts, india.claimed_by) == (Message.State.QUEUED, 0, "")
    opening = hours.opens_at(timezone.now(), ZoneInfo("Asia/Kolkata"))
    assert abs(india.next_attempt_at - opening) < timedelta(minutes=1)
    assert campaign_progress(campaign.pk)["waiting_for_their_time"] == 1

    # Its time comes (the clock moved on): the hours now hold India, and it goes.
    with_hours(campaign, SendingHours(datetime.min.time(), datetime.max.time()))
    Message.objects.filter(to=KOLKATA).update(next_attempt_at=timezone.now())
    provider.answer()
    send_campaign_task.call(campaign.pk)
    assert [r.to for r in provider.requests] == [SAO_PAULO, KOLKATA]
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.COMPLETED
    assert campaign_progress(campaign.pk)["waiting_for_their_time"] == 0


def test_a_test_send_ignores_the_hours(client, campaign, provider):
    with_hours(campaign, hours_open_in_sao_paulo_only())
    client.force_login(user_with(*ALL))
    provider.answer()
    answer = client.post(
        reverse("campaigns:edit", args=[campaign.pk]),
        {**composer_post(campaign), "action": "test", "to": KOLKATA},
        follow=True,
    )
    assert answer.status_code == 200
    assert [r.to for r in provider.requests] == [KOLKATA]
    assert Message.objects.get(to=KOLKATA).state == Message.State.ACCEPTED


def test_the_composer_saves_the_hours_and_refuses_half_of_them(client, campaign):
    client.force_login(user_with(*ALL))
    page = client.get(reverse("campaigns:edit", args=[campaign.pk])).content.decode()
    assert 'name="send_from"' in page and 'name="send_until"' in page
    form = composer_post(campaign)

    answer = client.post(
        reverse("campaigns:edit", args=[campaign.pk]), {**form, "send_from": "10:00"}
    )
    assert answer.status_code == 400
    assert "Sending hours: give both the start and the end" in answer.content.decode()
    answer = client.post(
        reverse("campaigns:edit", args=[campaign.pk]),
        {**form, "send_from": "10:00", "send_until": "10:00"},
    )
    assert "the end must differ from the start" in answer.content.decode()
    campaign.refresh_from_db()
    assert campaign.send_from is None and campaign.send_until is None

    client.post(
        reverse("campaigns:edit", args=[campaign.pk]),
        {**form, "send_from": "20:00", "send_until": "02:00"},
    )
    campaign.refresh_from_db()
    assert (f"{campaign.send_from:%H:%M}", f"{campaign.send_until:%H:%M}") == ("20:00", "02:00")
    page = client.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert "sent only between 20:00 and 02:00 in each recipient's own time zone" in page


def composer_post(campaign) -> dict:
    """The composer's fields for this campaign, as its page posts them."""
    import json

    from campaigns.services.composer import state_from_campaign

    state = state_from_campaign(campaign)
    return {
        "name": state.name,
        "template": state.template.pk,
        "header_value": state.header_value,
        "thumbnail": state.thumbnail,
        "sections": json.dumps(state.sections_data()),
        "wa_source": state.wa_source,
        **{f"body_{n}": v for n, v in enumerate(state.body_values, 1)},
    }
