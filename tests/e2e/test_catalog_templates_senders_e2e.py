"""Issue 15's "done when", in a real browser against the live app and its sandbox: a staff member
imports a Meta feed in the admin (dry run, then the import) and syncs templates from the
sandbox's Kaleyra-shaped list; a marketer composes with a synced template, pastes 30 SKUs into a
section in one go, chooses a second sender whose name the preview shows, and sends: the sandbox
receives it from that sender's number. (100,000 rows: `benchmarks/catalog_import.py`.)"""

import re

import pytest
from django.contrib.auth.models import Permission, User
from playwright.sync_api import Page, expect

from campaigns.models import Message, MessageTemplate, Product, SendAttempt, Sender

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
PASSWORD = "a-long-test-password-42"
ROWS = 3000
CUSTOMER = "+919876543201"


def feed_file(path):
    lines = [
        "id,title,description,availability,condition,price,sale_price,link,image_link,brand,item_group_id"
    ]
    for n in range(ROWS):
        lines.append(
            f'FEED-{n:04d},Feed item {n},"<p>Item <b>{n}</b></p>",in stock,new,'
            f"{100 + n}.00 INR,,https://shop.example/p/{n},,Brand {n % 5},group-{n // 3}"
        )
    lines.append("FEED-BAD,Broken row,,sold out,new,1 INR,,,,,")
    path.write_text("\n".join(lines) + "\n")
    return path


def sign_in(page: Page, url: str, username: str):
    page.goto(url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Sign in|Log in")).click()


def test_feed_imported_templates_synced_thirty_skus_pasted_sent_from_a_second_sender(
    page: Page, app, sandbox, tmp_path, artifacts
):
    User.objects.create_superuser("staff", password=PASSWORD)
    marketer = User.objects.create_user("meera", password=PASSWORD)
    marketer.user_permissions.set(
        Permission.objects.filter(
            codename__in=["view_campaign", "add_campaign", "change_campaign", "send_campaign"]
        )
    )
    Sender.objects.create(
        display_name="Acme Store",
        business_number="+919000020001",
        region="in",
        sid="HXACME",
        is_default=True,
        rate_per_second=80,
    )
    Sender.objects.create(
        display_name="Brand Two Outlet",
        business_number="+919000020002",
        region="in",
        sid="HXBRAND2",
        api_key_variable="KALEYRA_API_KEY_BRAND2",
        rate_per_second=80,
    )

    # Staff: the feed, checked first, then imported.
    sign_in(page, f"{app.url}/admin/", "staff")
    page.goto(f"{app.url}/admin/campaigns/product/")
    page.get_by_role("link", name="Import feed").click()
    page.get_by_label("Feed file (CSV or TSV)").set_input_files(
        str(feed_file(tmp_path / "feed.csv"))
    )
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator("#import-counts")).to_contain_text(f"New products{ROWS}", timeout=60000)
    expect(page.locator("#import-errors")).to_contain_text(
        f"Line {ROWS + 2} (id 'FEED-BAD'): availability: 'sold out' is not one of Meta's values"
    )
    page.screenshot(path=str(artifacts / "catalog-import-preview.png"), full_page=True)
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Imported: {ROWS} new", timeout=60000)
    assert Product.objects.filter(retailer_id__startswith="FEED-").count() == ROWS

    # Staff: templates from the sandbox's Kaleyra-shaped list.
    page.goto(f"{app.url}/admin/campaigns/messagetemplate/")
    page.get_by_role("button", name="Sync templates from Kaleyra").click()
    expect(page.locator(".messagelist")).to_contain_text("created")
    assert MessageTemplate.objects.filter(name="new_arrivals", synced_at__isnull=False).exists()
    page.context.clear_cookies()

    # The marketer: a synced template, 30 pasted SKUs, the second sender.
    sign_in(page, f"{app.url}/campaigns/", "meera")
    page.get_by_role("link", name="+ New campaign").click()
    expect(page.locator("#composer[data-ready]")).to_be_attached()
    page.get_by_label("Campaign name").fill("New arrivals from feed")
    page.get_by_role("combobox", name="Template").select_option(label="new_arrivals (en)")
    page.get_by_label("Body value {{1}}").fill("Asha")
    page.get_by_role("combobox", name="Send from").select_option(
        label="Brand Two Outlet (+919000020002)"
    )
    page.get_by_label("Search the catalog for the thumbnail").fill("FEED-0000")
    page.get_by_role("button", name=re.compile("Feed item 0")).first.click()
    page.get_by_role("button", name="+ Add a section").click()
    page.get_by_label("Section 1 title").fill("Just in")
    page.locator("[data-section='1'] summary").click()
    skus = [f"FEED-{n:04d}" for n in range(100, 130)]
    page.get_by_label("SKUs to add to section 1").fill("\n".join(skus))
    page.get_by_role("button", name="Add these SKUs").click()
    expect(page.locator("#section-1-paste-report")).to_contain_text("30 products added.")
    expect(page.locator("#count-products")).to_have_text("30/30 products")
    expect(page.locator("#check-summary")).to_contain_text("No problems: ready to send.")
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Brand Two Outlet")
    expect(preview).not_to_contain_text("Your business")
    page.screenshot(path=str(artifacts / "composer-second-sender.png"), full_page=True)

    page.get_by_role("button", name="Save and choose recipients…").click()
    page.get_by_label("Phone numbers").fill(CUSTOMER)
    page.get_by_role("button", name="Check the recipients").click()
    page.get_by_role("button", name="Yes, send to 1 recipient now").click()
    expect(page.locator('[data-count="accepted"]')).to_have_text("1", timeout=20000)

    message = Message.objects.get(to=CUSTOMER)
    assert message.campaign.sender.display_name == "Brand Two Outlet"
    sent = [path for path in sandbox.requests if path.endswith("/messages")]
    assert len(sent) == 1 and re.search(r"/v2/HXBRAND2/whatsapp/\+?919000020002/messages$", sent[0])
    body = SendAttempt.objects.get(message=message).request_body
    action = body["messaging_object"]["template"]["components"][-1]["parameters"][0]["action"]
    assert [item["product_retailer_id"] for item in action["sections"][0]["product_items"]] == skus
