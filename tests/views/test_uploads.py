"""Uploaded recipient files: the size limit (refused in plain words before the body is read), the
check in the request or on a worker with progress, the confirmation, Django's storage API, and
the purge of uploads never confirmed."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Message, OptOut, RecipientUpload
from campaigns.recipients import eligibility
from campaigns.services import uploads
from tests.support.factories import make_campaign
from tests.views.test_composer import ALL, ASHA, MEERA, RAVI, US_NUMBER, messages_text, user_with

pytestmark = pytest.mark.django_db

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def marketer(client) -> Client:
    client.force_login(user_with(*ALL))
    return client


def csv_file(text: str, name: str = "customers.csv") -> io.BytesIO:
    upload = io.BytesIO(text.encode())
    upload.name = name
    return upload


def send_url(campaign) -> str:
    return reverse("campaigns:send", args=[campaign.pk])


def upload_url(upload) -> str:
    return reverse("campaigns:upload", args=[upload.campaign_id, upload.pk])


def stored_files() -> list[str]:
    return default_storage.listdir("uploads")[1] if default_storage.exists("uploads") else []


def run_worker():
    """The database backend's own worker, once through everything queued."""
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Each test's files in its own folder (Django's default storage, as configured)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def in_background(settings, monkeypatch):
    """Every upload checked and queued by the database backend's worker, not in the request.
    The worker runs inside the test's transaction, so it must not drop the connection between
    tasks as a long-running worker does."""
    settings.MPM_UPLOAD_INLINE_BYTES = 0
    settings.TASKS = DATABASE_TASKS
    monkeypatch.setattr(
        "django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None
    )


# --- the size limit ------------------------------------------------------------------------------


def test_a_file_over_the_limit_is_refused_by_the_form_in_plain_words(marketer, settings):
    settings.MPM_UPLOAD_MAX_BYTES = 100_000
    campaign = make_campaign()
    body = "phone\n" + f"{ASHA}\n" * 9_000  # 126,006 bytes: within the request's allowance
    response = marketer.post(send_url(campaign), {"csv_file": csv_file(body)})
    assert response.status_code == 400
    assert "The file is 0.13 MB; the limit is 0.1 MB." in response.content.decode()
    assert not RecipientUpload.objects.exists() and stored_files() == []


def test_a_request_over_the_limit_is_refused_before_anything_reads_it(settings):
    """Even CSRF's check (which reads the form) never sees the body: 413 in plain words."""

    class Unreadable(io.RawIOBase):
        def read(self, *args):
            raise AssertionError("the body was read")

        readline = read

    client = Client(enforce_csrf_checks=True)
    client.force_login(user_with(*ALL))
    campaign = make_campaign()
    response = client.post(
        send_url(campaign),
        {"csv_file": csv_file("phone\n")},
        CONTENT_LENGTH=str(61_200_000),
        **{"wsgi.input": Unreadable()},
    )
    assert response.status_code == 413
    page = response.content.decode()
    assert "The upload is 61.2 MB; the limit is 50 MB." in page
    assert "Nothing was uploaded or sent." in page
    assert not RecipientUpload.objects.exists()


def test_a_real_body_over_the_limit_gets_the_413_page(marketer, settings):
    settings.MPM_UPLOAD_MAX_BYTES = 100_000
    campaign = make_campaign()
    response = marketer.post(send_url(campaign), {"csv_file": csv_file("x" * 300_000)})
    assert response.status_code == 413
    assert "The upload is 0.31 MB; the limit is 0.1 MB." in response.content.decode()


def test_the_send_page_states_the_limit(marketer):
    response = marketer.get(send_url(make_campaign()))
    assert "At most 50 MB." in response.content.decode()


# --- checking in the request (small files) -------------------------------------------------------


