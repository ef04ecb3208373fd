"""Only a draft changes in the admin (the composer's rule): a campaign past its draft is
read-only, cannot be deleted, and offers clone, pause, resume and cancel instead."""

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from campaigns.models import Campaign, Section
from tests.admin.helpers import change_url, page_messages, send_test_url, send_url, staff_user
from tests.support.factories import make_campaign

pytestmark = pytest.mark.django_db

PAST_DRAFT = [
    Campaign.State.SENDING,
    Campaign.State.PAUSED,
    Campaign.State.COMPLETED,
    Campaign.State.CANCELLED,
]


def control_url(campaign, action):
    return reverse("admin:campaigns_campaign_control", args=[campaign.pk, action])


def clone_url(campaign):
    return reverse("admin:campaigns_campaign_clone", args=[campaign.pk])


def edit_post(campaign) -> dict:
    """The change form as a browser posts it, with a new header value and section title."""
    section = campaign.sections.get()
    return {
        "name": campaign.name,
        "template": campaign.template_id,
        "thumbnail_product": campaign.thumbnail_product_id,
        "header_value": "changed header",
        "body_values": "\n".join(campaign.body_values),
        "ref": "",
        "ref1": "",
        "ref2": "",
        "wa_source": campaign.wa_source,
        "sections-TOTAL_FORMS": "1",
        "sections-INITIAL_FORMS": "1",
        "sections-MIN_NUM_FORMS": "0",
        "sections-MAX_NUM_FORMS": "1000",
        "sections-0-id": section.pk,
        "sections-0-campaign": campaign.pk,
        "sections-0-position": section.position,
        "sections-0-title": "Changed title",
        "_save": "Save",
    }


def test_a_draft_takes_the_edit(admin_client):
    """The same POST the read-only test sends, shown to change a draft: it is a real edit."""
    campaign = make_campaign(header_value="cart")
    response = admin_client.post(change_url(campaign), edit_post(campaign))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.header_value == "changed header"
    assert campaign.sections.get().title == "Changed title"


@pytest.mark.parametrize("state", PAST_DRAFT)
def test_a_post_to_a_campaign_past_its_draft_changes_nothing(admin_client, campaign_in, state):
    campaign = campaign_in(state)
    before = (campaign.updated_at, campaign.header_value, campaign.sections.get().title)
    response = admin_client.post(change_url(campaign), edit_post(campaign), follow=True)
    campaign.refresh_from_db()
    assert (campaign.updated_at, campaign.header_value, campaign.sections.get().title) == before
    assert campaign.header_value == "cart"
    assert f"is {state}, so its content is kept as it was sent." in page_messages(response)


@pytest.mark.parametrize("state", PAST_DRAFT)
def test_the_page_of_a_campaign_past_its_draft_is_read_only(admin_client, campaign_in, state):
    campaign = campaign_in(state)
    response = admin_client.get(change_url(campaign))
    text = response.content.decode()
    assert response.status_code == 200
    for editable in ('name="header_value"', 'name="sections-0-title"', 'name="_save"'):
        assert editable not in text
    assert 'name="sections-MAX_NUM_FORMS" value="0"' in text  # no section can be added
    assert 'name="sections-0-DELETE"' not in text
    assert "Clone it to make a changed copy." in text
    # Still shows what it shows today: the problems, the JSON preview and the progress.
    assert "No problems: ready to send." in text
    assert "thumbnail_product_retailer_id" in text
    assert 'id="mpm-progress"' in text


def test_a_campaign_past_its_draft_cannot_be_deleted(admin_client, campaign_in):
    campaign = campaign_in(Campaign.State.COMPLETED)
    delete = reverse("admin:campaigns_campaign_delete", args=[campaign.pk])
    assert admin_client.get(delete).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert f'href="{delete}"' not in admin_client.get(change_url(campaign)).content.decode()
    assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_the_delete_action_refuses_a_selection_with_a_campaign_past_its_draft(
    admin_client, campaign_in
):
    sent = campaign_in(Campaign.State.COMPLETED)
    draft = make_campaign(name="Draft")
    changelist = reverse("admin:campaigns_campaign_changelist")
    response = admin_client.post(
        changelist,
        {
            "action": "delete_selected",
            helpers.ACTION_CHECKBOX_NAME: [sent.pk, draft.pk],
            "post": "yes",
        },
        follow=True,
    )
    assert "Nothing was deleted: 1 of the selected" in page_messages(response)
    assert Campaign.objects.filter(pk__in=[sent.pk, draft.pk]).count() == 2

    admin_client.post(
        changelist,
        {"action": "delete_selected", helpers.ACTION_CHECKBOX_NAME: [draft.pk], "post": "yes"},
    )
    assert not Campaign.objects.filter(pk=draft.pk).exists()


