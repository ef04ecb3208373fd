"""Fixtures for the admin tests: one test send's records, and every admin page's URL."""

import pytest
from django.urls import reverse

from campaigns import services
from campaigns.models import Message, SendAttempt
from tests.admin.helpers import ASHA, send_test_url, send_url


@pytest.fixture
def records(provider, campaign):
    """One test send: a Message with its SendAttempt, as the provider answered it."""
    provider.set_response()
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
