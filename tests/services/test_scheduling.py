"""Scheduled campaigns: a time entered in the marketer's zone and stored in UTC, recipients
queued at confirmation, the start booked with the task backend's run_after and made once by the
task booked for exactly that time; reschedule, cancel and edit leave stale tasks doing nothing;
the recovery starts a campaign whose start was lost."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.audiences.consent import Provenance, consent_record, contact_for
from campaigns.localtime import local_send_times
from campaigns.models import Campaign, Consent, ConsentEvent, Contact, Message, Segment
from campaigns.services import background, campaign_unschedule
from campaigns.services.composer import draft_save, state_from_campaign
from campaigns.services.healing import scheduled_heal
from campaigns.services.scheduling import ScheduleProblem, local_start_time, send_time
from campaigns.tasks import send_campaign_task, start_scheduled_task
from tests.api.conftest import ALL, user_with
from tests.sending.test_engine import numbers

pytestmark = pytest.mark.django_db
DUMMY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


# --- the time ------------------------------------------------------------------------------


def test_in_each_recipients_zone_it_starts_where_the_time_comes_first_or_now():
    evening = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)  # already 5 December in Kiritimati (+14)
    # 10:00 on the 5th came at 20:00 UTC in Kiritimati, but is still ahead in India and Berlin.
    assert local_start_time("2026-12-05T10:00", now=evening) == evening
    morning = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
    assert local_start_time("2026-12-05T10:00", now=morning) == datetime(
        2026, 12, 4, 20, 0, tzinfo=UTC
    )
    # Passed everywhere (10:00 on the 4th ended at 22:00 UTC, UTC-12's): refused.
    with pytest.raises(ScheduleProblem, match="passed already"):
        local_start_time("2026-12-04T10:00", now=datetime(2026, 12, 4, 22, 30, tzinfo=UTC))
    with pytest.raises(ScheduleProblem, match="give a date and a time"):
        local_start_time("tomorrow", now=evening)


def test_a_local_time_is_stored_in_utc():
    assert send_time("2026-12-03T10:00", "Asia/Kolkata", now=NOW) == datetime(
        2026, 12, 3, 4, 30, tzinfo=UTC
    )
    summer = datetime(2026, 6, 1, tzinfo=UTC)
    assert send_time("2026-07-01 09:00", "Europe/Berlin", now=summer).hour == 7  # CEST: +2
    assert send_time("2026-12-01 09:00", "Europe/Berlin", now=NOW - timedelta(days=30)).hour == 8


@pytest.mark.parametrize(
    ("local", "zone", "problem"),
    [
        ("2026-12-01T10:00", "Asia/Kolkata", "it has passed already"),
        ("2027-06-01T10:00", "Asia/Kolkata", "at most 90 days ahead"),
        ("tomorrow at ten", "Asia/Kolkata", "give a date and a time"),
        ("2026-12-03T10:00", "Mars/Olympus", "is not a known time zone"),
        ("2026-12-03T10:00+05:30", "Asia/Kolkata", "without a zone"),
    ],
)
def test_a_time_that_cannot_be_used_is_refused_naming_the_field(local, zone, problem):
    with pytest.raises(ScheduleProblem, match=problem):
        send_time(local, zone, now=NOW)


def test_a_time_the_clocks_skip_is_refused():
    """America/New_York springs forward at 02:00 on 2026-03-08: 02:30 never happens."""
    march = datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(ScheduleProblem, match="does not exist in America/New_York"):
        send_time("2026-03-08T02:30", "America/New_York", now=march)
    assert send_time("2026-03-08T03:30", "America/New_York", now=march).hour == 7  # EDT: -4


# --- the flow ------------------------------------------------------------------------------


@pytest.fixture
def deferring(settings):
    settings.TASKS = DUMMY
    settings.MPM_FREQUENCY_CAP_HOURS = 0
    yield start_scheduled_task.get_backend()


def booked(backend):
    return [r for r in backend.results if r.task.func is start_scheduled_task.func]


def test_scheduling_from_the_confirmation_queues_now_and_books_the_start(
    client, campaign, provider, deferring, django_capture_on_commit_callbacks
):
    client.force_login(user_with(*ALL))
    phones = numbers(3)
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            reverse("campaigns:send", args=[campaign.pk]),
            {
                "numbers": "\n".join(phones),
                "schedule": "yes",
                "send_at": (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
                "time_zone": "UTC",
            },
        )
    assert answer.status_code == 302
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.SCHEDULED and campaign.send_time_zone == "UTC"
    assert Message.objects.filter(campaign=campaign, state="queued").count() == 3
    [start] = booked(deferring)
    assert start.task.run_after == campaign.send_at
    assert start.args == [campaign.pk, campaign.send_at.isoformat()]
    assert provider.requests == []  # nothing goes before its time

    page = client.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert "Goes out at" in page and "(UTC)" in page

    for _ in phones:
        provider.answer()
    start_scheduled_task.call(*start.args)  # the time has come
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.COMPLETED
    assert sorted(r.to for r in provider.requests) == sorted(phones)


def test_a_bad_time_on_the_confirmation_says_why_and_queues_nothing(client, campaign, deferring):
    client.force_login(user_with(*ALL))
    answer = client.post(
        reverse("campaigns:send", args=[campaign.pk]),
        {"numbers": numbers(1)[0], "schedule": "yes", "send_at": "2020-01-01T10:00",
         "time_zone": "Asia/Kolkata"},
    )  # fmt: skip
    assert answer.status_code == 400
    assert "send time: it has passed already" in answer.content.decode()
    assert not Message.objects.exists() and booked(deferring) == []


@pytest.fixture
def schedule(django_capture_on_commit_callbacks):
    """Schedule as the confirmation does, its start booked once the transaction commits."""

    def schedule(campaign, phones, when, *, time_zone="Asia/Kolkata", local_time=""):
        with django_capture_on_commit_callbacks(execute=True):
            background.campaign_queue_and_schedule(
                campaign,
                [background.recipients.RecipientInput(p, line=n) for n, p in enumerate(phones, 1)],
                send_at=when,
                time_zone=time_zone,
                local_time=local_time,
            )

    return schedule


@pytest.fixture
def schedule_local(schedule):
    """For a local time in each recipient's own zone: it starts where that comes first."""

    def schedule_local(campaign, phones, local):
        when = send_time(local, "Pacific/Kiritimati")
        schedule(campaign, phones, when, time_zone="Pacific/Kiritimati", local_time=local)

    return schedule_local


