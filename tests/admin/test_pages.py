"""Every admin page renders for staff, sends others to the login, and lists without a query
per row."""

import pytest
from django.urls import reverse

from campaigns.models import Message
from tests.admin.helpers import ASHA, RAVI
from tests.support.factories import make_campaign, make_product

pytestmark = pytest.mark.django_db

SANDBOX_BANNER = "Sandbox mode: messages go to the built-in Kaleyra sandbox"


def test_every_admin_page_renders_for_a_superuser(admin_client, admin_urls):
    for url in admin_urls:
        assert admin_client.get(url).status_code == 200, url


def test_every_admin_page_sends_an_anonymous_user_to_the_login(client, admin_urls):
    for url in admin_urls:
        response = client.get(url)
        assert response.status_code == 302, url
        # The site's login (LOGIN_URL); staff may also use the admin's own login page.
        assert response["Location"].startswith(reverse("login")), url


def test_sandbox_banner_shows_on_every_page_in_sandbox_mode(admin_client, client, settings):
    settings.KALEYRA_MODE = "sandbox"
    assert SANDBOX_BANNER in admin_client.get(reverse("admin:index")).content.decode()
    assert SANDBOX_BANNER in client.get(reverse("admin:login")).content.decode()


def test_no_sandbox_banner_with_real_kaleyra_settings(admin_client, provider):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert SANDBOX_BANNER not in page
    assert "WhatsApp MPM campaigns" in page


def test_product_list_does_not_query_per_row(admin_client, django_assert_max_num_queries):
    for _ in range(40):
        make_product()
    with django_assert_max_num_queries(10):
        response = admin_client.get(reverse("admin:campaigns_product_changelist"))
    assert response.status_code == 200
    assert "499.00 INR" in response.content.decode()


def test_campaign_list_counts_messages_without_a_query_per_row(
    admin_client, django_assert_max_num_queries
):
    campaigns = [make_campaign(name=f"Campaign {n}") for n in range(10)]
    Message.objects.create(campaign=campaigns[0], to=ASHA, state=Message.State.ACCEPTED)
    Message.objects.create(campaign=campaigns[0], to=RAVI, state=Message.State.FAILED)
    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse("admin:campaigns_campaign_changelist"))
    row = next(r for r in response.context["cl"].result_list if r.pk == campaigns[0].pk)
    assert (row.accepted_count, row.failed_count, row.queued_count) == (1, 1, 0)
