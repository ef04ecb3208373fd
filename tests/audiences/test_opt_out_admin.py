"""Staff opt-outs in the admin go through the consent ledger, with the staff member as actor:
adding one records an opt-out, deleting one an opt-in."""

import pytest
from django.urls import reverse

from campaigns.models import Consent, ConsentEvent, Contact, OptOut

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
