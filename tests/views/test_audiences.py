"""The list and segment pages and the live count: login and view vs change permissions, list
editing with bad numbers reported by line, and the composer's send step to a list or segment
with its confirmation's exclusion counts."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.audiences.consent import Provenance, consent_record
from campaigns.models import Campaign, Consent, ConsentEvent, Contact, ContactList, Segment
from tests.support.factories import make_campaign

pytestmark = pytest.mark.django_db
ASHA, RAVI = "+919876543210", "+919812345678"


def url(name, *args) -> str:
    return reverse(f"campaigns:{name}", args=args)


def member(client, group: str):
    user = User.objects.create_user(group.lower(), password="x")
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return client


@pytest.fixture
def marketer(client):
    return member(client, "Marketers")


@pytest.fixture
def viewer(client):
    return member(client, "Viewers")


def test_pages_need_a_login(client):
    for name, args in (("lists", ()), ("segments", ()), ("segment-count", ())):
        response = client.get(url(name, *args))
        assert response.status_code == 302 and "login" in response["Location"]


def test_a_viewer_sees_lists_and_segments_but_changes_nothing(viewer):
    vip = ContactList.objects.create(name="VIP")
    segment = Segment.objects.create(name="All", rules=[])
    assert viewer.get(url("lists")).status_code == 200
    page = viewer.get(url("list-detail", vip.pk))
    assert page.status_code == 200 and "Add to the list" not in page.content.decode()
    assert viewer.get(url("segment-edit", segment.pk)).status_code == 200
    refused = [
        viewer.post(url("lists"), {"name": "New"}),
        viewer.post(url("list-detail", vip.pk), {"action": "add", "numbers": ASHA}),
        viewer.post(url("list-delete", vip.pk)),
        viewer.post(url("segment-edit", segment.pk), {"name": "x", "rules": "[]"}),
        viewer.post(url("segment-delete", segment.pk)),
    ]
    assert [r.status_code for r in refused] == [403] * 5
    assert not Contact.objects.exists() and ContactList.objects.get().name == "VIP"


def test_someone_without_the_roles_is_refused(client):
    client.force_login(User.objects.create_user("nobody", password="x"))
    assert client.get(url("lists")).status_code == 403
    assert client.get(url("segment-count"), {"rules": "[]"}).status_code == 403


def test_a_list_is_created_filled_by_pasting_renamed_and_emptied(marketer):
    response = marketer.post(url("lists"), {"name": "VIP"})
    vip = ContactList.objects.get()
    assert response["Location"] == url("list-detail", vip.pk)
    pasted = f"{ASHA}\n98765\n+91 98123 45678\n+999123\n{ASHA}"
    page = marketer.post(url("list-detail", vip.pk), {"action": "add", "numbers": pasted})
    text = page.content.decode()
    assert "2 added" in text
    assert "Line 2: “98765” has no country code" in text
    assert "Line 4: “+999123” is not" in text
    assert set(vip.contacts.values_list("phone", flat=True)) == {ASHA, RAVI}
    assert not ConsentEvent.objects.exists()  # adding to a list records no consent
    assert Contact.objects.get(phone=ASHA).time_zone  # guessed from the number
    again = marketer.post(url("list-detail", vip.pk), {"action": "add", "numbers": ASHA})
    assert "0 added, 1 already in the list" in again.content.decode()

    marketer.post(url("list-detail", vip.pk), {"action": "rename", "name": "Very important"})
    assert ContactList.objects.get().name == "Very important"
    asha = Contact.objects.get(phone=ASHA)
    marketer.post(url("list-detail", vip.pk), {"action": "remove", "contact": [asha.pk, "x"]})
    assert list(vip.contacts.values_list("phone", flat=True)) == [RAVI]
    assert Contact.objects.filter(phone=ASHA).exists()  # out of the list, not deleted
    marketer.post(url("list-delete", vip.pk))
    assert not ContactList.objects.exists()


def test_a_duplicate_list_name_is_a_form_error(marketer):
    ContactList.objects.create(name="VIP")
    response = marketer.post(url("lists"), {"name": "VIP"})
    assert response.status_code == 400
    assert "already exists" in response.content.decode()


def test_a_segment_is_saved_only_with_valid_rules(marketer):
    bad = [{"op": "ordered_in_days", "days": 0}]
    response = marketer.post(url("segment-new"), {"name": "Buyers", "rules": json.dumps(bad)})
    assert response.status_code == 400
    assert "condition 1: days must be 1 to 3650" in response.content.decode()
    good = [{"op": "ordered_in_days", "days": 30}]
    response = marketer.post(url("segment-new"), {"name": "Buyers", "rules": json.dumps(good)})
    segment = Segment.objects.get()
    assert response["Location"] == url("segment-edit", segment.pk) and segment.rules == good
    page = marketer.get(url("segment-edit", segment.pk)).content.decode()
    assert "[{&quot;op&quot;: &quot;ordered_in_days&quot;" in page  # the rules field, as JSON
    broken = marketer.post(url("segment-edit", segment.pk), {"name": "B", "rules": "[" * 999})
    assert broken.status_code == 400 and "not JSON this app can read" in broken.content.decode()
    assert "segments.js" in page and "<script>" not in page  # the CSP allows no inline script


def test_the_live_count_answers_the_count_and_the_first_contacts(viewer):
    consent_record(ASHA, Consent.OPTED_IN, Provenance("import"))
    Contact.objects.filter(phone=ASHA).update(name="Asha", attributes={"city": "Pune"})
    Contact.objects.create(phone=RAVI, attributes={"city": "Mumbai"})
    rules = [{"op": "contains", "attribute": "city", "value": "u"}]
    answer = viewer.get(url("segment-count"), {"rules": json.dumps(rules)}).json()
    assert (answer["count"], answer["opted_in"], answer["problems"]) == (2, 1, [])
    assert answer["contacts"][1] == {"phone": ASHA, "name": "Asha", "consent": "opted_in"}
    refused = viewer.get(url("segment-count"), {"rules": "[{"})
    assert refused.status_code == 400
    assert refused.json()["problems"][0].startswith("rules: not JSON this app can read")
    deep = viewer.get(url("segment-count"), {"rules": "[" * 5000 + "]" * 5000})
    assert "nested more than" in deep.json()["problems"][0]
    nul = [{"op": "equals", "attribute": "city", "value": "Pu\u0000ne"}]
    answer = viewer.get(url("segment-count"), {"rules": json.dumps(nul)}).json()
    assert answer["count"] is None and "NUL" in answer["problems"][0]
    too_long = viewer.get(url("segment-count"), {"rules": "[" + " " * 20_000 + "]"})
    assert too_long.json()["problems"] == ["rules: at most 20,000 characters"]


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(max_size=200)
    | st.builds(
        json.dumps,
        st.lists(
            st.dictionaries(
                st.sampled_from(["op", "days", "attribute", "value", "negate", "list", "campaign"]),
                st.none()
                | st.integers()
                | st.text(max_size=5)
                | st.sampled_from(["equals", "is_set", "in_list", "not_messaged_in_days"]),
            ),
            max_size=3,
        ),
    )
)
def test_the_live_count_never_fails_on_any_input(client, text):
    user = User.objects.filter(username="viewers").first()
    if user is None:
        user = User.objects.create_user("viewers", password="x")
        user.groups.add(Group.objects.get(name="Viewers"))
    client.force_login(user)
    response = client.get(url("segment-count"), {"rules": text})
    assert response.status_code in (200, 400)
    answer = response.json()
    assert (answer["count"] is None) == bool(answer["problems"])


def test_the_send_step_confirms_a_segment_with_its_exclusions_then_sends(
    marketer, provider, django_capture_on_commit_callbacks
):
    provider.answer()
    consent_record(ASHA, Consent.OPTED_IN, Provenance("import"))
    Contact.objects.create(phone=RAVI)  # no consent recorded
    segment = Segment.objects.create(name="Everyone", rules=[])
    campaign = make_campaign()
    page = marketer.post(url("send", campaign.pk), {"audience_segment": segment.pk})
    text = page.content.decode()
    assert page.status_code == 200
    assert 'data-plan="count">2<' in text and 'data-plan="without-consent">1<' in text
    assert 'data-plan="capped">0<' in text
    assert not provider.requests
    with django_capture_on_commit_callbacks(execute=True):
        sent = marketer.post(
            url("send", campaign.pk), {"audience_segment": segment.pk, "confirm": "yes"}
        )
    assert sent["Location"] == url("detail", campaign.pk)
    campaign.refresh_from_db()
    assert campaign.audience_segment == segment and campaign.state == Campaign.State.COMPLETED
    assert provider.requests


def test_the_send_step_schedules_a_segment_saying_when_and_refuses_a_bad_time(
    marketer, provider, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    segment = Segment.objects.create(name="Everyone", rules=[])
    campaign = make_campaign()
    chosen = {"audience_segment": segment.pk, "schedule": "yes", "time_zone": "Asia/Kolkata"}
    bad = marketer.post(url("send", campaign.pk), {**chosen, "send_at": "2020-01-01T10:00"})
    assert bad.status_code == 400 and "it has passed already" in bad.content.decode()
    later = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    with django_capture_on_commit_callbacks(execute=True):
        done = marketer.post(url("send", campaign.pk), {**chosen, "send_at": later}, follow=True)
    assert "its contacts are read as it starts" in done.content.decode()
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.SCHEDULED and campaign.audience_segment == segment
    assert not provider.requests


def test_the_send_step_takes_one_audience(marketer):
    vip = ContactList.objects.create(name="VIP")
    campaign = make_campaign()
    both = marketer.post(url("send", campaign.pk), {"numbers": ASHA, "audience_list": vip.pk})
    assert both.status_code == 400
    assert "Choose one audience" in both.content.decode()
    unknown = marketer.post(url("send", campaign.pk), {"audience_list": 99999})
    assert unknown.status_code == 400
    assert "Select a valid choice" in unknown.content.decode()
