"""The issue's "done when", through the pages a marketer uses: import a contact CSV, build the
segment "read the Diwali campaign, no order since", schedule a campaign for tomorrow 10:00 in
each customer's own zone, and see it go out at each one's 10:00 (a fake clock: their waits
brought forward), to the consenting segment only."""

import io
import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.localtime import guess_time_zone, local_send_times
from campaigns.models import Campaign, Consent, Contact, ContactImport, Message, Order, Segment
from campaigns.tasks import send_campaign_task, start_scheduled_task
from tests.api.conftest import ALL, user_with
from tests.support.factories import make_campaign

pytestmark = pytest.mark.django_db
DUMMY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
ASHA, RAVI, LENA, SAM = "+919876543210", "+919876543211", "+4915123456789", "+5511987654321"
CONTACTS = f"""\ufeffphone;name;time_zone;city;opted_in
{ASHA};Asha Kulkarni;;Pune;TRUE
{RAVI};Ravi Menon;Asia/Kolkata;Kochi;TRUE
{LENA};Lena Vogel;Europe/Berlin;Berlin;yes
{SAM};Sam Costa;;São Paulo;no
not a number;Nobody;;;yes
"""


def url(name, *args) -> str:
    return reverse(f"campaigns:{name}", args=args)


def test_import_segment_schedule_at_each_ones_ten_and_consent_honoured(
    client, provider, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.TASKS = DUMMY
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.MPM_LISTS_CARRY_CONSENT = True  # the file's opted_in column is its proof
    settings.MPM_CONSENT_REQUIRED = True
    settings.MPM_FREQUENCY_CAP_HOURS = 0
    audiences = ("add_contact", "change_contact", "view_contact", "view_segment", "add_segment",
                 "change_segment")  # fmt: skip
    client.force_login(user_with(*ALL, *audiences))

    # 1. The contact CSV (BOM, semicolons, a bad line): dry run, then confirmed.
    file = io.BytesIO(CONTACTS.encode())
    file.name = "customers.csv"
    client.post(url("contact-import-upload"), {"csv_file": file, "mode": "add"})
    job = ContactImport.objects.get()
    preview = client.get(url("contact-import", job.pk)).content.decode()
    assert "Line 6: phone:" in preview and Contact.objects.count() == 0
    client.post(url("contact-import", job.pk))
    assert Contact.objects.count() == 4
    assert Contact.objects.get(phone=LENA).time_zone == "Europe/Berlin"
    assert Contact.objects.get(phone=ASHA).time_zone == guess_time_zone(ASHA) != ""

    # 2. Diwali went to all four and was read; Asha ordered since, Lena long before.
    diwali = make_campaign(name="Diwali")
    sent = timezone.now() - timedelta(days=3)
    for phone in (ASHA, RAVI, LENA, SAM):
        Message.objects.create(campaign=diwali, to=phone, state=Message.State.READ, claimed_at=sent)
    Order.objects.create(from_phone=ASHA, received_at=timezone.now() - timedelta(days=1))
    Order.objects.create(from_phone=LENA, received_at=timezone.now() - timedelta(days=30))
    rules = [
        {"op": "read_campaign", "campaign": diwali.pk},
        {"op": "ordered_since_campaign", "campaign": diwali.pk, "negate": True},
    ]
    live = client.get(url("segment-count"), {"rules": json.dumps(rules)}).json()
    assert (live["count"], live["opted_in"]) == (3, 2)  # Ravi, Lena and Sam; Sam said no
    client.post(
        url("segment-new"), {"name": "Diwali readers, no order", "rules": json.dumps(rules)}
    )
    segment = Segment.objects.get()

    # 3. The follow-up, confirmed for tomorrow 10:00 in each customer's own zone.
    follow_up = make_campaign(name="Diwali follow-up")
    confirm = client.post(url("send", follow_up.pk), {"audience_segment": segment.pk})
    text = confirm.content.decode()
    assert 'data-plan="count">3<' in text and 'data-plan="without-consent">1<' in text  # Sam
    tomorrow = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT10:00")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            url("send", follow_up.pk),
            {"audience_segment": segment.pk, "schedule": "yes", "send_at": tomorrow,
             "time_zone": "Asia/Kolkata", "local_to_each": "yes"},
        )  # fmt: skip
    follow_up.refresh_from_db()
    assert follow_up.state == Campaign.State.SCHEDULED and not provider.requests

    # 4. Its start comes (where 10:00 comes first): each message waits for its own 10:00.
    backend = start_scheduled_task.get_backend()
    [start] = [r for r in backend.results if r.task.func is start_scheduled_task.func]
    start_scheduled_task.call(*start.args)
    assert not provider.requests
    queued = Message.objects.filter(campaign=follow_up, state=Message.State.QUEUED)
    waits = dict(queued.values_list("to", "next_attempt_at"))
    assert waits == local_send_times(tomorrow, [RAVI, LENA])  # Sam: no consent, not queued
    assert Message.objects.get(campaign=follow_up, to=SAM).state == Message.State.SKIPPED
    # A segment is our own contacts: their consent decides, never MPM_LISTS_CARRY_CONSENT.
    assert Contact.objects.get(phone=SAM).consent == Consent.UNKNOWN

    # 5. India's 10:00 (fake clock), then Berlin's: each goes at its own.
    for phone in (RAVI, LENA):
        Message.objects.filter(campaign=follow_up, to=phone).update(next_attempt_at=timezone.now())
        provider.answer()
        send_campaign_task.call(follow_up.pk)
    assert [r.to for r in provider.requests] == [RAVI, LENA]
    follow_up.refresh_from_db()
    assert follow_up.state == Campaign.State.COMPLETED
    assert not Message.objects.filter(campaign=follow_up, to=ASHA).exists()  # she ordered