@pytest.fixture
def reschedule(django_capture_on_commit_callbacks):
    def reschedule(campaign, when):
        with django_capture_on_commit_callbacks(execute=True):
            background.campaign_reschedule(campaign, send_at=when, time_zone="UTC")

    return reschedule


def test_rescheduled_cancelled_or_edited_the_old_tasks_do_nothing(
    campaign, provider, deferring, schedule, reschedule
):
    first = timezone.now() + timedelta(hours=2)
    schedule(campaign, numbers(2), first)
    reschedule(campaign, first + timedelta(hours=1))
    stale, fresh = booked(deferring)
    assert "no longer scheduled" in start_scheduled_task.call(*stale.args)
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.SCHEDULED

    draft_save(state=state_from_campaign(campaign), campaign=campaign)  # edited
    edited = Campaign.objects.get(pk=campaign.pk)
    assert edited.state == Campaign.State.DRAFT and edited.send_at is None
    assert "no longer scheduled" in start_scheduled_task.call(*fresh.args)
    assert set(Message.objects.values_list("state", flat=True)) == {"skipped"}
    assert provider.requests == []

    schedule(edited, numbers(2), first)  # scheduled again: its recipients queued again
    assert Message.objects.filter(state="queued").count() == 2
    assert campaign_unschedule(edited) == 2
    assert "no longer scheduled" in start_scheduled_task.call(*booked(deferring)[-1].args)
    assert provider.requests == []


def test_the_recovery_starts_a_campaign_whose_start_was_lost(
    campaign, deferring, settings, schedule
):
    settings.MPM_RECOVERY_INTERVAL = 30
    when = timezone.now() + timedelta(minutes=5)
    schedule(campaign, numbers(1), when)
    deferring.clear()  # the booked start is lost (a queue emptied by hand, say)
    assert scheduled_heal(start_task=start_scheduled_task, now=when) == []  # not overdue yet
    assert scheduled_heal(start_task=start_scheduled_task, now=when + timedelta(seconds=31)) == [
        campaign.pk
    ]
    [start] = booked(deferring)
    assert start.args == [campaign.pk, campaign.send_at.isoformat()]


