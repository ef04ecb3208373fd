"""Staff opt-outs in the admin go through the consent ledger, with the staff member as actor:
adding one records an opt-out, deleting one an opt-in."""

import pytest
from django.urls import reverse

from campaigns.audiences.consent import Provenance, consent_record
from campaigns.models import Consent, ConsentEvent, Contact, Message, OptOut
from tests.support.factories import make_campaign, make_message

pytestmark = pytest.mark.django_db
ASHA = "+919876543210"


def test_adding_and_deleting_an_opt_out_in_the_admin_is_recorded_with_who_did_it(
    admin_client, admin_user
):
    added = admin_client.post(
        reverse("admin:campaigns_optout_add"),
        {"phone": ASHA, "reason": OptOut.Reason.MANUAL, "keyword": ""},
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    assert OptOut.objects.get().reason == OptOut.Reason.MANUAL
    event = ConsentEvent.objects.get()
    assert (event.status, event.source, event.actor) == ("opted_out", "admin", admin_user)

    opt_out = OptOut.objects.get()
    deleted = admin_client.post(
        reverse("admin:campaigns_optout_delete", args=[opt_out.pk]), {"post": "yes"}
    )
    assert deleted.status_code == 302
    assert not OptOut.objects.exists()
    contact = Contact.objects.get(phone=ASHA)
    assert contact.consent == Consent.OPTED_IN
    assert [(e.status, e.actor) for e in contact.consent_events.all()] == [
        ("opted_out", admin_user),
        ("opted_in", admin_user),
    ]


def test_the_contact_admin_records_opt_out_and_opt_in_with_the_staff_member(
    admin_client, admin_user
):
    consent_record(ASHA, Consent.OPTED_IN, Provenance("form"))
    queued = make_message(make_campaign(), ASHA, state=Message.State.QUEUED, message_id="")
    changelist = reverse("admin:campaigns_contact_changelist")
    pk = Contact.objects.get().pk
    admin_client.post(changelist, {"action": "record_opt_out", "_selected_action": [pk]})
    assert Message.objects.get(pk=queued.pk).state == Message.State.SKIPPED
    assert OptOut.objects.get().reason == OptOut.Reason.MANUAL
    response = admin_client.post(
        changelist, {"action": "record_opt_in", "_selected_action": [pk]}, follow=True
    )
    assert "1 contact(s) recorded as opted in." in response.content.decode()
    assert not OptOut.objects.exists()
    events = Contact.objects.get().consent_events.order_by("id")
    assert [(e.status, e.source, e.actor) for e in events] == [
        ("opted_in", "form", None),
        ("opted_out", "admin", admin_user),
        ("opted_in", "admin", admin_user),
    ]
    page = admin_client.get(reverse("admin:campaigns_contact_change", args=[pk]))
    assert page.status_code == 200 and "Staff, in the admin" in page.content.decode()
    ledger = admin_client.get(reverse("admin:campaigns_consentevent_changelist"))
    assert ledger.status_code == 200
    assert admin_client.get(reverse("admin:campaigns_consentevent_add")).status_code == 403
