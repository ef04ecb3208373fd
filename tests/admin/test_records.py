"""Messages and send attempts: read-only records that explain each provider answer."""

import pytest
from django.urls import reverse

from campaigns import services
from campaigns.models import Message
from tests.admin.helpers import ASHA
from tests.conftest import TEST_API_KEY
from tests.support.factories import add_section, make_campaign

pytestmark = pytest.mark.django_db


def test_messages_and_attempts_are_read_only(admin_client, records):
    message, _ = records
    assert admin_client.get(reverse("admin:campaigns_message_add")).status_code == 403
    assert admin_client.get(reverse("admin:campaigns_sendattempt_add")).status_code == 403
    delete = reverse("admin:campaigns_message_delete", args=[message.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    page = admin_client.get(reverse("admin:campaigns_message_change", args=[message.pk]))
    assert 'name="to"' not in page.content.decode()
    assert Message.objects.filter(pk=message.pk).exists()


def test_message_page_explains_the_code_and_shows_its_attempts(admin_client, provider, campaign):
    provider.answer(
        status=401,
        json={"code": "WA401", "message": "Phone number is not present", "data": {}, "error": {}},
    )
    services.campaign_send_test(campaign, to=ASHA)
    message = Message.objects.get()
    text = admin_client.get(
        reverse("admin:campaigns_message_change", args=[message.pk])
    ).content.decode()
    assert "Check KALEYRA_SENDER" in text
    assert "&quot;messaging_object&quot;: {" in text  # the request body, pretty-printed
    assert TEST_API_KEY not in text


def test_attempt_page_shows_the_exchange_and_what_to_do(admin_client, records):
    _, attempt = records
    text = admin_client.get(
        reverse("admin:campaigns_sendattempt_change", args=[attempt.pk])
    ).content.decode()
    assert "Kaleyra accepted the message." in text
    assert "AXXXXXXXXXXXXXXXXXXX" in text
    assert "&quot;to&quot;: &quot;+919876543210&quot;" in text  # the request, pretty-printed


def test_message_list_filters_by_campaign(admin_client, records, campaign):
    other = make_campaign(name="Other")
    add_section(other, "More", 1)
    response = admin_client.get(
        reverse("admin:campaigns_message_changelist"), {"campaign__id__exact": campaign.pk}
    )
    assert response.status_code == 200
    assert [m.pk for m in response.context["cl"].result_list] == [records[0].pk]