def test_the_sections_of_a_campaign_past_its_draft_are_read_only(admin_client, campaign_in):
    campaign = campaign_in(Campaign.State.SENDING)
    section = campaign.sections.get()
    url = reverse("admin:campaigns_section_change", args=[section.pk])
    text = admin_client.get(url).content.decode()
    assert 'name="title"' not in text
    assert 'name="items-0-product"' not in text
    assert 'name="items-MAX_NUM_FORMS" value="0"' in text  # no item can be added
    assert admin_client.post(url, {"title": "Changed", "position": 0}).status_code == 403
    delete = reverse("admin:campaigns_section_delete", args=[section.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    response = admin_client.post(
        reverse("admin:campaigns_section_changelist"),
        {"action": "delete_selected", helpers.ACTION_CHECKBOX_NAME: [section.pk], "post": "yes"},
        follow=True,
    )
    assert "Nothing was deleted" in page_messages(response)
    section.refresh_from_db()
    assert section.title == "Premium Packages"
    assert section.items.count() == 1


def test_a_section_cannot_be_added_to_a_campaign_past_its_draft(admin_client, campaign_in):
    campaign = campaign_in(Campaign.State.COMPLETED)
    response = admin_client.post(
        reverse("admin:campaigns_section_add"),
        {
            "campaign": campaign.pk,
            "position": 1,
            "title": "Late addition",
            "items-TOTAL_FORMS": "0",
            "items-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "Only a draft campaign takes new sections" in response.content.decode()
    assert campaign.sections.count() == 1


# --- what the page offers instead ---------------------------------------------------------------


@pytest.mark.parametrize("state", [Campaign.State.DRAFT, *PAST_DRAFT])
def test_clone_makes_a_draft_and_opens_it(admin_client, admin_user, campaign_in, state):
    campaign = campaign_in(state) if state != Campaign.State.DRAFT else make_campaign()
    assert clone_url(campaign) in admin_client.get(change_url(campaign)).content.decode()
    assert admin_client.get(clone_url(campaign)).status_code == 405
    response = admin_client.post(clone_url(campaign))
    clone = Campaign.objects.exclude(pk=campaign.pk).get()
    assert response.status_code == 302
    assert response["Location"] == change_url(clone)
    assert (clone.state, clone.name, clone.created_by) == (
        Campaign.State.DRAFT,
        f"Copy of {campaign.name}",
        admin_user,
    )
    assert clone.header_value == campaign.header_value
    assert [s.title for s in clone.sections.all()] == [s.title for s in campaign.sections.all()]
    messages = page_messages(admin_client.get(response["Location"]))
    assert f"“{campaign}” copied as the draft “{clone}”: change what you like." in messages


def test_clone_needs_the_add_permission(client, campaign_in):
    campaign = campaign_in(Campaign.State.COMPLETED)
    client.force_login(staff_user("view_campaign", "change_campaign"))
    assert clone_url(campaign) not in client.get(change_url(campaign)).content.decode()
    assert client.post(clone_url(campaign)).status_code == 403
    assert Campaign.objects.count() == 1


def test_a_sending_campaign_offers_pause_and_cancel_outside_the_change_form(
    admin_client, campaign_in
):
    campaign = campaign_in(Campaign.State.SENDING)
    text = admin_client.get(change_url(campaign)).content.decode()
    change_form = text.index('id="campaign_form"')
    for action in ("pause", "cancel"):
        # A form inside the change form would submit the change form instead.
        assert text.index(f'action="{control_url(campaign, action)}"') < change_form
    assert control_url(campaign, "resume") not in text
    assert "Cancel the rest" in text

    response = admin_client.post(control_url(campaign, "pause"), follow=True)
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.PAUSED
    assert "Paused: requests in flight finish" in page_messages(response)
    text = response.content.decode()
    assert control_url(campaign, "resume") in text
    assert control_url(campaign, "pause") not in text


def test_a_paused_campaign_can_be_cancelled_and_then_offers_no_controls(admin_client, campaign_in):
    campaign = campaign_in(Campaign.State.PAUSED)
    response = admin_client.post(control_url(campaign, "cancel"), follow=True)
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.CANCELLED
    assert "Cancelled: 0 queued message(s) will not be sent." in page_messages(response)
    text = response.content.decode()
    for action in ("pause", "resume", "cancel"):
        assert control_url(campaign, action) not in text


def test_controls_need_the_send_permission(client, campaign_in):
    campaign = campaign_in(Campaign.State.SENDING)
    client.force_login(staff_user("view_campaign", "change_campaign"))
    assert control_url(campaign, "pause") not in client.get(change_url(campaign)).content.decode()
    assert client.post(control_url(campaign, "pause")).status_code == 403
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.SENDING


def test_a_completed_campaign_still_takes_new_recipients_but_a_cancelled_one_does_not(
    client, campaign_in
):
    """Send permission is the user's, not the page's: read-only does not mean unsendable."""
    client.force_login(staff_user("view_campaign", "change_campaign", "send_campaign"))
    completed = campaign_in(Campaign.State.COMPLETED)
    text = client.get(change_url(completed)).content.decode()
    assert send_url(completed) in text
    assert send_test_url(completed) in text
    assert client.get(send_url(completed)).status_code == 200
    Section.objects.all().delete()
    cancelled = campaign_in(Campaign.State.CANCELLED)
    assert send_url(cancelled) not in client.get(change_url(cancelled)).content.decode()
