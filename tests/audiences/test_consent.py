"""The consent ledger: append-only, and each contact's consent is what its ledger says last."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from campaigns.audiences.consent import (
    Provenance,
    consent_record,
    consent_record_many,
    contact_for,
    derived_consent,
)
from campaigns.localtime import guess_time_zone
from campaigns.models import Consent, ConsentEvent, Contact

pytestmark = pytest.mark.django_db
ASHA = "+919876543210"
FORM = Provenance("form", ref="https://shop.example/optin", ip_address="203.0.113.7")


def test_in_out_and_back_in_each_leaves_an_event_and_the_last_one_counts():
    consent_record(ASHA, Consent.OPTED_IN, FORM)
    assert Contact.objects.get(phone=ASHA).consent == Consent.OPTED_IN
    consent_record(ASHA, Consent.OPTED_OUT, Provenance("whatsapp_stop", ref="STOP"))
    assert Contact.objects.get(phone=ASHA).consent == Consent.OPTED_OUT
    consent_record(ASHA, Consent.OPTED_IN, FORM)
    contact = Contact.objects.get(phone=ASHA)
    assert contact.consent == Consent.OPTED_IN
    assert [e.status for e in contact.consent_events.all()] == ["opted_in", "opted_out", "opted_in"]
    assert contact.consent_events.first().ip_address == "203.0.113.7"


def test_an_event_recorded_with_an_earlier_time_does_not_overturn_a_later_one():
    now = timezone.now()
    consent_record(ASHA, Consent.OPTED_OUT, Provenance("admin"), when=now)
    consent_record(ASHA, Consent.OPTED_IN, Provenance("import"), when=now - timedelta(days=3))
    contact = Contact.objects.get(phone=ASHA)
    assert contact.consent == Consent.OPTED_OUT == derived_consent(contact).status
    assert contact.consent_at == now


def test_the_ledger_cannot_be_edited_or_deleted():
    event = consent_record(ASHA, Consent.OPTED_IN, FORM)
    event.status = Consent.OPTED_OUT
    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    with pytest.raises(TypeError, match="append-only"):
        ConsentEvent.objects.filter(pk=event.pk).update(status=Consent.OPTED_OUT)
    with pytest.raises(TypeError, match="append-only"):
        ConsentEvent.objects.all().delete()
    assert ConsentEvent.objects.get().status == Consent.OPTED_IN


def test_a_new_contacts_time_zone_is_guessed_from_its_number():
    winter = datetime(2026, 1, 15, 12, tzinfo=UTC)
    assert winter.astimezone(ZoneInfo(guess_time_zone(ASHA))).utcoffset() == timedelta(hours=5.5)
    assert guess_time_zone("+12125550123") == "America/New_York"
    assert guess_time_zone("not a number") == ""
    consent_record("+4915123456789", Consent.OPTED_IN, FORM)
    assert Contact.objects.get(phone="+4915123456789").time_zone == "Europe/Berlin"
    ZoneInfo(Contact.objects.get(phone="+4915123456789").time_zone)  # a name zoneinfo knows


def test_the_bulk_writer_records_one_event_each_and_never_overturns_a_later_event():
    now = timezone.now()
    consent_record(ASHA, Consent.OPTED_OUT, Provenance("whatsapp_stop"), when=now)
    contacts = [contact_for(ASHA), contact_for("+919876543211")]
    recorded = consent_record_many(
        contacts, Consent.OPTED_IN, Provenance("import", ref="list.csv"), when=now - timedelta(1)
    )
    assert recorded == 2 and ConsentEvent.objects.filter(source="import").count() == 2
    for contact in Contact.objects.all():
        assert contact.consent == derived_consent(contact).status
    assert Contact.objects.get(phone=ASHA).consent == Consent.OPTED_OUT
    assert Contact.objects.get(phone="+919876543211").consent == Consent.OPTED_IN
