"""Fixtures for the admin tests: one test send's records, every admin page's URL, and campaigns
past their draft."""

import pytest
from django.urls import reverse

from campaigns import services
from campaigns.models import Campaign, Message, SendAttempt
from tests.admin.helpers import ASHA, send_test_url, send_url
from tests.support.factories import make_campaign, make_message


@pytest.fixture
def records(provider, campaign):
    """One test send: a Message with its SendAttempt, as the provider answered it."""
    provider.answer()
    services.campaign_send_test(campaign, to=ASHA)
    return Message.objects.get(), SendAttempt.objects.get()


@pytest.fixture
def admin_urls(records, campaign):
    message, attempt = records
    section = campaign.sections.first()
    objects = {
        "product": campaign.thumbnail_product,
        "messagetemplate": campaign.template,
        "campaign": campaign,
        "section": section,
        "message": message,
        "sendattempt": attempt,
    }
    urls = []
    for model, obj in objects.items():
        urls.append(reverse(f"admin:campaigns_{model}_changelist"))
        urls.append(reverse(f"admin:campaigns_{model}_change", args=[obj.pk]))
    urls += [reverse("admin:campaigns_campaign_add"), send_test_url(campaign), send_url(campaign)]
    return urls


@pytest.fixture
def campaign_in(db):
    """A campaign moved to `state` the way the send services move it, with one real message."""
    moves = {
        Campaign.State.SENDING: lambda rows: rows.start(),
        Campaign.State.PAUSED: lambda rows: (rows.start(), rows.pause("Paused by hand.")),
        Campaign.State.COMPLETED: lambda rows: (rows.start(), rows.complete()),
        Campaign.State.CANCELLED: lambda rows: rows.cancel(),
    }

    def make(state):
        campaign = make_campaign(header_value="cart")
        make_message(campaign, ASHA)
        moves[state](Campaign.objects.filter(pk=campaign.pk))
        campaign.refresh_from_db()
        assert campaign.state == state
        return campaign

    return make
