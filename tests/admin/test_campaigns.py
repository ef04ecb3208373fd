"""The campaign page: it checks and previews, and sending needs a permission, a POST and (for
real recipients) a confirmation."""

import pytest
from django.test import Client
from django.urls import reverse

from campaigns.forms import CampaignAdminForm
from campaigns.models import Campaign, Message, OptOut
from tests.admin.helpers import (
    ASHA,
    RAVI,
    US_NUMBER,
    change_url,
    page_messages,
    send_test_url,
    send_url,
    staff_user,
)
from tests.conftest import TEST_API_KEY
from tests.support.factories import make_campaign, make_product, make_template

pytestmark = pytest.mark.django_db


def test_campaign_page_reports_problems_in_plain_words(admin_client, provider):
    campaign = make_campaign(sections=(("A" * 25, 1),))
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    text = page.content.decode()
    assert "Must fix:" in text
    assert "is 25 characters; the limit is 24." in text


def test_campaign_page_shows_the_json_preview_without_the_api_key(admin_client, provider):
    campaign = make_campaign()
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    text = page.content.decode()
    assert "No problems: ready to send." in text
    assert "thumbnail_product_retailer_id" in text
    assert campaign.thumbnail_product.retailer_id in text
    assert TEST_API_KEY not in text


def test_campaign_page_of_an_empty_campaign_lists_what_is_missing(admin_client):
    campaign = make_campaign(sections=(), thumbnail_product=None)
    text = admin_client.get(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    ).content.decode()
    assert "Choose a thumbnail product" in text
    assert "Add at least one section with products." in text
    assert "&quot;sections&quot;: []" in text


def test_warnings_are_told_apart_from_errors(admin_client):
    campaign = make_campaign(ref="r" * 300)
    text = admin_client.get(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    ).content.decode()
    assert "Warning:" in text
    assert "Must fix:" not in text


def test_section_inline_lists_products_and_links_to_the_section(admin_client, campaign):
    section = campaign.sections.first()
    text = admin_client.get(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    ).content.decode()
    assert section.items.first().product.retailer_id in text
    assert reverse("admin:campaigns_section_change", args=[section.pk]) in text


