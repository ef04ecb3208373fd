"""The contact import pages and the export: permissions, upload → dry run → preview → confirm →
summary (in the request and on a worker, with progress and a killed worker healed), the export
streamed and read back unchanged, and arbitrary text never a 500."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from campaigns.audiences.consent import Provenance, consent_record
from campaigns.models import Consent, ConsentEvent, Contact, ContactImport

pytestmark = pytest.mark.django_db
ASHA, RAVI = "+919876543210", "+919876543211"
IMPORTING = ("add_contact", "change_contact", "view_contact")
DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
UPLOAD_URL = reverse("campaigns:contact-import-upload")
EXPORT_URL = reverse("campaigns:contact-export")


def user_with(*codenames, username="marketer") -> User:
    user = User.objects.create_user(username, password="x")
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def marketer(client):
    client.force_login(user_with(*IMPORTING))
    return client


@pytest.fixture
def in_background(settings, monkeypatch):
    """Dry runs and imports on the database backend's worker, not in the request."""
    settings.MPM_UPLOAD_INLINE_BYTES = 0
    settings.TASKS = DATABASE_TASKS
    monkeypatch.setattr(
        "django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None
    )


def run_worker():
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)


def csv_file(text: str, name: str = "customers.csv") -> io.BytesIO:
    upload = io.BytesIO(text.encode())
    upload.name = name
    return upload


def upload(client, text: str, mode: str = "add", name: str = "customers.csv"):
    return client.post(UPLOAD_URL, {"csv_file": csv_file(text, name), "mode": mode})


def detail_url(job) -> str:
    return reverse("campaigns:contact-import", args=[job.pk])


def test_the_pages_need_a_login_and_the_contact_permissions(client):
    assert client.get(UPLOAD_URL).status_code == 302  # to the login page
    assert client.get(EXPORT_URL).status_code == 302
    client.force_login(user_with("view_campaign", "add_campaign"))
    assert client.get(UPLOAD_URL).status_code == 403
    assert client.get(EXPORT_URL).status_code == 403
    assert upload(client, f"phone\n{ASHA}\n").status_code == 403
    assert not Contact.objects.exists()


def test_someone_elses_import_is_not_shown(client, marketer):
    upload(marketer, f"phone\n{ASHA}\n")
    job = ContactImport.objects.get()
    client.force_login(user_with(*IMPORTING, username="other"))
    assert client.get(detail_url(job)).status_code == 404
    assert client.post(detail_url(job)).status_code == 404


def test_upload_dry_run_preview_confirm_and_summary(marketer):
    Contact.objects.create(phone=RAVI, name="Ravi", attributes={"city": "Goa"})
    text = f"phone,name,city\n{ASHA},Asha,Pune\n{RAVI},Ravi,Mumbai\nnot a number,x,y\n"
    response = upload(marketer, text, mode="update")
    job = ContactImport.objects.get()
    assert response.status_code == 302 and response["Location"] == detail_url(job)
    page = marketer.get(detail_url(job)).content.decode()
    assert job.state == ContactImport.State.CHECKED == ContactImport.objects.get().state
    assert "Line 4: phone:" in page and "Nothing is written until you confirm" in page
    assert 'data-count="new">1<' in page and 'data-count="updated">1<' in page
    assert Contact.objects.count() == 1  # the dry run wrote nothing

    marketer.post(detail_url(job))
    job.refresh_from_db()
    assert job.state == ContactImport.State.IMPORTED
    assert {k: job.counts[k] for k in ("new", "updated", "unchanged")} == {
        k: job.preview[k] for k in ("new", "updated", "unchanged")
    }
    assert Contact.objects.get(phone=RAVI).attributes == {"city": "Mumbai"}
    assert "Imported: 1 new, 1 updated" in marketer.get(detail_url(job)).content.decode()
    assert not default_storage.listdir("contact-imports")[1]  # the file went once imported

    marketer.post(detail_url(job))  # a second click imports nothing more
    assert Contact.objects.count() == 2


def test_a_file_without_a_phone_column_is_refused_on_the_form(marketer):
    response = upload(marketer, "name,city\nAsha,Pune\n")
    assert response.status_code == 400
    assert "needs a &#x27;phone&#x27; column" in response.content.decode()
    assert not ContactImport.objects.exists()


def test_on_a_worker_the_page_shows_progress_then_the_preview_then_the_summary(
    marketer, in_background, django_capture_on_commit_callbacks
):
    text = "phone\n" + "\n".join(f"+9198765{n:05d}" for n in range(300)) + "\n"
    with django_capture_on_commit_callbacks(execute=True):
        upload(marketer, text, mode="opt_out")
    job = ContactImport.objects.get()
    assert job.state == ContactImport.State.PENDING
    polled = marketer.get(detail_url(job), headers={"HX-Request": "true"})
    assert 'id="import-progress"' in polled.content.decode()
    run_worker()
    job.refresh_from_db()
    assert job.state == ContactImport.State.CHECKED, (job.state, job.detail)
    assert job.preview["opted_out"] == 300
    # The panel polling a finished step reloads the whole page (the preview).
    polled = marketer.get(detail_url(job), headers={"HX-Request": "true"})
    assert polled.headers["HX-Refresh"] == "true"

    with django_capture_on_commit_callbacks(execute=True):
        marketer.post(detail_url(job))
    assert "<progress" in marketer.get(detail_url(job)).content.decode()
    assert not Contact.objects.exists()
    run_worker()
    job.refresh_from_db()
    assert job.state == ContactImport.State.IMPORTED and job.counts["opted_out"] == 300
    assert Contact.objects.filter(consent=Consent.OPTED_OUT).count() == 300


