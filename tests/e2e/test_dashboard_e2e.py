"""The results dashboard in a real browser: the funnel, the chart (drawn by the vendored
Chart.js) and the tables show the stored results, and new delivery reports appear without a
reload. Screenshots of the dashboard and the results list are kept as artifacts."""

import os
import random
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone
from playwright.sync_api import Page, expect

from campaigns.models import Campaign, Message, Order, OrderItem, Product, StatusEvent
from tests.support.factories import make_status_event as event

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

PASSWORD = "a-long-test-password-42"
# Written when missing, or refreshed with MPM_UPDATE_DOCS_SCREENSHOT=1.
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
M, S = Message.State, StatusEvent.Status


@pytest.fixture
def marketer(app):
    user = User.objects.create_user("meera", password=PASSWORD)
    user.user_permissions.set(Permission.objects.filter(codename="view_campaign"))
    return user


def sent_demo_campaign() -> Campaign:
    """The demo campaign sent to 240 numbers over the last 40 minutes: most delivered, many
    read, a few failures with Meta's codes, some skipped, and orders for its products."""
    campaign = Campaign.objects.get()
    campaign.state = Campaign.State.COMPLETED
    campaign.save()
    rng = random.Random(7)
    start = timezone.now() - timedelta(minutes=40)
    for n in range(240):
        to = f"+9198765{n:05d}"
        if n % 40 == 0:
            Message.objects.create(
                campaign=campaign, to=to, state=M.SKIPPED, detail="Opted out (replied STOP)"
            )
            continue
        sent_at = start + timedelta(seconds=n * 6)
        roll = rng.random()
        state, meta = M.READ, ""
        if roll < 0.05:
            state, meta = M.FAILED, rng.choice(["131049", "131049", "131026"])
        elif roll < 0.07:
            state = M.NOT_SENT
        elif roll < 0.12:
            state = M.SENT
        elif roll < 0.45:
            state = M.DELIVERED
        message = Message.objects.create(
            campaign=campaign,
            to=to,
            state=state,
            meta_code=meta,
            message_id=f"DEMO{n:06d}",
            claimed_at=sent_at,
            attempts=1,
        )
        if state in (M.SENT, M.DELIVERED, M.READ):
            event(message, S.SENT, sent_at + timedelta(seconds=2))
        if state in (M.DELIVERED, M.READ):
            event(message, S.DELIVERED, sent_at + timedelta(seconds=rng.randint(5, 90)))
        if state == M.READ:
            event(message, S.READ, sent_at + timedelta(seconds=rng.randint(60, 900)))
        if state == M.FAILED:
            event(message, S.FAILED, sent_at + timedelta(seconds=3))
    products = list(Product.objects.order_by("retailer_id")[:4])
    for n in range(9):
        lines = [(products[n % len(products)], 1 + n % 2)]
        if n % 3 == 0:
            lines.append((products[(n + 1) % len(products)], 1))
        order = Order.objects.create(
            from_phone=f"+9198765{n:05d}",
            campaign=campaign,
            currency="INR",
            total=sum(p.price * q for p, q in lines),
        )
        for product, quantity in lines:
            OrderItem.objects.create(
                order=order,
                product=product,
                retailer_id=product.retailer_id,
                quantity=quantity,
                item_price=product.price,
                currency="INR",
            )
    return campaign


def sign_in(page: Page, base_url: str, path: str):
    page.goto(f"{base_url}{path}")
    page.get_by_label("Username").fill("meera")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_the_dashboard_shows_the_results_and_updates_live(page: Page, app, marketer, artifacts):
    campaign = sent_demo_campaign()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, app.url, f"/campaigns/{campaign.pk}/")
    expect(page.get_by_role("heading", name="How it went")).to_be_visible()

    read = Message.objects.filter(campaign=campaign, state=M.READ).count()
    read_cell = page.locator('tr[data-step="read"] [data-field="count"]')
    expect(read_cell).to_have_text(str(read))
    # The vendored Chart.js drew the chart, and its text alternative names the totals.
    page.wait_for_function("() => window.Chart && Chart.getChart('timeline-chart')")
    label = page.locator("#timeline-chart").get_attribute("aria-label")
    assert re.search(rf"\b{read} read\b", label), label
    expect(page.get_by_role("cell", name="131049", exact=False).first).to_be_visible()
    page.locator("#dashboard").screenshot(path=str(artifacts / "dashboard.png"))
    page.screenshot(path=str(artifacts / "dashboard-page.png"), full_page=True)
    if not DOCS_SCREENSHOT.exists() or os.environ.get("MPM_UPDATE_DOCS_SCREENSHOT"):
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(artifacts / "dashboard.png", DOCS_SCREENSHOT)

    # A read report arrives: the funnel and the chart follow without a reload.
    message = Message.objects.filter(campaign=campaign, state=M.DELIVERED).first()
    event(message, S.READ, timezone.now())
    Message.objects.filter(pk=message.pk).update(state=M.READ)
    expect(read_cell).to_have_text(str(read + 1), timeout=15_000)
    total_reads = page.evaluate(
        "() => Chart.getChart('timeline-chart').data.datasets[2].data.reduce((a, b) => a + b, 0)"
    )
    assert total_reads == read + 1

    page.goto(f"{app.url}/campaigns/results/?sort=-delivery_rate")
    expect(page.get_by_role("heading", name="Results across campaigns")).to_be_visible()
    page.screenshot(path=str(artifacts / "results-list.png"), full_page=True)
    assert errors == []
