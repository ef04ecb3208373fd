"""Uploads: how long a 1,000,000-row recipients CSV takes to be accepted by the web request, and
how fast the worker then checks it.

    .venv/bin/python benchmarks/upload_check.py                       # SQLite, 1,000,000 rows
    .venv/bin/python benchmarks/upload_check.py --database postgres --runs 3

Each run makes a fresh database with the demo campaign, posts the CSV to the composer's send page
through Django's test client (every middleware, the multipart parser, the form, the storage API,
the check enqueued on the database task backend), then runs `manage.py db_worker --batch`, which
checks every row as the page would show it: numbers, duplicates, opt-outs, earlier sends, the
frequency cap. It prints the time to accept, the worker's rows/second and its peak RSS.
"""

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from common import ROOT, fresh_database, run_child  # benchmarks/ on sys.path


def write_csv(path: Path, count: int):
    with path.open("w") as handle:
        handle.write("phone\n")
        for n in range(count):
            handle.write(f"+9198{n:07d}7\n")


def run(database: str, rows: int, workdir: Path) -> dict:
    """One run in a child process, so each run has its own settings and database."""
    env = {
        **os.environ,
        "DJANGO_DEBUG": "true",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": fresh_database(database, workdir, "mpm_upload_bench"),
        "DJANGO_MEDIA_ROOT": str(workdir / "media"),
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
        "MPM_CONSENT_REQUIRED": "false",  # made-up recipients: this measures the check
        "PYTHONPATH": str(ROOT),
    }
    csv_path = workdir / "recipients.csv"
    write_csv(csv_path, rows)
    return run_child(__file__, env, str(csv_path))


def child(csv_path: Path):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mpmsite.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    from campaigns.models import Campaign, RecipientUpload

    call_command("migrate", verbosity=0)
    call_command("demo", verbosity=0)
    campaign = Campaign.objects.get(name__endswith="(demo)")
    client = Client()
    client.force_login(User.objects.filter(is_superuser=True).first())
    with csv_path.open("rb") as handle:
        started = time.perf_counter()
        response = client.post(reverse("campaigns:send", args=[campaign.pk]), {"csv_file": handle})
        accepted = time.perf_counter() - started
    assert response.status_code == 302, response.status_code
    upload = RecipientUpload.objects.get()
    assert upload.state == RecipientUpload.State.PENDING

    started = time.perf_counter()
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    checking = time.perf_counter() - started
    upload.refresh_from_db()
    assert upload.state == RecipientUpload.State.CHECKED, upload.detail
    print(
        json.dumps(
            {
                "accepted_s": accepted,
                "check_s": checking,
                "rows": upload.rows_read,
                "valid": upload.valid,
                "rows_per_s": upload.rows_read / checking,
                "mb": upload.size / 1e6,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    results = []
    for number in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="mpm-upload-bench-") as workdir:
            result = run(args.database, args.rows, Path(workdir))
        results.append(result)
        print(
            f"run {number}: {result['rows']:,} rows ({result['mb']:.1f} MB) accepted in "
            f"{result['accepted_s']:.2f} s; checked in {result['check_s']:.1f} s = "
            f"{result['rows_per_s']:,.0f} rows/s; worker peak RSS {result['rss_mb']:.0f} MB"
        )
    if len(results) > 1:
        rates = [r["rows_per_s"] for r in results]
        accepted = [r["accepted_s"] for r in results]
        print(
            f"median: accepted in {statistics.median(accepted):.2f} s, "
            f"{statistics.median(rates):,.0f} rows/s ({args.database})"
        )


if __name__ == "__main__":
    main()
