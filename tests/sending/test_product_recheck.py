"""Products checked again just before they are sent: a catalog change (a feed import, an admin
edit) stops the sending campaigns that use a product no longer sendable, naming it; a scheduled
campaign whose product went out of stock stops when its time comes; an always-on campaign's
trigger is refused naming the product. Nothing is sent in any of these cases."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Message, Product
from campaigns.recipients import RecipientInput, campaign_queue_recipients
from campaigns.services import CampaignNotSendable, campaign_send, campaign_start, run_options
from campaigns.services.catalog_imports import catalog_import_source
from campaigns.tasks import start_scheduled_task
from tests.sending.test_engine import numbers
from tests.support.factories import add_section_with, make_campaign, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def shirt_campaign(settings):
    settings.MPM_FREQUENCY_CAP_HOURS = 0
    shirt = make_product(retailer_id="SHIRT-1")
    campaign = make_campaign(sections=())
    add_section_with(campaign, "Shirts", [shirt])
    campaign_queue_recipients(
        campaign, [RecipientInput(p, line=n) for n, p in enumerate(numbers(3))]
    )
    return campaign


def feed_without_the_shirt(tmp_path, campaign) -> str:
    """The campaign's thumbnail still in the feed, the shirt out of stock."""
    thumbnail = campaign.thumbnail_product
    path = tmp_path / "feed.csv"
    path.write_text(
        "id,title,availability,price\n"
        f"{thumbnail.retailer_id},{thumbnail.name},in stock,10 INR\n"
        "SHIRT-1,Shirt,out of stock,10 INR\n"
    )
    return str(path)


def test_a_feed_import_stops_a_sending_campaign_whose_product_went_out_of_stock(
    shirt_campaign, tmp_path, provider
):
    campaign_start(shirt_campaign)
    other = make_campaign(name="Unaffected")
    campaign_start(other)
    catalog_import_source(feed_without_the_shirt(tmp_path, shirt_campaign), keep_missing=True)
    shirt_campaign.refresh_from_db()
    assert shirt_campaign.state == Campaign.State.PAUSED
    assert shirt_campaign.paused_reason == (
        "Stopped: Product SHIRT-1 in section 1 is out of stock."
    )
    assert Campaign.objects.get(pk=other.pk).state == Campaign.State.SENDING
    # Resumed before the sections are fixed: refused again, nothing sent.
    with pytest.raises(CampaignNotSendable, match="SHIRT-1"):
        campaign_send(shirt_campaign, resume=True, options=run_options(rate=0))
    assert provider.requests == []
    assert Message.objects.filter(campaign=shirt_campaign, state="queued").count() == 3


def test_a_product_left_out_of_a_full_feed_stops_its_campaign_as_inactive(
    shirt_campaign, tmp_path, provider
):
    campaign_start(shirt_campaign)
    path = tmp_path / "feed.csv"
    thumbnail = shirt_campaign.thumbnail_product
    path.write_text(f"id,title,availability,price\n{thumbnail.retailer_id},T,in stock,1 INR\n")
    catalog_import_source(str(path))
    shirt_campaign.refresh_from_db()
    assert shirt_campaign.paused_reason == "Stopped: Product SHIRT-1 in section 1 is inactive."
    assert Product.objects.filter(retailer_id="SHIRT-1").exists()  # never deleted


def test_an_admin_edit_that_makes_a_product_unavailable_stops_its_campaign(shirt_campaign, client):
    campaign_start(shirt_campaign)
    client.force_login(User.objects.create_superuser("staff", password="x"))
    shirt = Product.objects.get(retailer_id="SHIRT-1")
    change = reverse("admin:campaigns_product_change", args=[shirt.pk])
    form = {
        "retailer_id": "SHIRT-1",
        "name": "Shirt",
        "price": "10",
        "currency": "INR",
        "availability": "discontinued",
        "condition": "new",
        "active": "on",
    }
    answer = client.post(change, form, follow=True)
    assert "SHIRT-1 can no longer be sent: 1 sending campaign(s)" in answer.content.decode()
    shirt_campaign.refresh_from_db()
    assert shirt_campaign.paused_reason == "Stopped: Product SHIRT-1 in section 1 is discontinued."


def test_a_scheduled_campaign_whose_product_went_out_of_stock_stops_at_its_time(
    shirt_campaign, provider
):
    send_at = timezone.now()
    Campaign.objects.filter(pk=shirt_campaign.pk).update(
        state=Campaign.State.SCHEDULED, send_at=send_at
    )
    Product.objects.filter(retailer_id="SHIRT-1").update(availability="out of stock")
    result = start_scheduled_task.call(shirt_campaign.pk, send_at.isoformat())
    assert "SHIRT-1" in result
    shirt_campaign.refresh_from_db()
    assert shirt_campaign.state == Campaign.State.PAUSED
    assert "Product SHIRT-1 in section 1 is out of stock." in shirt_campaign.paused_reason
    assert provider.requests == []
