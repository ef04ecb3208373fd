"""The results dashboard: the campaign page's funnel, failures, timeline and orders equal the
stored messages, events and orders; the live JSON needs the view permission and a bounded
number of queries; the results list sorts by delivery rate, read rate and orders."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from campaigns.kaleyra.answers import explain, explain_meta
from campaigns.models import Message, Order, OrderItem, StatusEvent
from campaigns.selectors import dashboard
from tests.support.factories import make_campaign, make_message, make_product
from tests.support.factories import make_status_event as event

pytestmark = pytest.mark.django_db

S = StatusEvent.Status
M = Message.State


def user_with(*codenames, username="marketer") -> User:
    user = User.objects.create_user(username, password="x")
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def viewer(client):
    client.force_login(user_with("view_campaign"))
    return client


def dashboard_url(campaign) -> str:
    return reverse("campaigns:dashboard", args=[campaign.pk])


def deliver(campaign, to, state, *, events=(), at=None, **fields):
    """A message in `state` with the status events that brought it there."""
    message = make_message(campaign, to, state=state, **fields)
    for status in events:
        event(message, status, at=at)
    return message


def phone(n: int) -> str:
    return f"+9198765{n:05d}"


def order(campaign, *lines, currency="INR"):
    """An order attributed to `campaign`; lines are (product, quantity, price)."""
    total = sum(quantity * price for _, quantity, price in lines)
    placed = Order.objects.create(
        from_phone=phone(99999), campaign=campaign, currency=currency, total=total
    )
    for product, quantity, price in lines:
        OrderItem.objects.create(
            order=placed,
            product=product,
            retailer_id=product.retailer_id,
            quantity=quantity,
            item_price=price,
            currency=currency,
        )
    return placed


@pytest.fixture
def sent_campaign():
    """Twelve recipients at every point of the funnel, their status events, and two orders."""
    campaign = make_campaign(name="Diwali sale")
    n = iter(range(1000))
    for _ in range(3):
        deliver(campaign, phone(next(n)), M.READ, events=(S.SENT, S.DELIVERED, S.READ))
    for _ in range(2):
        deliver(campaign, phone(next(n)), M.DELIVERED, events=(S.SENT, S.DELIVERED))
    deliver(campaign, phone(next(n)), M.SENT, events=(S.SENT,))
    deliver(campaign, phone(next(n)), M.ACCEPTED)
    deliver(campaign, phone(next(n)), M.FAILED, events=(S.FAILED,), meta_code="131049")
    # Refused at send time: no provider id, Kaleyra's code.
    deliver(campaign, phone(next(n)), M.FAILED, message_id="", last_code="E110")
    deliver(campaign, phone(next(n)), M.NOT_SENT, events=(S.NOT_SENT,))
    deliver(campaign, phone(next(n)), M.SKIPPED, message_id="", claimed_at=None, detail="Opted out")
    deliver(campaign, phone(next(n)), M.QUEUED, message_id="", claimed_at=None, attempts=0)
    # A test send is not a recipient.
    deliver(campaign, phone(next(n)), M.READ, events=(S.READ,), is_test=True)
    kurta, saree = make_product(name="Silk kurta"), make_product(name="Cotton saree")
    order(campaign, (kurta, 2, Decimal("100.00")), (saree, 1, Decimal("50.00")))
    order(campaign, (kurta, 1, Decimal("100.00")))
    campaign.kurta, campaign.saree = kurta, saree
    return campaign


def real_events(campaign, *statuses) -> int:
    """Recipients (not test sends) with a stored event of one of `statuses`."""
    return (
        StatusEvent.objects.filter(
            message__campaign=campaign, message__is_test=False, status__in=statuses
        )
        .values("message")
        .distinct()
        .count()
    )


def test_the_json_numbers_equal_the_stored_messages_events_and_orders(viewer, sent_campaign):
    data = viewer.get(dashboard_url(sent_campaign)).json()
    funnel = data["funnel"]
    real = Message.objects.filter(campaign=sent_campaign, is_test=False)

    assert funnel["total"] == real.count() == 12
    assert funnel["skipped"] == real.filter(state=M.SKIPPED).count() == 1
    assert funnel["queued"] == 11
    assert funnel["waiting"] == 1
    # Kaleyra gave an id to everything that got past the send, final failures included.
    assert funnel["accepted"] == real.exclude(message_id="").count() == 9
    assert funnel["sent"] == real_events(sent_campaign, S.SENT) == 6
    assert funnel["delivered"] == real_events(sent_campaign, S.DELIVERED) == 5
    assert funnel["read"] == real_events(sent_campaign, S.READ) == 3
    assert funnel["failed"] == 2
    assert funnel["not_sent"] == real_events(sent_campaign, S.NOT_SENT) == 1
    assert funnel["delivery_rate"] == round(100 * 5 / 9, 1) == 55.6
    assert funnel["read_rate"] == 60.0
    assert funnel["failure_rate"] == round(100 * 3 / 11, 1)
    steps = {step["step"]: step for step in funnel["steps"]}
    assert [s["count"] for s in funnel["steps"]] == [11, 9, 6, 5, 3]
    assert steps["delivered"]["of_previous"] == round(100 * 5 / 6, 1)
    assert steps["read"]["of_queued"] == round(100 * 3 / 11, 1)

    outcomes = {o["name"]: o["count"] for o in data["outcomes"]}
    assert outcomes == {"waiting": 1, "failed": 2, "not_sent": 1, "unknown": 0, "skipped": 1}

    failures = {f["code"]: f for f in data["failures"]}
    assert set(failures) == {"131049", "E110", "not-sent"}
    assert failures["131049"]["meaning"] == explain_meta("131049").meaning
    assert failures["131049"]["action"] == explain_meta("131049").action
    assert failures["E110"]["action"] == explain("E110").action
    assert data["skip_reasons"] == [{"reason": "Opted out", "count": 1}]

    rows = data["timeline"]["rows"]
    assert sum(r["sends"] for r in rows) == 9
    assert sum(r["delivered"] for r in rows) == 5
    assert sum(r["reads"] for r in rows) == 3

    orders = data["orders"]
    assert orders["count"] == Order.objects.filter(campaign=sent_campaign).count() == 2
    assert orders["totals"] == [
        {"currency": "INR", "orders": 2, "revenue": "350.00", "revenue_text": "₹350.00"}
    ]
    kurta, saree = orders["products"]
    assert (kurta["name"], kurta["orders"], kurta["units"], kurta["revenue"]) == (
        "Silk kurta",
        2,
        3,
        "300.00",
    )
    assert (saree["name"], saree["orders"], saree["units"], saree["revenue_text"]) == (
        "Cotton saree",
        1,
        1,
        "₹50.00",
    )


def cell(html: str, step: str, field: str) -> str:
    row = re.search(rf'<tr data-step="{step}">(.*?)</tr>', html, re.S).group(1)
    return re.search(rf'data-field="{field}">([^<]*)<', row).group(1).strip()


def test_the_campaign_page_shows_the_same_numbers(viewer, sent_campaign):
    response = viewer.get(reverse("campaigns:detail", args=[sent_campaign.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert [
        cell(html, s, "count") for s in ("queued", "accepted", "sent", "delivered", "read")
    ] == [
        "11",
        "9",
        "6",
        "5",
        "3",
    ]
    assert cell(html, "delivered", "of_previous") == "83.3%"
    assert 'data-dash="delivery_rate">55.6%<' in html
    assert 'data-dash="read_rate">60.0%<' in html
    assert "₹350.00" in html and "₹300.00" in html and "Silk kurta" in html
    assert escape(explain_meta("131049").meaning) in html
    assert "?state=failed&amp;code=131049#results" in html
    # The chart is drawn from vendored files, with a text alternative.
    assert "vendor/chartjs/chart.umd.min.js" in html and "campaigns/dashboard.js" in html
    assert 'role="img" aria-label=' in html and "Show the numbers as a table" in html


def test_a_failure_group_links_to_its_recipients(viewer, sent_campaign):
    url = reverse("campaigns:detail", args=[sent_campaign.pk])
    html = viewer.get(url, {"state": "failed", "code": "131049"}).content.decode()
    rows = re.search(r"<tbody>(.*?)</tbody>", html.split('id="results"')[1], re.S).group(1)
    assert rows.count("<tr>") == 1 and "131049" in rows


def test_a_campaign_without_recipients_has_no_dashboard(viewer):
    campaign = make_campaign()
    html = viewer.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert 'id="dashboard"' not in html and "chart.umd.min.js" not in html
    assert viewer.get(dashboard_url(campaign)).json()["funnel"]["total"] == 0


def test_the_json_needs_login_and_the_view_permission(client, sent_campaign):
    response = client.get(dashboard_url(sent_campaign))
    assert response.status_code == 302 and "/login/" in response["Location"]
    client.force_login(user_with("add_campaign"))
    assert client.get(dashboard_url(sent_campaign)).status_code == 403
    client.force_login(user_with("view_campaign", username="viewer"))
    response = client.get(dashboard_url(sent_campaign))
    assert response.status_code == 200
    assert set(response["Cache-Control"].split(", ")) == {"private", "no-store"}
    assert client.get(reverse("campaigns:dashboard", args=[999999])).status_code == 404
    assert client.post(dashboard_url(sent_campaign)).status_code == 405


def test_the_results_list_needs_the_view_permission(client):
    url = reverse("campaigns:results")
    assert client.get(url).status_code == 302
    client.force_login(user_with("add_campaign"))
    assert client.get(url).status_code == 403


def many_recipients(campaign, count: int, start: int = 0):
    for i in range(start, start + count):
        deliver(campaign, phone(i), M.READ, events=(S.SENT, S.DELIVERED, S.READ))
    order(campaign, (make_product(), 1, Decimal("10.00")))


def test_the_json_takes_a_bounded_number_of_queries(viewer, django_assert_max_num_queries):
    campaign = make_campaign()
    many_recipients(campaign, 5)
    # Session, user and permissions (3), then the campaign, funnel, failures, skips, the
    # chart's span and two timeline queries, two for orders (10): the same for any size.
    with django_assert_max_num_queries(13):
        assert viewer.get(dashboard_url(campaign)).status_code == 200
    many_recipients(campaign, 60, start=100)
    with django_assert_max_num_queries(13):
        data = viewer.get(dashboard_url(campaign)).json()
    assert data["funnel"]["read"] == 65 and data["orders"]["count"] == 2


def test_the_campaign_page_takes_a_bounded_number_of_queries(viewer, django_assert_max_num_queries):
    campaign = make_campaign()
    many_recipients(campaign, 60)
    with django_assert_max_num_queries(18):
        assert viewer.get(reverse("campaigns:detail", args=[campaign.pk])).status_code == 200


def test_the_timeline_uses_hours_for_a_longer_campaign_and_fills_the_gaps(viewer):
    campaign = make_campaign()
    # On the hour, so the read five minutes later falls in the first hour whatever the clock says.
    two_days_ago = (timezone.now() - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    deliver(
        campaign,
        phone(1),
        M.READ,
        events=(S.DELIVERED, S.READ),
        claimed_at=two_days_ago,
        at=two_days_ago + timedelta(minutes=5),
    )
    deliver(campaign, phone(2), M.DELIVERED, events=(S.DELIVERED,))
    timeline = viewer.get(dashboard_url(campaign)).json()["timeline"]
    assert timeline["bucket"] == "hour"
    assert 48 <= len(timeline["rows"]) <= 50  # every hour between, the empty ones too
    assert sum(r["sends"] for r in timeline["rows"]) == 2
    assert sum(r["delivered"] for r in timeline["rows"]) == 2
    assert timeline["rows"][0]["reads"] == 1


# --- across campaigns -----------------------------------------------------------------------------


@pytest.fixture
def three_campaigns():
    """Delivery rates 100 %, 50 % and none yet; read rates 0 %, 100 %; orders 0, 1, 3."""
    good = make_campaign(name="All delivered")
    deliver(good, phone(1), M.DELIVERED)
    deliver(good, phone(2), M.DELIVERED)
    half = make_campaign(name="Half delivered")
    deliver(half, phone(1), M.READ)
    deliver(half, phone(2), M.ACCEPTED)
    order(half, (make_product(), 1, Decimal("99.00")))
    none_yet = make_campaign(name="Not sent yet")
    for _ in range(3):
        order(none_yet, (make_product(), 1, Decimal("5.00")))
    return good, half, none_yet


def names_in_order(html: str) -> list[str]:
    return re.findall(r'<a href="/campaigns/\d+/">([^<]+)</a>', html)


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("-delivery_rate", ["All delivered", "Half delivered", "Not sent yet"]),
        ("delivery_rate", ["Half delivered", "All delivered", "Not sent yet"]),
        ("-read_rate", ["Half delivered", "All delivered", "Not sent yet"]),
        ("-orders", ["Not sent yet", "Half delivered", "All delivered"]),
        ("name", ["All delivered", "Half delivered", "Not sent yet"]),
    ],
)
def test_the_results_list_sorts(viewer, three_campaigns, sort, expected):
    response = viewer.get(reverse("campaigns:results"), {"sort": sort})
    assert response.status_code == 200
    assert names_in_order(response.content.decode()) == expected


def test_the_results_list_shows_rates_and_marks_the_sorted_column(viewer, three_campaigns):
    html = viewer.get(reverse("campaigns:results"), {"sort": "-delivery_rate"}).content.decode()
    assert re.findall(r'data-rate="delivery">([^<]+)<', html) == ["100.0%", "50.0%", "—"]
    assert 'aria-sort="descending"' in html
    assert "Campaign results, sorted by delivery rate, highest first</caption>" in html
    # The sorted column's link flips the direction; another column starts highest first.
    assert 'href="?sort=delivery_rate"' in html and 'href="?sort=-read_rate"' in html


@pytest.mark.parametrize("sort", ["bogus", "-", "--orders", "id", "delivery_rate;drop", ""])
def test_an_unknown_sort_falls_back_to_the_newest_first(viewer, three_campaigns, sort):
    response = viewer.get(reverse("campaigns:results"), {"sort": sort})
    assert response.status_code == 200
    assert "sorted by date created, newest first</caption>" in response.content.decode()
    assert names_in_order(response.content.decode()) == [
        "Not sent yet",
        "Half delivered",
        "All delivered",
    ]


def test_result_sort_whitelist():
    assert dashboard.result_sort("-orders") == "-orders"
    assert dashboard.result_sort("read_rate") == "read_rate"
    assert dashboard.result_sort("password") == dashboard.DEFAULT_RESULT_SORT
    assert dashboard.result_sort(None) == dashboard.DEFAULT_RESULT_SORT


# --- admin ----------------------------------------------------------------------------------------


def test_the_admin_change_page_shows_a_funnel_summary(admin_client, sent_campaign):
    url = reverse("admin:campaigns_campaign_change", args=[sent_campaign.pk])
    html = admin_client.get(url).content.decode()
    assert 'id="mpm-funnel"' in html and 'id="mpm-progress"' in html
    assert re.search(r'data-funnel="read"><strong>3</strong>', html)
    assert "Delivery rate <strong>55.6%</strong>" in html
    draft = make_campaign(name="Draft")
    html = admin_client.get(
        reverse("admin:campaigns_campaign_change", args=[draft.pk])
    ).content.decode()
    assert 'id="mpm-funnel"' not in html


def test_the_results_list_pages_through_many_campaigns_in_sort_order(viewer):
    for n in range(30):
        make_campaign(name=f"Campaign {n:02d}")
    url = reverse("campaigns:results")

    first = viewer.get(url, {"sort": "name"}).content.decode()
    second = viewer.get(url, {"sort": "name", "page": 2}).content.decode()

    assert names_in_order(first) == [f"Campaign {n:02d}" for n in range(25)]
    assert names_in_order(second) == [f"Campaign {n:02d}" for n in range(25, 30)]
    assert "Page 1 of 2" in first and 'href="?sort=name&amp;page=2"' in first
    assert "30 campaigns." in second
    # A page past the end shows the last one rather than an error.
    assert names_in_order(viewer.get(url, {"sort": "name", "page": 99}).content.decode()) == [
        f"Campaign {n:02d}" for n in range(25, 30)
    ]
