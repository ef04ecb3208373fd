"""Pages read the counters: no page aggregates over Messages or StatusEvents, the live panels
answer 304 while nothing changed, and the results table sorts and filters in SQL."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Campaign, Message, Order, StatusEvent
from tests.support.factories import make_campaign
from tests.views.test_composer import ALL, ASHA, RAVI, url, user_with

pytestmark = pytest.mark.django_db

AGGREGATE = re.compile(r"\b(COUNT|SUM|MIN|MAX|AVG)\s*\(", re.I)
RECORDS = re.compile(r'"?campaigns_(message|statusevent)"?(?![_a-z])')


@pytest.fixture
def marketer(client):
    client.force_login(user_with(*ALL))
    return client


def campaign_with_results(name="Big sale", *, delivered=2, failed=1):
    campaign = make_campaign(name=name)
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.COMPLETED)
    now = timezone.now()
    for n in range(delivered):
        message = Message.objects.create(
            campaign=campaign,
            to=f"+9198000{campaign.pk:03d}{n:03d}",
            state=Message.State.DELIVERED,
            message_id=f"K-{campaign.pk}-{n}",
            claimed_at=now,
        )
        StatusEvent.objects.create(
            message=message,
            event_key=f"{message.message_id}|delivered",
            status="delivered",
            status_raw="delivered",
            timestamp=now,
        )
    for n in range(failed):
        Message.objects.create(
            campaign=campaign,
            to=f"+9197000{campaign.pk:03d}{n:03d}",
            state=Message.State.FAILED,
            meta_code="131026",
        )
    return campaign


def aggregates_over_records(queries) -> list[str]:
    return [q["sql"] for q in queries if AGGREGATE.search(q["sql"]) and RECORDS.search(q["sql"])]


def test_no_page_aggregates_over_messages_or_events(marketer):
    campaign = campaign_with_results()
    pages = [
        url("list"),
        url("detail", campaign.pk),
        url("dashboard", campaign.pk),
        url("progress", campaign.pk),
        url("results"),
    ]
    for page in pages:
        with CaptureQueriesContext(connection) as queries:
            assert marketer.get(page).status_code == 200, page
        assert aggregates_over_records(queries.captured_queries) == [], page


def test_the_pattern_catches_an_aggregate_over_messages():
    assert aggregates_over_records([{"sql": 'SELECT COUNT(*) FROM "campaigns_message"'}])
    assert not aggregates_over_records([{"sql": 'SELECT SUM(n) FROM "campaigns_campaigntally"'}])


@pytest.mark.parametrize("page", ["dashboard", "progress"])
def test_an_unchanged_campaign_answers_304_without_counting(marketer, page):
    campaign = campaign_with_results()
    first = marketer.get(url(page, campaign.pk))
    etag = first["ETag"]
    assert first.status_code == 200 and etag

    with CaptureQueriesContext(connection) as queries:
        again = marketer.get(url(page, campaign.pk), headers={"If-None-Match": etag})
    assert (again.status_code, again["ETag"], again.content) == (304, etag, b"")
    assert not any(RECORDS.search(q["sql"]) for q in queries.captured_queries)
    assert len(queries.captured_queries) <= 6  # session, user, permissions (2), campaign, version

    Message.objects.filter(campaign=campaign, state="delivered").update(state="read")
    changed = marketer.get(url(page, campaign.pk), headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed["ETag"] != etag
    Campaign.objects.filter(pk=campaign.pk).update(paused_reason="x")  # the campaign row too
    assert (
        marketer.get(url(page, campaign.pk), headers={"If-None-Match": changed["ETag"]}).status_code
        == 200
    )


def test_304_needs_the_permission_too(client):
    campaign = campaign_with_results()
    client.force_login(user_with(username="nobody"))
    assert (
        client.get(url("dashboard", campaign.pk), headers={"If-None-Match": "*"}).status_code == 403
    )


def rows(page) -> list[str]:
    return [r.name for r in page.context["results"]]


def test_the_results_table_sorts_on_every_column_it_shows(marketer):
    small = campaign_with_results("Small", delivered=1, failed=3)
    big = campaign_with_results("Big", delivered=4, failed=0)
    empty = make_campaign(name="Empty")
    Order.objects.create(campaign=big, from_phone=ASHA, currency="INR", total=500, raw={})
    Order.objects.create(campaign=small, from_phone=RAVI, currency="INR", total=900, raw={})
    Order.objects.create(campaign=small, from_phone=RAVI, currency="INR", total=10, raw={})
    expected = {
        "name": ["Big", "Empty", "Small"],
        "-sent_to": ["Big", "Small", "Empty"],
        "-delivered": ["Big", "Small", "Empty"],
        "-read": ["Empty", "Big", "Small"],  # 0 each: the newest first
        "-failed": ["Small", "Empty", "Big"],  # a tie: the newest first
        "-delivery_rate": ["Big", "Small", "Empty"],  # no rate: last
        "delivery_rate": ["Small", "Big", "Empty"],  # still last
        "-orders": ["Small", "Big", "Empty"],
        "-revenue": ["Small", "Big", "Empty"],
        "revenue": ["Empty", "Big", "Small"],
    }
    for sort, names in expected.items():
        page = marketer.get(url("results"), {"sort": sort})
        assert rows(page) == names, sort
    page = marketer.get(url("results"), {"sort": "-revenue"})
    assert "₹910.00" in page.content.decode()
    assert empty.pk  # shown with dashes


def test_the_results_table_filters_by_creation_date(marketer):
    old = campaign_with_results("Old")
    Campaign.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    campaign_with_results("New")
    today = timezone.localdate()
    since = (today - timedelta(days=7)).isoformat()
    assert rows(marketer.get(url("results"), {"created_from": since})) == ["New"]
    until = (today - timedelta(days=30)).isoformat()
    assert rows(marketer.get(url("results"), {"created_to": until})) == ["Old"]
    page = marketer.get(url("results"), {"created_from": "not a date"})
    assert page.status_code == 200 and "Enter a valid date" in page.content.decode()
    assert rows(page) == ["New", "Old"]  # a bad filter is reported, not applied
