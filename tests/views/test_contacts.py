"""The contact pages: search and consent filter, keyset pages, and each contact's ledger,
messages and orders; a login and view_contact needed."""

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from campaigns.audiences.consent import Provenance, consent_record, contact_for
from campaigns.models import Consent, Contact, Order
from campaigns.views import contacts as contact_views
from tests.support.factories import make_campaign, make_message

pytestmark = pytest.mark.django_db
ASHA, RAVI = "+919876543210", "+919876543211"


@pytest.fixture
def viewer(client):
    user = User.objects.create_user("viewer")
    user.user_permissions.set(Permission.objects.filter(codename="view_contact"))
    client.force_login(user)
    return client


def test_the_list_searches_by_number_or_name_and_filters_by_consent(viewer):
    consent_record(ASHA, Consent.OPTED_IN, Provenance("form"))
    Contact.objects.filter(phone=ASHA).update(name="Asha Kulkarni")
    contact_for(RAVI)
    page = viewer.get(reverse("campaigns:contacts"), {"q": "Asha"}).content.decode()
    assert ASHA in page and RAVI not in page
    page = viewer.get(reverse("campaigns:contacts"), {"q": "+91987654321"}).content.decode()
    assert ASHA in page and RAVI in page
    page = viewer.get(reverse("campaigns:contacts"), {"consent": "unknown"}).content.decode()
    assert RAVI in page and ASHA not in page
    for odd in ({"q": "\x00%", "after": "x" * 500}, {"q": "+91\x00", "after": "\x00"}):
        assert viewer.get(reverse("campaigns:contacts"), odd).status_code == 200


def test_pages_follow_on_by_keyset(viewer, monkeypatch):
    monkeypatch.setattr(contact_views, "PER_PAGE", 2)
    phones = [f"+9198765432{n:02d}" for n in range(5)]
    for phone in phones:
        contact_for(phone)
    first = viewer.get(reverse("campaigns:contacts"))
    assert first.context["next_after"] == phones[1]
    second = viewer.get(reverse("campaigns:contacts"), {"after": phones[1]})
    assert [c.phone for c in second.context["contacts"]] == phones[2:4]


def test_a_contact_page_shows_its_ledger_messages_and_orders(viewer):
    consent_record(ASHA, Consent.OPTED_IN, Provenance("form", ref="https://shop.example/optin"))
    consent_record(ASHA, Consent.OPTED_OUT, Provenance("whatsapp_stop", ref="STOP"))
    campaign = make_campaign(name="Diwali sale")
    make_message(campaign, ASHA, state="read")
    Order.objects.create(from_phone=ASHA, campaign=campaign, total=499, currency="INR")
    contact = Contact.objects.get(phone=ASHA)
    page = viewer.get(reverse("campaigns:contact", args=[contact.pk])).content.decode()
    assert page.index("Replied with a stop word") < page.index("https://shop.example/optin")
    assert "Diwali sale" in page and 'data-state="read"' in page and "499" in page


def test_the_pages_need_a_login_and_the_permission(client):
    contact = contact_for(ASHA)
    for url in (reverse("campaigns:contacts"), reverse("campaigns:contact", args=[contact.pk])):
        assert client.get(url).status_code == 302  # to the login
    client.force_login(User.objects.create_user("nobody"))
    assert client.get(reverse("campaigns:contacts")).status_code == 403


@given(st.text(max_size=30), st.text(max_size=30), st.text(max_size=12))
def test_any_search_answers_a_page(viewer, q, after, consent):
    answer = viewer.get(reverse("campaigns:contacts"), {"q": q, "after": after, "consent": consent})
    assert answer.status_code == 200