def test_a_small_csv_with_a_bad_row_shows_the_row_next_to_send_to_the_valid_ones(
    marketer, provider
):
    provider.answer()
    campaign = make_campaign()
    body = f"phone,body_1\n{ASHA},Asha\n12345,Ravi\n{MEERA},Meera\n"
    response = marketer.post(send_url(campaign), {"csv_file": csv_file(body)}, follow=True)
    page = response.content.decode()
    assert "From the file customers.csv: 3 rows read." in page
    assert "<td>3</td>" in page and "12345" in page and "has no country code" in page
    assert "Send to the 2 valid recipients" in page
    assert not Message.objects.exists() and len(provider.requests) == 0

    upload = RecipientUpload.objects.get()
    refused = marketer.post(upload_url(upload), {"confirm": "yes"}, follow=True)
    assert "Nothing was sent: 1 recipient(s) are not valid" in refused.content.decode()
    assert not Message.objects.exists()


def test_every_invalid_line_downloads_as_csv_from_the_confirmation(marketer, monkeypatch):
    monkeypatch.setattr(eligibility, "MAX_REPORTED", 2)  # the page lists 2, the file has all
    campaign = make_campaign()
    body = f"phone,body_1\n{ASHA},Asha\n12345,x\n=HYPERLINK(1),y\n+91 12,z\n"
    page = marketer.post(send_url(campaign), {"csv_file": csv_file(body)}, follow=True)
    upload = RecipientUpload.objects.get()
    link = reverse("campaigns:upload-invalid", args=[campaign.pk, upload.pk])
    assert f'href="{link}"' in page.content.decode()
    assert "Download the 3 invalid lines (CSV)" in page.content.decode()

    response = marketer.get(link)
    assert response["Content-Disposition"] == 'attachment; filename="customers-invalid.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[:2] for row in rows] == [
        ["line", "value"],
        ["3", "12345"],
        ["4", "'=HYPERLINK(1)"],
        ["5", "'+91 12"],
    ]
    assert "has no country code" in rows[1][2]
    other = Client()
    other.force_login(user_with(*ALL, username="someone-else"))
    assert other.get(link).status_code == 404


def test_the_confirmation_shows_the_first_5_recipients_with_their_own_values(marketer):
    campaign = make_campaign()
    rows = [f"+9198{n:08d},{n}-ref,Name {n}" if n != 1 else f"+9198{n:08d},," for n in range(7)]
    body = "phone,ref,body_1\n" + "\n".join(rows) + "\n"
    response = marketer.post(send_url(campaign), {"csv_file": csv_file(body)}, follow=True)
    plan = response.context["plan"]
    assert plan.first_columns == ["body_1", "ref"]
    assert plan.first_rows[:2] == [
        ("+919800000000", ["Name 0", "0-ref"]),
        ("+919800000001", ["", ""]),
    ]
    assert len(plan.first_rows) == 5
    page = response.content.decode()
    assert "The first 5 recipients with their own values" in page
    assert "<td>Name 4</td>" in page and "Name 5" not in page
    assert ">the campaign's<" in page


def test_a_dirty_10000_row_crm_export_sends_to_its_valid_rows_in_two_clicks(
    marketer, provider, in_background, django_capture_on_commit_callbacks
):
    provider.answer()
    campaign = make_campaign()
    lines = ["\ufeffContact ID;Name;phone;Email;body_1;Owner"]
    bad = {17: "98765 43210", 4_000: "", 9_999: "+91 12"}
    for n in range(10_000):
        number = bad.get(n, f"+9198{n:08d}")
        lines.append(f"{n};Customer {n};{number};c{n}@example.com;Name {n};Sales")
    body = "\r\n".join(lines) + "\r\n"

    with django_capture_on_commit_callbacks(execute=True):  # click 1: upload
        response = marketer.post(send_url(campaign), {"csv_file": csv_file(body, "crm.csv")})
    run_worker()  # the page polls while the worker checks
    page = marketer.get(response.url).content.decode()
    assert "From the file crm.csv: 10000 rows read." in page
    assert "Columns “Contact ID”, “Name”, “Email”, “Owner” ignored" in page
    assert "3 invalid lines: not sent" in page
    assert "Send to the 9997 valid recipients" in page

    upload = RecipientUpload.objects.get()
    with django_capture_on_commit_callbacks(execute=True):  # click 2: send to the valid ones
        marketer.post(upload_url(upload), {"confirm": "yes", "valid_only": "yes"})
    with django_capture_on_commit_callbacks(execute=True):
        run_worker()  # queues the valid rows, and enqueues the send
    run_worker()

    assert Message.objects.filter(state=Message.State.ACCEPTED).count() == 9_997
    assert len(provider.requests) == 9_997
    upload.refresh_from_db()
    assert upload.state == RecipientUpload.State.QUEUED
    assert upload.detail.startswith("9997 recipient(s) queued for sending.")
    assert "3 invalid line(s) were left out." in upload.detail


