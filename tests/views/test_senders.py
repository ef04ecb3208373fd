"""Senders in the pages: the composer's sender select (active senders only, the default chosen,
hidden with one), its preview naming the chosen sender instead of "Your business", a test send
from the chosen sender, and the campaign list and results filtered by sender."""

import re

import pytest

from campaigns.models import Campaign
from tests.support.composer import composer_data
from tests.support.factories import make_campaign, make_sender
from tests.views.test_composer import check, marketer, url

__all__ = ["marketer"]

pytestmark = pytest.mark.django_db


def sender_options(html: str) -> list[str]:
    select = re.search(r'<select name="sender".*?</select>', html, re.S)
    return re.findall(r"<option[^>]*>([^<]*)</option>", select.group(0)) if select else []


def test_with_no_sender_the_preview_says_your_business_and_there_is_nothing_to_choose(marketer):
    html = marketer.get(url("create")).content.decode()
    assert 'class="wa-business">Your business<' in html
    assert 'name="sender"' not in html or 'type="hidden" name="sender"' in html


def test_with_one_sender_its_name_shows_and_the_select_is_hidden(marketer):
    only = make_sender(display_name="Asha's Store", is_default=True)
    html = marketer.get(url("create")).content.decode()
    assert 'class="wa-business">Asha&#x27;s Store<' in html
    assert sender_options(html) == []
    assert f'type="hidden" name="sender" value="{only.pk}"' in html


def test_the_select_offers_active_senders_with_the_default_chosen(marketer):
    default = make_sender(display_name="Main brand", is_default=True)
    make_sender(display_name="Second brand")
    make_sender(display_name="Retired brand", active=False)
    html = marketer.get(url("create")).content.decode()
    options = sender_options(html)
    assert [o.split(" (")[0] for o in options] == ["Main brand", "Second brand"]
    assert re.search(rf'<option value="{default.pk}" selected>', html)
    assert 'class="wa-business">Main brand<' in html


def test_the_preview_shows_the_chosen_senders_name_and_logo(marketer):
    make_sender(display_name="Main brand", is_default=True)
    second = make_sender(display_name="Second brand", logo_url="https://example.com/logo2.png")
    campaign = make_campaign()
    preview = check(marketer, composer_data(campaign, sender=str(second.pk)))["preview"]
    assert 'class="wa-business">Second brand<' in preview
    assert 'src="https://example.com/logo2.png"' in preview
    assert "Your business" not in preview


def test_the_chosen_sender_is_saved_and_shown_again(marketer):
    make_sender(display_name="Main brand", is_default=True)
    second = make_sender(display_name="Second brand")
    campaign = make_campaign()
    response = marketer.post(url("edit", campaign.pk), composer_data(campaign, sender=second.pk))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.sender == second
    html = marketer.get(url("edit", campaign.pk)).content.decode()
    assert re.search(rf'<option value="{second.pk}" selected>', html)
    assert 'class="wa-business">Second brand<' in html
    detail = marketer.get(url("detail", campaign.pk)).content.decode()
    assert "Second brand" in detail


def test_an_inactive_sender_cannot_be_chosen(marketer):
    make_sender(is_default=True)
    make_sender()
    retired = make_sender(active=False)
    campaign = make_campaign()
    response = marketer.post(url("edit", campaign.pk), composer_data(campaign, sender=retired.pk))
    assert response.status_code == 400
    assert "That sender is not active any more; choose another." in response.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).sender is None


def test_a_draft_whose_sender_retired_shows_the_choice_even_with_one_sender_left(marketer):
    only = make_sender(display_name="Main brand", is_default=True)
    retired = make_sender(display_name="Old brand")
    campaign = make_campaign(sender=retired)
    retired.active = False
    retired.save()
    html = marketer.get(url("edit", campaign.pk)).content.decode()
    assert (
        "Old brand (" in html and "no longer sends: choose who this campaign goes out from" in html
    )
    assert sender_options(html) == [str(only)]  # shown, though there is only one
    assert 'class="wa-business">Main brand<' in html
    response = marketer.post(url("edit", campaign.pk), composer_data(campaign, sender=only.pk))
    assert response.status_code == 302
    assert Campaign.objects.get(pk=campaign.pk).sender == only


def test_a_test_send_goes_out_from_the_chosen_sender(marketer, provider, monkeypatch):
    monkeypatch.setenv("KALEYRA_API_KEY_SECOND", "second-key-1f")
    make_sender(display_name="Main brand", is_default=True)
    second = make_sender(
        display_name="Second brand",
        business_number="+919000000002",
        api_key_variable="KALEYRA_API_KEY_SECOND",
    )
    provider.answer()
    campaign = make_campaign()
    data = composer_data(campaign, sender=second.pk, action="test", to="+919876543210")
    marketer.post(url("edit", campaign.pk), data)
    [request] = provider.requests
    assert "/whatsapp/+919000000002/messages" in request.path
    assert request.headers["api-key"] == "second-key-1f"


# --- the campaign list and results, by sender -------------------------------------------------------


@pytest.fixture
def two_senders_campaigns():
    main = make_sender(display_name="Main brand", is_default=True)
    second = make_sender(display_name="Second brand")
    return {
        "main": main,
        "second": second,
        "default": make_campaign(name="Sent from the default"),
        "main_chosen": make_campaign(name="Main chosen", sender=main),
        "second_chosen": make_campaign(name="Second chosen", sender=second),
    }


@pytest.mark.parametrize("page", ["list", "results"])
def test_the_campaign_list_and_results_filter_by_sender(marketer, two_senders_campaigns, page):
    rows = two_senders_campaigns
    everything = marketer.get(url(page)).content.decode()
    assert all(name in everything for name in ("Sent from the default", "Second chosen"))

    second = marketer.get(url(page), {"sender": rows["second"].pk}).content.decode()
    assert "Second chosen" in second
    assert "Main chosen" not in second and "Sent from the default" not in second

    # The default sender's campaigns include those that chose no sender.
    main = marketer.get(url(page), {"sender": rows["main"].pk}).content.decode()
    assert "Main chosen" in main and "Sent from the default" in main
    assert "Second chosen" not in main


def test_an_unknown_sender_filter_is_reported_and_not_applied(marketer, two_senders_campaigns):
    response = marketer.get(url("list"), {"sender": "999999"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Second chosen" in html and "Main chosen" in html