def test_body_values_are_edited_one_per_line(admin_client, admin_user):
    template = make_template(body_text="Hi {{1}}, {{2}} is back.")
    response = admin_client.post(
        reverse("admin:campaigns_campaign_add"),
        {
            "name": "Back in stock",
            "template": template.pk,
            "thumbnail_product": make_product().pk,
            "header_value": "cart",
            "body_values": "Asha\r\n  two spaces kept\r\n",
            "wa_source": "api",
            "sections-TOTAL_FORMS": "0",
            "sections-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    campaign = Campaign.objects.get(name="Back in stock")
    assert campaign.body_values == ["Asha", "  two spaces kept"]
    assert campaign.created_by == admin_user


def test_body_values_form_shows_the_list_as_lines_and_empty_text_as_no_values():
    campaign = make_campaign(template=make_template(body_text="{{1}} and {{2}}"))
    form = CampaignAdminForm(instance=campaign)
    assert form["body_values"].value() == "value 1\nvalue 2"
    assert form.fields["body_values"].clean("") == []


def test_section_page_edits_its_products(admin_client, campaign):
    section = campaign.sections.first()
    response = admin_client.get(reverse("admin:campaigns_section_change", args=[section.pk]))
    assert response.status_code == 200
    assert section.items.first().product.retailer_id in response.content.decode()


# --- send a test --------------------------------------------------------------------------------


def test_send_test_sends_one_request_and_says_so(admin_client, provider, campaign):
    provider.answer()
    response = admin_client.post(send_test_url(campaign), {"to": ASHA}, follow=True)
    assert len(provider.requests) == 1
    assert "Test sent to +919876543210" in page_messages(response)
    assert "AXXXXXXXXXXXXXXXXXXX" in page_messages(response)
    assert Message.objects.get().is_test
    # The number is remembered for the next test.
    assert ASHA in admin_client.get(send_test_url(campaign)).content.decode()


def test_send_test_failure_names_the_code_and_what_to_do(admin_client, provider, campaign):
    provider.answer(
        status=400,
        json={
            "code": "E110",
            "message": "Please check your balance, You have a low balance!",
            "data": {},
            "error": {"balance": "low"},
        },
    )
    response = admin_client.post(send_test_url(campaign), {"to": ASHA}, follow=True)
    text = page_messages(response)
    assert "E110" in text
    assert "Top up the balance" in text


def test_send_test_to_an_opted_out_number_says_so_and_sends_nothing(
    admin_client, provider, campaign
):
    OptOut.objects.create(phone=ASHA, reason=OptOut.Reason.STOP_KEYWORD, keyword="STOP")
    response = admin_client.post(send_test_url(campaign), {"to": ASHA}, follow=True)
    text = page_messages(response)
    assert "Not sent: this number opted out on " in text
    assert "Fix these first" not in text  # nothing about the campaign needs fixing
    assert len(provider.requests) == 0 and not Message.objects.exists()


def test_send_test_of_a_broken_campaign_sends_nothing_and_lists_the_problems(
    admin_client, provider
):
    campaign = make_campaign(sections=(("A" * 25, 1),))
    page = admin_client.get(send_test_url(campaign)).content.decode()
    assert "cannot be sent yet" in page
    response = admin_client.post(send_test_url(campaign), {"to": ASHA}, follow=True)
    assert "Nothing was sent" in page_messages(response)
    assert "the limit is 24" in page_messages(response)
    assert len(provider.requests) == 0


def test_send_test_with_a_bad_number_shows_the_form_again(admin_client, provider, campaign):
    response = admin_client.post(send_test_url(campaign), {"to": "98765"})
    assert response.status_code == 200
    assert "has no country code" in response.content.decode()
    assert len(provider.requests) == 0


# --- send to numbers ----------------------------------------------------------------------------


def test_an_invalid_number_is_reported_by_entry_and_nothing_is_sent(
    admin_client, provider, campaign
):
    typed = f"{ASHA}\nnot a number\n{RAVI}"
    response = admin_client.post(send_url(campaign), {"numbers": typed})
    text = response.content.decode()
    assert response.status_code == 200
    assert "<td>2</td><td>not a number</td>" in text
    assert "has no country code" in text
    assert 'name="confirm"' not in text
    assert response.context["form"]["numbers"].value() == typed  # nothing lost
    assert len(provider.requests) == 0
    assert not Message.objects.exists()


def test_numbers_are_confirmed_before_they_are_sent(
    admin_client, provider, campaign, django_capture_on_commit_callbacks
):
    provider.answer()
    typed = f"{ASHA}, {RAVI}\n{ASHA}\n{US_NUMBER}"
    first = admin_client.post(send_url(campaign), {"numbers": typed})
    text = first.content.decode()
    assert 'name="confirm"' in text
    assert "1 duplicate removed" in text
    assert US_NUMBER in text
    assert len(provider.requests) == 0
    assert not Message.objects.exists()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(
            send_url(campaign), {"numbers": typed, "confirm": "Yes"}, follow=True
        )
    # The request only queues and enqueues: nothing went out while the user waited.
    assert len(provider.requests) == 0
    text = page_messages(response)
    assert "to 2 recipient(s) in the background" in text
    assert "1 number(s) skipped: Meta has not delivered marketing templates" in text
    assert "1 duplicate number(s) were removed." in text
    assert 'id="mpm-progress"' in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.SENDING

    for callback in callbacks:  # the worker's turn (the tests' task backend runs it at once)
        callback()
    assert len(provider.requests) == 2
    assert set(Message.objects.values_list("to", "state")) == {
        (ASHA, Message.State.ACCEPTED),
        (RAVI, Message.State.ACCEPTED),
        (US_NUMBER, Message.State.SKIPPED),
    }
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.COMPLETED


def test_a_rerun_does_not_resend_to_accepted_numbers(
    admin_client, provider, campaign, django_capture_on_commit_callbacks
):
    provider.answer()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(send_url(campaign), {"numbers": ASHA, "confirm": "Yes"})
    page = admin_client.post(send_url(campaign), {"numbers": f"{ASHA}\n{RAVI}"}).content.decode()
    assert "1 already received this campaign" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            send_url(campaign), {"numbers": f"{ASHA}\n{RAVI}", "confirm": "Yes"}, follow=True
        )
    assert len(provider.requests) == 2
    assert "1 number(s) had already received this campaign" in page_messages(response)


def test_progress_and_failures_show_on_the_campaign_page(
    admin_client, provider, campaign, django_capture_on_commit_callbacks
):
    provider.answer(
        status=400,
        json={
            "code": "WA400",
            "message": "Refer to correct payload format",
            "data": {},
            "error": {},
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(send_url(campaign), {"numbers": f"{ASHA}\n{RAVI}", "confirm": "Yes"})

    progress = admin_client.get(
        reverse("admin:campaigns_campaign_progress", args=[campaign.pk])
    ).json()
    assert progress["state"] == "completed"
    assert progress["counts"]["failed"] == 2
    assert (progress["total"], progress["percent"]) == (2, 100)
    page = admin_client.get(change_url(campaign)).content.decode()
    assert '<td data-count="failed">2</td>' in page


def test_pause_resume_and_cancel_are_post_only_and_need_the_send_permission(
    admin_client, client, provider, campaign, django_capture_on_commit_callbacks
):
    provider.answer()
    queue_and_start = admin_client.post(send_url(campaign), {"numbers": ASHA, "confirm": "Yes"})
    assert queue_and_start.status_code == 302
    control = lambda action: reverse(  # noqa: E731
        "admin:campaigns_campaign_control", args=[campaign.pk, action]
    )
    assert admin_client.get(control("pause")).status_code == 405
    admin_client.post(control("pause"))
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.PAUSED

    client.force_login(staff_user("view_campaign", "change_campaign"))
    assert client.post(control("resume")).status_code == 403

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(control("resume"))
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.COMPLETED
    assert Message.objects.get().state == Message.State.ACCEPTED

    admin_client.post(control("cancel"))
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.CANCELLED


def test_a_broken_campaign_cannot_be_sent_to_numbers(admin_client, provider):
    campaign = make_campaign(thumbnail_product=None)
    response = admin_client.post(send_url(campaign), {"numbers": ASHA, "confirm": "Yes"})
    assert response.status_code == 200
    assert "Choose a thumbnail product" in response.content.decode()
    assert len(provider.requests) == 0
    assert not Message.objects.exists()


def test_empty_numbers_show_the_form_again(admin_client, provider, campaign):
    response = admin_client.post(send_url(campaign), {"numbers": ""})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()


# --- who may send, and how ----------------------------------------------------------------------


def test_a_get_never_sends(admin_client, provider, campaign):
    provider.answer()
    assert admin_client.get(send_test_url(campaign), {"to": ASHA}).status_code == 200
    response = admin_client.get(send_url(campaign), {"numbers": ASHA, "confirm": "Yes"})
    assert response.status_code == 200
    assert len(provider.requests) == 0
    assert not Message.objects.exists()


def test_staff_without_the_send_permission_get_403_and_nothing_is_sent(client, provider, campaign):
    provider.answer()
    client.force_login(staff_user("view_campaign", "change_campaign"))
    change_page = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert change_page.status_code == 200
    assert send_test_url(campaign) not in change_page.content.decode()
    assert client.get(send_test_url(campaign)).status_code == 403
    assert client.post(send_test_url(campaign), {"to": ASHA}).status_code == 403
    assert client.post(send_url(campaign), {"numbers": ASHA, "confirm": "Yes"}).status_code == 403
    assert len(provider.requests) == 0
    assert not Message.objects.exists()


def test_the_send_permission_alone_is_not_enough(client, provider, campaign):
    client.force_login(staff_user("view_campaign", "send_campaign"))
    assert client.post(send_test_url(campaign), {"to": ASHA}).status_code == 403
    assert len(provider.requests) == 0


def test_staff_with_both_permissions_can_send(client, provider, campaign):
    provider.answer()
    client.force_login(staff_user("view_campaign", "change_campaign", "send_campaign"))
    assert (
        send_test_url(campaign)
        in client.get(
            reverse("admin:campaigns_campaign_change", args=[campaign.pk])
        ).content.decode()
    )
    client.post(send_test_url(campaign), {"to": ASHA})
    assert len(provider.requests) == 1


def test_sending_is_csrf_protected(admin_user, provider, campaign):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(send_test_url(campaign), {"to": ASHA}).status_code == 403
    assert len(provider.requests) == 0


def test_an_unknown_campaign_is_a_404(admin_client):
    assert admin_client.get("/admin/campaigns/campaign/999999/send-test/").status_code == 404
    assert admin_client.get("/admin/campaigns/campaign/nope/send/").status_code == 404


def test_send_to_numbers_on_a_cancelled_campaign_queues_nothing(admin_client, provider, campaign):
    Campaign.objects.filter(pk=campaign.pk).cancel()
    response = admin_client.post(
        send_url(campaign), {"numbers": ASHA, "confirm": "Yes"}, follow=True
    )
    assert (
        "The campaign is cancelled: nothing more can be sent from it" in response.content.decode()
    )
    assert not Message.objects.exists()
    assert len(provider.requests) == 0
