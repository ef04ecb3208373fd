"""The Sender admin: list and edit; the key variable shown as a name and whether it is set here,
never its value; plain-words refusals; a sender campaigns went out from is not deleted."""

import pytest
from django.urls import reverse

from campaigns.models import Sender
from tests.support.factories import make_campaign, make_sender

pytestmark = pytest.mark.django_db
SECRET = "brand2-never-shown-3e8a"


def form_data(**changes) -> dict:
    data = {
        "display_name": "Brand 2",
        "logo_url": "",
        "business_number": "+919000000002",
        "active": "on",
        "region": "in",
        "sid": "HXBRAND2",
        "waba_id": "",
        "api_key_variable": "KALEYRA_API_KEY_BRAND2",
        "rate_per_second": "80",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_list_shows_each_key_variable_and_whether_it_is_set_never_its_value(
    admin_client, monkeypatch
):
    monkeypatch.setenv("KALEYRA_API_KEY_BRAND2", SECRET)
    monkeypatch.delenv("KALEYRA_API_KEY_BRAND3", raising=False)
    make_sender(display_name="Brand 2", api_key_variable="KALEYRA_API_KEY_BRAND2")
    make_sender(display_name="Brand 3", api_key_variable="KALEYRA_API_KEY_BRAND3")
    html = admin_client.get(reverse("admin:campaigns_sender_changelist")).content.decode()
    assert "KALEYRA_API_KEY_BRAND2 is set" in html
    assert "KALEYRA_API_KEY_BRAND3 is not set on this server" in html
    assert SECRET not in html


def test_the_edit_page_never_shows_the_key(admin_client, monkeypatch):
    monkeypatch.setenv("KALEYRA_API_KEY_BRAND2", SECRET)
    sender = make_sender(api_key_variable="KALEYRA_API_KEY_BRAND2")
    html = admin_client.get(
        reverse("admin:campaigns_sender_change", args=[sender.pk])
    ).content.decode()
    assert "KALEYRA_API_KEY_BRAND2 is set" in html
    assert SECRET not in html


def test_a_sender_is_added_from_the_admin(admin_client):
    response = admin_client.post(reverse("admin:campaigns_sender_add"), form_data())
    assert response.status_code == 302, response.content.decode()[:2000]
    sender = Sender.objects.get()
    assert (sender.business_number, sender.api_key_variable) == (
        "+919000000002",
        "KALEYRA_API_KEY_BRAND2",
    )


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"rate_per_second": "2000"}, "at most 1,000 messages a second"),
        ({"business_number": "09000000002"}, "E.164"),
        ({"api_key_variable": "DJANGO_SECRET_KEY"}, "must be KALEYRA_API_KEY or start with"),
        ({"is_default": "on", "active": None}, "The default sender must be active"),
    ],
)
def test_the_admin_refuses_a_sender_in_plain_words(admin_client, changes, words):
    response = admin_client.post(reverse("admin:campaigns_sender_add"), form_data(**changes))
    assert response.status_code == 200
    assert words in response.content.decode()
    assert not Sender.objects.exists()


def test_a_second_default_is_refused(admin_client):
    make_sender(is_default=True)
    response = admin_client.post(reverse("admin:campaigns_sender_add"), form_data(is_default="on"))
    assert "Another sender is the default already: only one can be." in response.content.decode()


def test_a_sender_campaigns_went_out_from_cannot_be_deleted(admin_client):
    used = make_sender()
    make_campaign(sender=used)
    response = admin_client.get(reverse("admin:campaigns_sender_delete", args=[used.pk]))
    assert response.status_code == 403
