"""The catalog's feed import in the admin (upload → dry run → preview with errors by line →
confirm → summary, in the request and on a worker with progress) and its export as a feed."""

import io

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.urls import reverse

from campaigns.models import CatalogImport, Product

pytestmark = pytest.mark.django_db
UPLOAD_URL = reverse("admin:campaigns_product_import_feed")
FEED = (
    "id,title,availability,price,brand\n"
    "SKU-1,Shirt,in stock,999.00 INR,Acme\n"
    "SKU-2,Cap,sold out,10.00 INR,Acme\n"
    "SKU-3,Belt,in stock,450 INR,Acme\n"
)


def staff_with(*codenames, username="staff") -> User:
    user = User.objects.create_user(username, password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def staff(client):
    client.force_login(staff_with("add_product", "change_product", "view_product"))
    return client


def upload(client, text: str, **fields):
    feed_file = io.BytesIO(text.encode())
    feed_file.name = "feed.csv"
    return client.post(UPLOAD_URL, {"feed_file": feed_file, **fields})


def detail_url(job) -> str:
    return reverse("admin:campaigns_product_import_feed_detail", args=[job.pk])


def test_importing_needs_the_add_and_change_permissions(client):
    client.force_login(staff_with("view_product", "change_product"))
    assert client.get(UPLOAD_URL).status_code == 403
    assert upload(client, FEED).status_code == 403
    assert not Product.objects.exists()
    changelist = client.get(reverse("admin:campaigns_product_changelist")).content.decode()
    assert "Import feed" not in changelist


def test_upload_preview_with_errors_by_line_confirm_and_summary(staff):
    Product.objects.create(retailer_id="GONE", name="Old", price=1)
    changelist = staff.get(reverse("admin:campaigns_product_changelist")).content.decode()
    assert UPLOAD_URL in changelist
    response = upload(staff, FEED)
    job = CatalogImport.objects.get()
    assert response.status_code == 302 and response["Location"] == detail_url(job)
    page = staff.get(detail_url(job)).content.decode()
    assert "Nothing is written until you confirm" in page
    assert "Line 3 (id &#x27;SKU-2&#x27;): availability: &#x27;sold out&#x27;" in page
    assert '<th scope="row">New products</th><td>2</td>' in page
    assert "to be marked inactive</th><td>1 (GONE)" in page
    assert list(Product.objects.values_list("retailer_id", flat=True)) == ["GONE"]

    staff.post(detail_url(job))
    job.refresh_from_db()
    assert job.state == CatalogImport.State.IMPORTED
    assert dict(Product.objects.values_list("retailer_id", "active")) == {
        "SKU-1": True,
        "SKU-3": True,
        "GONE": False,
    }
    summary = staff.get(detail_url(job)).content.decode()
    assert "Imported: 2 new, 0 updated, 0 unchanged; 1 product(s) not in the feed" in summary
    staff.post(detail_url(job))  # a second click imports nothing more
    assert Product.objects.count() == 3


def test_keep_missing_leaves_the_other_products_alone(staff):
    Product.objects.create(retailer_id="OTHER", name="Other", price=1)
    upload(staff, FEED, keep_missing="on")
    job = CatalogImport.objects.get()
    assert "none: kept as they are" in staff.get(detail_url(job)).content.decode()
    staff.post(detail_url(job))
    assert Product.objects.get(retailer_id="OTHER").active


def test_a_file_that_is_not_a_feed_is_refused_on_the_form(staff):
    response = upload(staff, "phone,name\n+919876543210,Asha\n")
    assert response.status_code == 400
    assert "is not a Meta catalog feed: it needs the columns id, title" in response.content.decode()
    assert not CatalogImport.objects.exists()


def test_someone_elses_import_is_not_shown(client, staff):
    upload(staff, FEED)
    job = CatalogImport.objects.get()
    client.force_login(staff_with("add_product", "change_product", username="other"))
    assert client.get(detail_url(job)).status_code == 404
    assert client.post(detail_url(job)).status_code == 404


def test_on_a_worker_the_page_shows_progress_then_the_preview(
    staff, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.MPM_UPLOAD_INLINE_BYTES = 0
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    monkeypatch.setattr(
        "django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None
    )
    rows = "".join(f"SKU-{n},Item {n},in stock,{n + 1}.00 INR,\n" for n in range(300))
    with django_capture_on_commit_callbacks(execute=True):
        upload(staff, "id,title,availability,price,brand\n" + rows)
    job = CatalogImport.objects.get()
    page = staff.get(detail_url(job)).content.decode()
    assert job.state == CatalogImport.State.PENDING and 'http-equiv="refresh"' in page
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    job.refresh_from_db()
    assert job.state == CatalogImport.State.CHECKED and job.preview["new"] == 300
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(detail_url(job))
    assert CatalogImport.objects.get().state == CatalogImport.State.IMPORTING
    assert "The products are being written" in staff.get(detail_url(job)).content.decode()
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    job.refresh_from_db()
    assert job.state == CatalogImport.State.IMPORTED and job.counts["new"] == 300
    assert Product.objects.count() == 300


def test_the_export_is_a_meta_feed_of_the_active_products_for_who_may_view_them(staff, client):
    for n in range(2500):  # more than one chunk
        Product.objects.create(retailer_id=f"SKU-{n:04d}", name=f"Item {n}", price="999.5")
    Product.objects.create(retailer_id="GONE", name="Left the feed", price=1, active=False)
    changelist = staff.get(reverse("admin:campaigns_product_changelist")).content.decode()
    csv_url = reverse("admin:campaigns_product_export_feed", args=["csv"])
    assert csv_url in changelist and "Export feed (TSV)" in changelist
    response = staff.get(csv_url)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="catalog-feed.csv"' in response["Content-Disposition"]
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert (
        lines[0]
        == "id,title,description,availability,condition,price,sale_price,link,image_link,brand,item_group_id"
    )
    assert lines[1].startswith("SKU-0000,Item 0,,in stock,new,999.50 INR")
    assert len(lines) == 2501 and lines[-1].startswith("SKU-2499,")  # GONE is not in the feed
    tsv = b"".join(
        staff.get(reverse("admin:campaigns_product_export_feed", args=["tsv"])).streaming_content
    ).decode()
    assert tsv.splitlines()[1].split("\t")[:2] == ["SKU-0000", "Item 0"]
    assert (
        staff.get(reverse("admin:campaigns_product_export_feed", args=["xls"])).status_code == 404
    )
    client.force_login(staff_with("add_product", username="no-view"))
    assert client.get(csv_url).status_code == 403


def test_an_empty_catalog_exports_the_header_line(staff):
    response = staff.get(reverse("admin:campaigns_product_export_feed", args=["csv"]))
    assert b"".join(response.streaming_content).decode().startswith("id,title,description")