def test_a_backend_that_cannot_wait_refuses_to_schedule_saying_why(campaign, schedule):
    with pytest.raises(background.CampaignNotRunnable, match="cannot run a task later"):
        schedule(campaign, numbers(1), timezone.now() + timedelta(hours=1))
    assert not Message.objects.exists()


def test_a_scheduled_segment_is_evaluated_at_its_time_with_consent_honoured(
    campaign, provider, deferring, settings, django_capture_on_commit_callbacks
):
    """The done-when's shape: a segment, scheduled; whoever matches it then and opted in."""
    settings.MPM_CONSENT_REQUIRED = True
    pune, later, no_consent, elsewhere = numbers(4)
    for phone, city in ((pune, "Pune"), (later, "Pune"), (elsewhere, "Kochi")):
        consent_record(phone, Consent.OPTED_IN, Provenance(ConsentEvent.Source.IMPORT))
        Contact.objects.filter(phone=phone).update(attributes={"city": city})
    Contact.objects.filter(phone=later).update(attributes={"city": "Mumbai"})  # not yet
    contact_for(no_consent)
    Contact.objects.filter(phone=no_consent).update(attributes={"city": "Pune"})
    segment = Segment.objects.create(
        name="Pune", rules=[{"op": "equals", "attribute": "city", "value": "Pune"}]
    )
    with django_capture_on_commit_callbacks(execute=True):
        background.campaign_schedule_audience(
            campaign, segment=segment, send_at=timezone.now() + timedelta(days=1), time_zone="UTC"
        )
    assert not Message.objects.exists()  # read at its time, not now
    Contact.objects.filter(phone=later).update(attributes={"city": "Pune"})  # moved meanwhile

    provider.answer()
    provider.answer()
    [start] = booked(deferring)
    start_scheduled_task.call(*start.args)
    assert sorted(r.to for r in provider.requests) == sorted([pune, later])
    assert Message.objects.get(to=no_consent).state == Message.State.SKIPPED
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.COMPLETED


# --- at a local time in each recipient's own zone ------------------------------------------


def test_each_recipients_local_time_follows_their_zone_and_its_clock_changes():
    """10:00 on 2027-03-28, the day Berlin moves to summer time (New York moved on the 14th)."""
    berlin, kolkata, new_york = "+4915123456789", "+919876543210", "+12125550123"
    contact_for(berlin)
    Contact.objects.filter(phone=berlin).update(time_zone="Europe/Berlin")
    times = local_send_times("2027-03-28T10:00", [berlin, kolkata, new_york])
    assert times == {
        berlin: datetime(2027, 3, 28, 8, 0, tzinfo=UTC),  # CEST, +2 since 02:00 that day
        kolkata: datetime(2027, 3, 28, 4, 30, tzinfo=UTC),
        new_york: datetime(2027, 3, 28, 14, 0, tzinfo=UTC),  # EDT, guessed from +1 212
    }
    assert local_send_times("2027-03-27T10:00", [berlin])[berlin].hour == 9  # CET the day before


def test_a_local_time_schedule_starts_first_and_each_message_waits_for_its_own(
    campaign, provider, deferring, schedule_local
):
    berlin, kolkata = "+4915123456789", "+919876543210"
    contact_for(berlin)
    Contact.objects.filter(phone=berlin).update(time_zone="Europe/Berlin")
    local = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT10:00")
    schedule_local(campaign, [berlin, kolkata], local)
    campaign.refresh_from_db()
    assert campaign.send_local_time == local
    assert campaign.send_at == send_time(local, "Pacific/Kiritimati")  # where 10:00 comes first
    waits = dict(Message.objects.values_list("to", "next_attempt_at"))
    assert waits == local_send_times(local, [berlin, kolkata])

    [start] = booked(deferring)
    start_scheduled_task.call(*start.args)  # it starts: nobody's 10:00 has come yet
    assert provider.requests == []
    assert Campaign.objects.get(pk=campaign.pk).state == Campaign.State.SENDING
    [comeback] = [r for r in deferring.results if r.task.func is send_campaign_task.func]
    assert comeback.task.run_after == waits[kolkata]  # India's 10:00 comes before Berlin's

    Message.objects.filter(to=kolkata).update(next_attempt_at=timezone.now())  # it is 10:00 there
    provider.answer()
    send_campaign_task.call(campaign.pk)
    assert [r.to for r in provider.requests] == [kolkata]
    assert Message.objects.get(to=berlin).state == Message.State.QUEUED