def test_a_killed_import_is_resumed_from_its_last_chunk_when_its_page_is_polled(
    marketer, in_background, settings, django_capture_on_commit_callbacks
):
    settings.MPM_IMPORT_CHUNK_ROWS = 100
    text = "phone\n" + "\n".join(f"+9198765{n:05d}" for n in range(250)) + "\n"
    with django_capture_on_commit_callbacks(execute=True):
        upload(marketer, text, mode="opt_out")
    run_worker()
    job = ContactImport.objects.get()
    marketer.post(detail_url(job))  # confirmed; its worker never ran (killed before)
    # What a worker killed after its first chunk leaves: that chunk's rows and its progress.
    first = [line.split(",")[0] for line in text.splitlines()[1:101]]
    Contact.objects.bulk_create(Contact(phone=phone) for phone in first)
    consent_record_all(first)
    ContactImport.objects.filter(pk=job.pk).update(
        touched_at=timezone.now() - timedelta(minutes=5),
        lines_done=101,
        counts={"new": 100, "updated": 0, "unchanged": 0, "opted_in": 0, "opted_out": 100},
    )
    with django_capture_on_commit_callbacks(execute=True):
        polled = marketer.get(detail_url(job), headers={"HX-Request": "true"})
    assert polled.status_code == 200
    run_worker()
    job.refresh_from_db()
    assert job.state == ContactImport.State.IMPORTED
    assert (job.counts["new"], job.counts["opted_out"]) == (250, 250)
    assert ConsentEvent.objects.count() == 250  # the first chunk was not opted out twice


def consent_record_all(phones):
    for phone in phones:
        consent_record(phone, Consent.OPTED_OUT, Provenance("import"))


def exported(client, query: str = "") -> str:
    response = client.get(EXPORT_URL + query)
    assert response.status_code == 200 and response.streaming
    return b"".join(response.streaming_content).decode()


def test_the_export_imports_back_unchanged(marketer, settings):
    text = (
        "phone,name,time_zone,city,formula,note\n"
        f"{ASHA},Asha,Europe/Berlin,Pune,=HYPERLINK(1),\n"
        f'{RAVI},-Ravi,,Goa,,"a, b"\n'
    )
    upload(marketer, text)
    marketer.post(detail_url(ContactImport.objects.get()))
    consent_record(ASHA, Consent.OPTED_IN, Provenance("form"))
    before = list(Contact.objects.values_list("phone", "name", "time_zone", "attributes"))
    export = exported(marketer)
    rows = list(csv.reader(io.StringIO(export)))
    assert rows[0] == [
        "phone",
        "name",
        "time_zone",
        "consent",
        "consent_at",
        "city",
        "formula",
        "note",
    ]
    assert rows[1][1] == "Asha" and rows[1][6] == "'=HYPERLINK(1)"  # safe in a spreadsheet
    assert rows[2][3] == "unknown"

    upload(marketer, export, mode="update", name="contacts.csv")
    again = ContactImport.objects.latest("pk")
    assert (again.preview["unchanged"], again.preview["errors"]) == (2, 0)
    events = ConsentEvent.objects.count()
    marketer.post(detail_url(again))
    assert list(Contact.objects.values_list("phone", "name", "time_zone", "attributes")) == before
    assert ConsentEvent.objects.count() == events  # consent is never copied back
    assert "consent, consent_at ignored" in " ".join(again.preview["notes"])


def test_the_export_filters_by_consent(marketer):
    consent_record(ASHA, Consent.OPTED_IN, Provenance("form"))
    consent_record(RAVI, Consent.OPTED_OUT, Provenance("whatsapp_stop"))
    assert [r[0] for r in csv.reader(io.StringIO(exported(marketer, "?consent=opted_out")))] == [
        "phone",
        RAVI,
    ]
    assert len(exported(marketer, "?consent=bogus").splitlines()) == 3  # every contact


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from('phone,;\t"\n\r +91098765x\x00\ufeffé='), max_size=200)
)
def test_any_text_imports_or_says_why_and_never_a_500(client, text):
    user = User.objects.filter(username="fuzz").first() or user_with(*IMPORTING, username="fuzz")
    client.force_login(user)
    response = upload(client, text)
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        job = ContactImport.objects.latest("pk")
        page = client.get(response["Location"])
        assert page.status_code == 200
        assert job.state in (ContactImport.State.CHECKED, ContactImport.State.FAILED)
        if job.state == ContactImport.State.CHECKED:
            assert all(error.startswith("Line ") for error in job.preview["first_errors"])
            assert client.post(response["Location"]).status_code == 302
        else:
            assert job.detail


def test_a_dry_run_never_confirmed_is_purged_with_its_file_by_a_later_upload(marketer):
    upload(marketer, f"phone\n{ASHA}\n")
    left = ContactImport.objects.get()
    ContactImport.objects.filter(pk=left.pk).update(created_at=timezone.now() - timedelta(hours=3))
    upload(marketer, f"phone\n{RAVI}\n")
    assert list(ContactImport.objects.values_list("original_name", flat=True)) == ["customers.csv"]
    assert not ContactImport.objects.filter(pk=left.pk).exists()
    assert len(default_storage.listdir("contact-imports")[1]) == 1


def test_a_post_without_a_file_or_mode_names_the_fields(marketer):
    page = marketer.post(UPLOAD_URL, {})
    assert page.status_code == 400
    assert page.content.decode().count("This field is required.") == 2