def test_a_csv_with_unknown_columns_is_refused_naming_the_file_and_nothing_is_kept(marketer):
    campaign = make_campaign()
    response = marketer.post(
        send_url(campaign), {"csv_file": csv_file("mobile,name\n+919876543210,Asha\n", "list.csv")}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "list.csv needs a &#x27;phone&#x27; column" in page
    assert "uploads/" not in page
    assert not RecipientUpload.objects.exists() and stored_files() == []


def test_a_semicolon_crm_export_has_its_extra_columns_ignored_with_a_note(marketer):
    campaign = make_campaign()
    body = f"\ufeffname;phone;email\nAsha;{ASHA};a@example.com\nRavi;{RAVI};r@example.com\n"
    response = marketer.post(send_url(campaign), {"csv_file": csv_file(body)}, follow=True)
    assert response.context["plan"].to_send == 2
    assert "Columns “name”, “email” ignored" in response.content.decode()


def test_a_header_only_csv_is_refused_and_nothing_is_kept(marketer):
    campaign = make_campaign()
    response = marketer.post(send_url(campaign), {"csv_file": csv_file("phone,body_1\n")})
    assert response.status_code == 400
    assert "The file has no recipients." in response.content.decode()
    assert not RecipientUpload.objects.exists() and stored_files() == []


def test_a_csv_is_confirmed_then_sent_with_its_own_values(
    marketer, provider, django_capture_on_commit_callbacks
):
    provider.answer()
    campaign = make_campaign()
    body = f"phone,body_1,ref\n{ASHA},Asha,a-1\n{RAVI},Ravi,r-1\n"
    confirm = marketer.post(send_url(campaign), {"csv_file": csv_file(body)}, follow=True)
    assert confirm.context["plan"].to_send == 2
    upload = RecipientUpload.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = marketer.post(upload_url(upload), {"confirm": "yes"}, follow=True)
    assert "2 recipient(s) queued for sending." in messages_text(response)
    bodies = [request.json() for request in provider.requests]
    assert sorted(b["extra_info"]["ref"] for b in bodies) == ["a-1", "r-1"]
    assert stored_files() == []  # the file is gone once queued
    assert RecipientUpload.objects.get().state == RecipientUpload.State.QUEUED
    again = marketer.post(upload_url(upload), {"confirm": "yes"}, follow=True)
    assert "confirmed already" in messages_text(again)
    assert len(provider.requests) == 2


def test_an_upload_of_another_user_cannot_be_seen_or_confirmed(marketer, provider):
    campaign = make_campaign()
    marketer.post(send_url(campaign), {"csv_file": csv_file(f"phone\n{ASHA}\n")})
    upload = RecipientUpload.objects.get()
    other = Client()
    other.force_login(user_with(*ALL, username="someone-else"))
    assert other.get(upload_url(upload)).status_code == 404
    assert other.post(upload_url(upload), {"confirm": "yes"}).status_code == 404
    assert RecipientUpload.objects.get().state == RecipientUpload.State.CHECKED
    assert not Message.objects.exists()


# --- checking and queueing on a worker (large files) ----------------------------------------------


def test_a_large_upload_is_checked_by_the_worker_with_progress_on_the_page(
    marketer, in_background, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(uploads, "PROGRESS_EVERY", 2)
    campaign = make_campaign()
    rows = [ASHA, "12345", RAVI, ASHA, MEERA, "+91 12", RAVI]  # 2 invalid, 2 duplicates
    body = "phone\n" + "\n".join(rows) + "\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = marketer.post(send_url(campaign), {"csv_file": csv_file(body)})
    upload = RecipientUpload.objects.get()
    assert response.url == upload_url(upload)  # answered at once: nothing was read yet

    page = marketer.get(upload_url(upload)).content.decode()
    assert "Waiting for a worker" in page and 'hx-trigger="every 1s"' in page
    poll = marketer.get(upload_url(upload), headers={"HX-Request": "true"})
    assert 'data-upload="rows-read">0<' in poll.content.decode()

    with CaptureQueriesContext(connection) as queries:
        run_worker()
    written = [
        tuple(int(n) for n in found.groups())
        for query in queries
        if query["sql"].startswith('UPDATE "campaigns_recipientupload"')
        and (
            found := re.search(
                r'"rows_read" = (\d+), "invalid" = (\d+), "duplicates" = (\d+)', query["sql"]
            )
        )
    ]
    # (rows read, invalid, duplicates) every 2 rows, then the final counts.
    assert written == [(2, 1, 0), (4, 1, 1), (6, 2, 1), (7, 2, 2)]

    upload.refresh_from_db()
    assert upload.state == RecipientUpload.State.CHECKED
    assert (upload.rows_read, upload.invalid, upload.duplicates, upload.valid) == (7, 2, 2, 3)
    assert [line for line, *_ in upload.plan["invalid"]] == [3, 7]
    assert upload.checked_at is not None

    poll = marketer.get(upload_url(upload), headers={"HX-Request": "true"})
    assert poll.headers["HX-Refresh"] == "true"  # done: the page reloads as the confirmation
    page = marketer.get(upload_url(upload)).content.decode()
    assert "From the file customers.csv: 7 rows read." in page
    assert "has no country code" in page and "+91 12" in page
    assert "Send to the 3 valid recipients" in page


def test_confirming_a_large_upload_queues_exactly_the_valid_recipients_on_the_worker(
    marketer, provider, in_background, django_capture_on_commit_callbacks
):
    provider.answer()
    campaign = make_campaign()
    OptOut.objects.create(phone=MEERA)
    body = f"phone\n{ASHA}\n{RAVI}\n{ASHA}\n{US_NUMBER}\n{MEERA}\n"
    with django_capture_on_commit_callbacks(execute=True):
        marketer.post(send_url(campaign), {"csv_file": csv_file(body)})
    run_worker()
    upload = RecipientUpload.objects.get()
    plan = marketer.get(upload_url(upload)).context["plan"]
    assert (plan.valid_count, plan.duplicate_count, plan.skipped_count, plan.to_send) == (
        4,
        1,
        2,
        2,
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = marketer.post(upload_url(upload), {"confirm": "yes"}, follow=True)
    assert "Queueing" in response.content.decode()
    assert not Message.objects.exists()  # the worker queues, not the request

    with django_capture_on_commit_callbacks(execute=True):
        run_worker()  # queues the upload, and enqueues its send
    run_worker()
    assert dict(Message.objects.values_list("to", "state")) == {
        ASHA: Message.State.ACCEPTED,
        RAVI: Message.State.ACCEPTED,
        US_NUMBER: Message.State.SKIPPED,
        MEERA: Message.State.SKIPPED,
    }
    assert len(provider.requests) == 2
    upload.refresh_from_db()
    assert upload.state == RecipientUpload.State.QUEUED
    assert upload.detail.startswith("2 recipient(s) queued for sending.")
    assert stored_files() == []
    page = marketer.get(upload_url(upload)).content.decode()
    assert "Follow the sending on the campaign" in page


def test_a_file_that_breaks_halfway_fails_in_plain_words(
    marketer, in_background, django_capture_on_commit_callbacks
):
    campaign = make_campaign()
    # Far enough down that the columns read well and the request accepts the file.
    body = ("phone\n" + f"{ASHA}\n" * 2000).encode() + b"\xff\xfe broken\n"
    upload = io.BytesIO(body)
    upload.name = "broken.csv"
    with django_capture_on_commit_callbacks(execute=True):
        marketer.post(send_url(campaign), {"csv_file": upload})
    run_worker()
    failed = RecipientUpload.objects.get()
    assert failed.state == RecipientUpload.State.FAILED
    assert re.match(r"broken\.csv, line \d+: 'utf-8' codec can't decode", failed.detail)
    page = marketer.get(upload_url(failed)).content.decode()
    assert "broken.csv, line " in page and "Upload a corrected file" in page
    assert stored_files() == []


# --- storage and purge ---------------------------------------------------------------------------


def test_files_go_through_djangos_storage_api_so_servers_can_share_them(
    marketer, provider, settings, tmp_path, django_capture_on_commit_callbacks
):
    """With another storage (in memory here, S3-like in production) nothing touches the disk."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    settings.MEDIA_ROOT = str(tmp_path)
    provider.answer()
    campaign = make_campaign()
    marketer.post(send_url(campaign), {"csv_file": csv_file(f"phone\n{ASHA}\n")})
    upload = RecipientUpload.objects.get()
    assert upload.file.name.startswith("uploads/") and upload.file.name.endswith(".csv")
    assert "customers" not in upload.file.name  # the name is ours, not the user's
    assert default_storage.open(upload.file.name).read() == f"phone\n{ASHA}\n".encode()
    assert list(tmp_path.iterdir()) == []
    with django_capture_on_commit_callbacks(execute=True):
        marketer.post(upload_url(upload), {"confirm": "yes"})
    assert len(provider.requests) == 1
    assert not default_storage.exists(upload.file.name)


def stored_upload(campaign, owner, *, age: timedelta, state=RecipientUpload.State.CHECKED):
    return RecipientUpload.objects.create(
        campaign=campaign,
        owner=owner,
        file=SimpleUploadedFile("list.csv", f"phone\n{ASHA}\n".encode()),
        original_name="list.csv",
        size=20,
        state=state,
        created_at=timezone.now() - age,
    )


def test_uploads_never_confirmed_are_purged_with_their_files_and_recent_ones_kept(settings):
    settings.MPM_UPLOAD_LIFETIME_HOURS = 2
    campaign = make_campaign()
    owner = user_with(*ALL)
    old = stored_upload(campaign, owner, age=timedelta(hours=3))
    failed = stored_upload(campaign, owner, age=timedelta(hours=5), state="failed")
    recent = stored_upload(campaign, owner, age=timedelta(hours=1))
    being_queued = stored_upload(campaign, owner, age=timedelta(hours=3), state="queueing")

    assert uploads.upload_purge() == 2

    assert set(RecipientUpload.objects.values_list("pk", flat=True)) == {recent.pk, being_queued.pk}
    assert not default_storage.exists(old.file.name)
    assert not default_storage.exists(failed.file.name)
    assert default_storage.exists(recent.file.name)
    assert default_storage.exists(being_queued.file.name)


def test_each_upload_purges_the_expired_ones_and_so_does_the_command(settings, capsys):
    settings.MPM_UPLOAD_LIFETIME_HOURS = 2
    campaign = make_campaign()
    owner = user_with(*ALL)
    first = stored_upload(campaign, owner, age=timedelta(hours=3))
    uploads.upload_store(  # each new upload purges the expired ones first
        campaign=campaign, owner=owner, uploaded=SimpleUploadedFile("new.csv", b"phone\n")
    )
    assert not RecipientUpload.objects.filter(pk=first.pk).exists()
    assert not default_storage.exists(first.file.name)

    RecipientUpload.objects.update(created_at=timezone.now() - timedelta(hours=3))
    call_command("purge_uploads")
    assert capsys.readouterr().out.strip() == "1 upload(s) removed."
    assert not RecipientUpload.objects.exists() and stored_files() == []


def test_each_upload_books_its_own_purge_on_a_backend_that_can_wait(
    marketer, in_background, settings, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    settings.MPM_UPLOAD_LIFETIME_HOURS = 2
    with django_capture_on_commit_callbacks(execute=True):
        marketer.post(send_url(make_campaign()), {"csv_file": csv_file(f"phone\n{ASHA}\n")})
    purge = DBTaskResult.objects.get(task_path="campaigns.tasks.purge_uploads_task")
    upload = RecipientUpload.objects.get()
    assert purge.run_after - upload.created_at == timedelta(hours=2, minutes=1)


def test_a_check_whose_worker_died_starts_again_when_its_page_is_polled(
    marketer, in_background, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    campaign = make_campaign()
    body = "phone\n" + "\n".join([ASHA, RAVI, "12345"]) + "\n"
    with django_capture_on_commit_callbacks(execute=True):
        marketer.post(send_url(campaign), {"csv_file": csv_file(body)})
    upload = RecipientUpload.objects.get()
    # A worker took it, wrote some progress, and was killed: its task row never finishes.
    DBTaskResult.objects.update(status="RUNNING")
    RecipientUpload.objects.update(
        state=RecipientUpload.State.CHECKING, rows_read=1, touched_at=timezone.now()
    )
    with django_capture_on_commit_callbacks(execute=True):
        marketer.get(upload_url(upload), headers={"HX-Request": "true"})
    assert DBTaskResult.objects.filter(status="READY").count() == 0  # a live check is left alone
    assert uploads.upload_check(upload_id=upload.pk).startswith("Upload")  # and not restarted

    RecipientUpload.objects.update(touched_at=timezone.now() - uploads.STALL_AFTER * 2)
    with django_capture_on_commit_callbacks(execute=True):
        marketer.get(upload_url(upload), headers={"HX-Request": "true"})
    assert DBTaskResult.objects.filter(status="READY").count() == 1
    run_worker()
    upload.refresh_from_db()
    assert upload.state == RecipientUpload.State.CHECKED
    assert (upload.rows_read, upload.invalid, upload.valid) == (3, 1, 2)


def test_a_queueing_whose_worker_died_is_finished_by_the_recovery_task_sending_each_once(
    marketer, provider, in_background, django_capture_on_commit_callbacks
):
    """Confirmed as "send to the valid ones", queued halfway by a worker that was then killed:
    the recovery task (no page open) queues it again, as confirmed, and each recipient gets one
    message."""
    from django_tasks_db.models import DBTaskResult

    from campaigns.tasks import recover_campaigns_task

    provider.answer()
    campaign = make_campaign()
    body = "phone\n" + "\n".join([ASHA, RAVI, MEERA, "12345"]) + "\n"
    with django_capture_on_commit_callbacks(execute=True):
        marketer.post(send_url(campaign), {"csv_file": csv_file(body)})
    run_worker()
    upload = RecipientUpload.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        marketer.post(upload_url(upload), {"confirm": "yes", "valid_only": "yes"})
    upload.refresh_from_db()
    assert (upload.state, upload.valid_only) == (RecipientUpload.State.QUEUEING, True)
    assert DBTaskResult.objects.filter(  # the recovery is booked with the queueing
        task_path="campaigns.tasks.recover_campaigns_task", status="READY"
    ).exists()
    # The worker took it, queued the first recipient and was killed.
    DBTaskResult.objects.filter(task_path="campaigns.tasks.queue_upload_task").update(
        status="RUNNING"
    )
    RecipientUpload.objects.update(touched_at=timezone.now())
    Message.objects.create(campaign=campaign, to=ASHA)
    assert uploads.upload_queue(upload_id=upload.pk) is None  # a live queueing is left alone

    RecipientUpload.objects.update(touched_at=timezone.now() - uploads.STALL_AFTER * 2)
    with django_capture_on_commit_callbacks(execute=True):
        assert recover_campaigns_task.call().endswith(
            "; 1 upload(s) restarted; 0 overdue scheduled campaign(s) started"
        )
    with django_capture_on_commit_callbacks(execute=True):
        run_worker()  # queues it again and enqueues the send
    run_worker()

    upload.refresh_from_db()
    assert upload.state == RecipientUpload.State.QUEUED
    assert sorted(Message.objects.values_list("to", "state")) == sorted(
        [(ASHA, "accepted"), (RAVI, "accepted"), (MEERA, "accepted")]
    )
    assert len(provider.requests) == 3


def test_the_invalid_lines_of_an_upload_whose_file_is_gone_are_a_404(marketer, settings):
    campaign = make_campaign()
    body = "phone\n" + "\n".join([ASHA, "12345"]) + "\n"
    marketer.post(send_url(campaign), {"csv_file": csv_file(body)})
    upload = RecipientUpload.objects.get()
    assert upload.state == RecipientUpload.State.CHECKED
    default_storage.delete(upload.file.name)  # purged, or on another server's disk
    url = reverse("campaigns:upload-invalid", args=[campaign.pk, upload.pk])
    response = marketer.get(url)
    assert response.status_code == 404
