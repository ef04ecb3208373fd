"""The template list's "Sync templates from Kaleyra" button: POST only, add and change
permissions, the summary shown as messages; synced fields shown and the raw JSON read-only."""

from django.contrib.messages import get_messages
from django.urls import reverse

from campaigns.models import MessageTemplate
from tests.admin.helpers import staff_user
from tests.support.templates import answer_pages, mpm_template, use_waba, utility_template

CHANGELIST = reverse("admin:campaigns_messagetemplate_changelist")
SYNC = reverse("admin:campaigns_messagetemplate_sync")
BUTTON = "Sync templates from Kaleyra"


def test_the_button_syncs_and_shows_the_summary(admin_client, provider, settings):
    use_waba(settings)
    answer_pages(provider, [mpm_template("spring_sale")], [utility_template()])

    page = admin_client.get(CHANGELIST).content.decode()
    assert BUTTON in page and f'action="{SYNC}"' in page
    response = admin_client.post(SYNC)

    assert response.status_code == 302 and response.url == CHANGELIST
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert texts == [
        "Templates synced from Kaleyra (2 page(s)): 2 created, 0 updated, 0 unchanged, 0 vanished."
    ]
    assert MessageTemplate.objects.count() == 2
    listing = admin_client.get(CHANGELIST + "?has_mpm_button__exact=0").content.decode()
    assert "order_update" in listing and "spring_sale" not in listing


def test_a_failed_sync_is_shown_as_an_error_with_its_problem(admin_client, provider, settings):
    use_waba(settings)
    provider.answer_error("RBC001")

    response = admin_client.post(SYNC, follow=True)

    page = response.content.decode()
    assert "could not be read completely" in page and "HTTP 401" in page


def test_a_get_does_not_sync(admin_client, provider, settings):
    use_waba(settings)

    assert admin_client.get(SYNC).status_code == 405
    assert provider.requests == []


def test_staff_who_may_not_add_and_change_templates_cannot_sync(client, provider, settings, db):
    use_waba(settings)
    client.force_login(staff_user("view_messagetemplate", "change_messagetemplate"))

    assert BUTTON not in client.get(CHANGELIST).content.decode()
    assert client.post(SYNC).status_code == 403
    assert provider.requests == []


def test_synced_fields_show_and_the_raw_json_is_read_only(admin_client, provider, settings):
    use_waba(settings)
    answer_pages(provider, [mpm_template("spring_sale")])
    admin_client.post(SYNC)
    template = MessageTemplate.objects.get()

    page = admin_client.get(reverse("admin:campaigns_messagetemplate_change", args=[template.pk]))

    html = page.content.decode()
    assert "As received from Kaleyra" in html and "&quot;BUTTONS&quot;" in html
    assert 'name="raw"' not in html and 'name="synced_at"' not in html
    vanished = admin_client.get(CHANGELIST + "?vanished=yes").content.decode()
    assert "spring_sale" not in vanished