# --- a scheduled file -------------------------------------------------------------------------


def uploaded(client, campaign, phones, settings, tmp_path):
    """A CSV uploaded on the send page and checked (in the request: a small file)."""
    from io import BytesIO

    from campaigns.models import RecipientUpload

    settings.MEDIA_ROOT = str(tmp_path / "media")
    client.force_login(user_with(*ALL))
    file = BytesIO(("phone\n" + "\n".join(phones) + "\n").encode())
    file.name = "customers.csv"
    client.post(reverse("campaigns:send", args=[campaign.pk]), {"csv_file": file})
    upload = RecipientUpload.objects.get()
    return upload, reverse("campaigns:upload", args=[campaign.pk, upload.pk])


def test_a_checked_file_can_be_scheduled_and_goes_out_at_its_time(
    client, campaign, provider, deferring, settings, tmp_path, django_capture_on_commit_callbacks
):
    phones = numbers(3)
    _, url = uploaded(client, campaign, phones, settings, tmp_path)
    page = client.get(url).content.decode()
    assert "Or schedule it for later" in page and f'action="{url}"' in page

    tomorrow = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            url, {"schedule": "yes", "send_at": tomorrow, "time_zone": "UTC"}, follow=True
        )
    assert "3 recipient(s) queued for sending. They go out at the scheduled time." in (
        answer.content.decode()
    )
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.SCHEDULED
    assert Message.objects.filter(campaign=campaign, state="queued").count() == 3
    [start] = booked(deferring)
    assert start.task.run_after == campaign.send_at
    assert provider.requests == []

    for _ in phones:
        provider.answer()
    start_scheduled_task.call(*start.args)
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.COMPLETED
    assert sorted(r.to for r in provider.requests) == sorted(phones)


def test_a_bad_time_for_a_file_says_why_and_queues_nothing(
    client, campaign, deferring, settings, tmp_path
):
    _, url = uploaded(client, campaign, numbers(1), settings, tmp_path)
    answer = client.post(
        url, {"schedule": "yes", "send_at": "2020-01-01T10:00", "time_zone": "Asia/Kolkata"}
    )
    assert answer.status_code == 400
    assert "send time: it has passed already" in answer.content.decode()
    assert not Message.objects.exists() and booked(deferring) == []
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.DRAFT


@pytest.mark.parametrize("meanwhile", ["cancelled", "started"])
def test_a_file_still_being_queued_follows_what_happened_to_its_schedule(
    client, campaign, provider, deferring, settings, tmp_path, meanwhile,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    from campaigns.tasks import queue_upload_task

    phones = numbers(2)
    upload, _ = uploaded(client, campaign, phones, settings, tmp_path)
    settings.MPM_UPLOAD_INLINE_BYTES = 0  # confirmed: queued by a worker, later
    with django_capture_on_commit_callbacks(execute=True):
        background.upload_confirm(
            upload, send_at=timezone.now() + timedelta(hours=1), time_zone="UTC"
        )
    [start] = booked(deferring)
    if meanwhile == "cancelled":
        campaign_unschedule(campaign)
    else:
        start_scheduled_task.call(*start.args)  # its time came first: nothing was queued yet
    campaign.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        queue_upload_task.call(upload.pk)

    campaign.refresh_from_db()
    messages = Message.objects.filter(campaign=campaign)
    if meanwhile == "cancelled":
        assert campaign.state == Campaign.State.DRAFT
        assert {m.state for m in messages} == {"skipped"}
    else:  # started again: the rest is sent, not left waiting
        assert campaign.state == Campaign.State.SENDING
        assert [r.task.func for r in deferring.results][-1] is send_campaign_task.func
        assert messages.filter(state="queued").count() == 2
