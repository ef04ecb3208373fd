"""The segment editor in a real browser: conditions added, changed and removed by
static/campaigns/segments.js, the live count following each change, the segment saved with the
rules the rows show; no inline script (the CSP fixture fails on any violation)."""

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, User
from playwright.sync_api import Page, expect

from campaigns import roles
from campaigns.models import Contact, Segment

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
PASSWORD = "a-long-test-password-42"


def test_a_segment_is_built_with_a_live_count_and_saved(page: Page, app):
    user = User.objects.create_user("meera", password=PASSWORD)
    roles.create_groups(django_apps)  # an earlier transactional test may have flushed them
    user.groups.add(Group.objects.get(name="Marketers"))
    for n, city in enumerate(["Nashik", "Nashik", "Nagpur"]):
        Contact.objects.create(phone=f"+91980000000{n}", attributes={"city": city})
    everyone = Contact.objects.count()  # the demo's contacts too
    page.goto(f"{app.url}/campaigns/segments/new/")
    page.get_by_label("Username").fill("meera")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    count = page.locator("#segment-count")
    expect(count).to_contain_text(f"{everyone} contact(s)")  # no condition yet: everyone
    page.get_by_role("button", name="Add a condition").click()
    row = page.locator("[data-condition='0']")
    row.get_by_label("Attribute", exact=True).fill("city")
    row.get_by_label("Value", exact=True).fill("Nashik")
    expect(count).to_contain_text("2 contact(s)")
    expect(page.locator("#segment-first")).to_contain_text("+919800000001")
    row.get_by_label("Not").check()
    expect(count).to_contain_text(f"{everyone - 2} contact(s)")
    row.get_by_label("Condition").select_option("ordered_in_days")
    expect(page.locator("#segment-problems")).to_contain_text("condition 1: days must be 1 to")
    page.locator("[data-condition='0']").get_by_label("Days").fill("30")
    expect(count).to_contain_text(f"{everyone} contact(s)")  # nobody ordered: "not" holds
    page.get_by_label("Name").fill("No recent order")
    page.get_by_role("button", name="Save the segment").click()
    expect(page.get_by_text("Segment “No recent order” saved.")).to_be_visible()
    segment = Segment.objects.get()
    assert segment.rules == [{"op": "ordered_in_days", "negate": True, "days": 30}]
    page.locator("[data-condition='0']").get_by_role("button", name="Remove").click()
    expect(count).to_contain_text(f"{everyone} contact(s)")
    expect(page.locator("[data-condition]")).to_have_count(0)
