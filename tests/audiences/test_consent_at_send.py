"""Consent at send time (MPM_CONSENT_REQUIRED, the default): marketing goes only to contacts
whose ledger says opted in, on every send path; a list that carries its own proof
(MPM_LISTS_CARRY_CONSENT) records its opt-ins as it is queued; an opt-out always stands."""

import io

import pytest
from django.core.management import call_command

from campaigns.audiences.consent import Provenance, consent_record
from campaigns.models import Consent, ConsentEvent, Contact, Message, MessageTemplate
from campaigns.recipients import RecipientInput, campaign_queue_recipients
from campaigns.recipients.eligibility import NO_CONSENT_SKIP_REASON, OPT_OUT_SKIP_REASON
from campaigns.selectors import campaign_for_sending
from campaigns.services import CampaignNotSendable, campaign_send, campaign_send_test
from tests.api.conftest import ALL, token_of, user_with
from tests.support.factories import make_campaign, make_template

pytestmark = pytest.mark.django_db
ASHA, RAVI, MEERA = "+919876543210", "+919876543211", "+919811112345"
FORM = Provenance(ConsentEvent.Source.FORM, ref="https://shop.example/optin")


@pytest.fixture(autouse=True)
def consent_required(settings):
    settings.MPM_CONSENT_REQUIRED = True
    settings.MPM_FREQUENCY_CAP_HOURS = 0


def queue(campaign, *phones):
    return campaign_queue_recipients(
        campaign, [RecipientInput(p, line=n) for n, p in enumerate(phones, 1)]
    )


def states(campaign) -> dict[str, tuple[str, str]]:
    return {m.to: (m.state, m.detail) for m in Message.objects.filter(campaign=campaign)}


def test_only_opted_in_contacts_are_sent_to_the_others_skipped_with_the_reason(provider, campaign):
    provider.answer()
    consent_record(ASHA, Consent.OPTED_IN, FORM)
    consent_record(RAVI, Consent.OPTED_IN, FORM)
    consent_record(RAVI, Consent.OPTED_OUT, Provenance(ConsentEvent.Source.WHATSAPP_STOP))
    report = queue(campaign, ASHA, RAVI, MEERA)
    assert report.queued == 1 and report.skipped_count == 2
    campaign_send(campaign)
    assert [r.to for r in provider.requests] == [ASHA]
    assert states(campaign) == {
        ASHA: ("accepted", ""),
        RAVI: ("skipped", OPT_OUT_SKIP_REASON),
        MEERA: ("skipped", NO_CONSENT_SKIP_REASON),
    }


def test_back_in_after_an_opt_out_is_sent_to_again(provider, campaign):
    provider.answer()
    for status in (Consent.OPTED_IN, Consent.OPTED_OUT, Consent.OPTED_IN):
        consent_record(ASHA, status, FORM)
    queue(campaign, ASHA)
    campaign_send(campaign)
    assert states(campaign)[ASHA][0] == "accepted"


def test_a_list_that_carries_its_proof_records_its_opt_ins_and_an_opt_out_stands(
    provider, campaign, settings
):
    settings.MPM_LISTS_CARRY_CONSENT = True
    provider.answer()
    provider.answer()
    consent_record(RAVI, Consent.OPTED_OUT, Provenance(ConsentEvent.Source.WHATSAPP_STOP))
    queue(campaign, ASHA, RAVI, MEERA)
    campaign_send(campaign)
    assert sorted(r.to for r in provider.requests) == [MEERA, ASHA]
    assert states(campaign)[RAVI] == ("skipped", OPT_OUT_SKIP_REASON)
    asha = Contact.objects.get(phone=ASHA)
    assert asha.consent == Consent.OPTED_IN and asha.time_zone
    [event] = asha.consent_events.all()
    assert (event.source, event.source_ref) == ("recipient_list", f"campaign {campaign.pk}")
    assert Contact.objects.get(phone=RAVI).consent == Consent.OPTED_OUT


def test_a_utility_template_is_not_held_to_marketing_consent(provider):
    provider.answer()
    template = make_template(category=MessageTemplate.Category.UTILITY)
    campaign = campaign_for_sending(make_campaign(template=template).pk)
    queue(campaign, MEERA)
    campaign_send(campaign)
    assert states(campaign)[MEERA][0] == "accepted"


def test_a_test_send_needs_an_opt_in_and_says_how_to_record_one(provider, campaign):
    with pytest.raises(CampaignNotSendable, match="no opt-in is recorded for this number"):
        campaign_send_test(campaign, to=MEERA)
    assert provider.requests == []
    provider.answer()
    consent_record(MEERA, Consent.OPTED_IN, FORM)
    assert campaign_send_test(campaign, to=MEERA).accepted


def test_the_command_skips_recipients_without_consent(provider, campaign):
    provider.answer()
    consent_record(ASHA, Consent.OPTED_IN, FORM)
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "send_campaign", str(campaign.pk), "--to", f"{ASHA},{MEERA}", stdout=out, stderr=err
    )
    assert "accepted 1, failed 0, skipped 1" in out.getvalue()
    assert NO_CONSENT_SKIP_REASON in out.getvalue() + err.getvalue()
    assert states(campaign)[MEERA] == ("skipped", NO_CONSENT_SKIP_REASON)


def test_the_api_answers_which_recipients_were_skipped_for_consent(provider, client):
    provider.answer()
    campaign = make_campaign()
    consent_record(ASHA, Consent.OPTED_IN, FORM)
    token = token_of(user_with(*ALL))
    answer = client.post(
        f"/api/v1/campaigns/{campaign.pk}/send",
        {"recipients": [{"phone": ASHA}, {"phone": MEERA}]},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 202, answer.content
    body = answer.json()
    assert body["queued"] == 1
    assert body["skipped_recipients"] == [{"phone": MEERA, "reason": NO_CONSENT_SKIP_REASON}]
