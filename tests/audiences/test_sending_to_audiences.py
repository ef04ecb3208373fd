"""Sending to a list or a segment: queued by the send task as it starts (the segment evaluated
then, once), each contact's send-column attributes as their own values, the count shown before
equal to the recipients sent to; the confirmation's consent and frequency-cap exclusions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.audiences.consent import Provenance, consent_record
from campaigns.models import Campaign, Consent, Contact, ContactList, Message, Segment
from campaigns.recipients import audience_contacts, audience_summary
from campaigns.services import background
from campaigns.services.campaigns import campaign_queue_audience
from tests.support.factories import make_campaign

pytestmark = pytest.mark.django_db
IMPORT = Provenance("import", ref="contacts.csv")
PUNE = [f"+9198000000{n:02d}" for n in range(1, 13)]
MUMBAI = ["+919811111101", "+919811111102"]


def seed():
    for phone in PUNE + MUMBAI:
        consent_record(phone, Consent.OPTED_IN, IMPORT)
    Contact.objects.filter(phone__in=PUNE).update(attributes={"city": "Pune", "header": "Diwali"})
    Contact.objects.filter(phone__in=MUMBAI).update(attributes={"city": "Mumbai"})
    return Segment.objects.create(
        name="Pune", rules=[{"op": "equals", "attribute": "city", "value": "Pune"}]
    )


def test_the_segments_count_is_the_recipients_sent_to(
    provider, campaign, django_capture_on_commit_callbacks
):
    provider.answer()
    segment = seed()
    shown = audience_summary(campaign, audience_contacts(segment=segment))
    assert (shown.count, shown.without_consent, shown.capped) == (12, 0, 0)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        background.campaign_send_to_audience(campaign, segment=segment)
    assert not Message.objects.exists()  # nothing queued in the request
    # The segment is evaluated when the send starts: a contact matching by then is included.
    Contact.objects.filter(phone=MUMBAI[0]).update(attributes={"city": "Pune"})
    for callback in callbacks:
        callback()
    sent = sorted(r.json()["messaging_object"]["to"] for r in provider.requests)
    assert sent == sorted([*PUNE, MUMBAI[0]])
    assert len(sent) == audience_contacts(segment=segment).count() == 13
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.COMPLETED
    assert campaign.audience_queued_at is not None
    # The contact's send-column attributes are its own values; other attributes are not.
    assert Message.objects.get(to=PUNE[0]).overrides == {"header": "Diwali"}
    # Queued once: the send task run again (a retry, a recovery) does not evaluate it anew.
    Contact.objects.filter(phone=MUMBAI[1]).update(attributes={"city": "Pune"})
    assert campaign_queue_audience(campaign) is None
    assert not Message.objects.filter(to=MUMBAI[1]).exists()


def test_a_list_is_sent_to_its_contacts(provider, campaign, django_capture_on_commit_callbacks):
    provider.answer()
    seed()
    vip = ContactList.objects.create(name="VIP")
    vip.contacts.add(*Contact.objects.filter(phone__in=MUMBAI))
    with django_capture_on_commit_callbacks(execute=True):
        background.campaign_send_to_audience(campaign, contact_list=vip)
    assert sorted(r.json()["messaging_object"]["to"] for r in provider.requests) == MUMBAI


def test_the_confirmation_counts_who_consent_and_the_frequency_cap_leave_out(settings):
    settings.MPM_FREQUENCY_CAP_HOURS = 24
    segment = seed()
    consent_record(PUNE[0], Consent.OPTED_OUT, Provenance("whatsapp_stop", ref="STOP"))
    Contact.objects.create(phone="+919822222201", attributes={"city": "Pune"})  # no consent
    earlier = make_campaign(name="Yesterday")
    for phone in PUNE[1:4]:
        Message.objects.create(
            campaign=earlier,
            to=phone,
            state=Message.State.DELIVERED,
            claimed_at=timezone.now() - timedelta(hours=3),
        )
    campaign = make_campaign(name="Today")
    shown = audience_summary(campaign, audience_contacts(segment=segment))
    assert (shown.count, shown.without_consent, shown.capped, shown.to_send) == (13, 2, 3, 8)


def test_exactly_one_audience(campaign):
    segment = seed()
    with pytest.raises(ValueError, match="exactly one"):
        background.campaign_send_to_audience(
            campaign, segment=segment, contact_list=ContactList.objects.create(name="x")
        )


def test_a_segment_that_cannot_be_evaluated_any_more_pauses_the_send_saying_why(
    provider, campaign, django_capture_on_commit_callbacks
):
    provider.answer()
    seed()
    vip = ContactList.objects.create(name="VIP")
    segment = Segment.objects.create(name="VIP", rules=[{"op": "in_list", "list": vip.pk}])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        background.campaign_send_to_audience(campaign, segment=segment)
    vip_id = vip.pk
    vip.delete()  # before the send starts
    for callback in callbacks:
        callback()
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.PAUSED
    assert f"condition 1: list {vip_id} does not exist" in campaign.paused_reason
    assert not provider.requests and campaign.audience_queued_at is None
