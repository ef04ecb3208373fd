"""`manage.py import_catalog`: a file or an address on 127.0.0.1 (a scheduled feed), the dry run,
--keep-missing, every failure in plain words with an exit status that tells the truth, and the
periodic import booked once and booking itself again."""

import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tasks_db.models import DBTaskResult

from campaigns.models import Product
from campaigns.tasks import import_catalog_feed_task

pytestmark = pytest.mark.django_db
FEED = "id,title,availability,price\nA,Shirt,in stock,10 USD\nB,Cap,in stock,5 USD\n"


@pytest.fixture
def served(tmp_path):
    """`tmp_path` served over HTTP on 127.0.0.1; yields its base address."""

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def run(*args) -> tuple[int, str]:
    """The command's exit status and what it printed."""
    from io import StringIO

    out = StringIO()
    try:
        call_command("import_catalog", *args, stdout=out, stderr=StringIO())
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def test_a_file_imported_then_a_shorter_one_marks_the_rest_inactive(tmp_path):
    (tmp_path / "feed.csv").write_text(FEED)
    assert run(str(tmp_path / "feed.csv"))[0] == 0
    (tmp_path / "short.csv").write_text(FEED.rsplit("B,", 1)[0])
    code, output = run(str(tmp_path / "short.csv"), "--dry-run")
    assert code == 0 and "Dry run, nothing written" in output and "1 products not in" in output
    assert Product.objects.filter(active=True).count() == 2
    assert run(str(tmp_path / "short.csv"), "--keep-missing")[0] == 0
    assert Product.objects.filter(active=True).count() == 2
    code, output = run(str(tmp_path / "short.csv"))
    assert (code, dict(Product.objects.values_list("retailer_id", "active"))) == (
        0,
        {"A": True, "B": False},
    )


def test_rows_with_errors_exit_1_and_the_others_are_imported(tmp_path):
    (tmp_path / "feed.csv").write_text(FEED + "C,Belt,in stock,5\n")
    code, output = run(str(tmp_path / "feed.csv"))
    assert code == 1
    assert "Line 4 (id 'C'): price: '5' is not a price" in output
    assert "1 row(s) had errors and were left out; the others were imported." in output
    assert Product.objects.count() == 2


def test_a_feed_at_an_address_is_fetched_and_imported(served, tmp_path):
    (tmp_path / "feed.tsv").write_text(FEED.replace(",", "\t"))
    code, output = run(f"{served}/feed.tsv")
    assert code == 0, output
    assert sorted(Product.objects.values_list("retailer_id", flat=True)) == ["A", "B"]


def test_what_cannot_be_read_exits_2_and_says_why(served, tmp_path):
    code, output = run(f"{served}/missing.csv")
    assert code == 2 and "answered HTTP 404" in output
    assert run(str(tmp_path / "nowhere.csv")) == (
        2,
        f"Cannot read {tmp_path}/nowhere.csv: No such file or directory.",
    )
    (tmp_path / "contacts.csv").write_text("phone\n+919876543210\n")
    code, output = run(str(tmp_path / "contacts.csv"))
    assert code == 2 and "id, title, availability, price are missing" in output
    assert not Product.objects.exists()


def test_too_large_a_feed_is_refused(served, tmp_path, settings):
    settings.MPM_UPLOAD_MAX_BYTES = 100_000
    (tmp_path / "big.csv").write_text(FEED + "X,Y,in stock,1 USD\n" * 10_000)
    code, output = run(f"{served}/big.csv")
    assert code == 2 and "larger than 100,000 bytes (MPM_UPLOAD_MAX_BYTES)" in output
    assert not Product.objects.exists()


def test_every_books_the_periodic_import_once_and_it_books_itself_again(
    served, tmp_path, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    (tmp_path / "feed.csv").write_text(FEED)
    url = f"{served}/feed.csv"
    assert run(url, "--every", "0.5")[0] == 2  # Meta reads feeds at most hourly
    with django_capture_on_commit_callbacks(execute=True):
        code, output = run(url, "--every", "6")
    assert code == 0 and "imported now on a worker, then every 6 hour(s)" in output
    with django_capture_on_commit_callbacks(execute=True):
        assert "already" in run(url, "--every", "6")[1]
    booked = DBTaskResult.objects.get()
    assert booked.args_kwargs["args"] == [url, False, 6.0]
    # The worker's run: imported, and the next one booked six hours later.
    result = import_catalog_feed_task.call(url, False, 6.0)
    assert "2 new" in result and Product.objects.count() == 2
    later = DBTaskResult.objects.exclude(pk=booked.pk).get()
    assert (later.run_after - later.enqueued_at).total_seconds() == pytest.approx(6 * 3600, abs=5)
