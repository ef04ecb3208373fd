"""Contact imports: how fast the real import service reads, checks and writes a generated contact
CSV (the dry run, then the import), on a fresh database.

    .venv/bin/python benchmarks/contact_import.py                    # SQLite, 200,000 rows
    .venv/bin/python benchmarks/contact_import.py --rows 1000000
    .venv/bin/python benchmarks/contact_import.py --database postgres --mode update

Each run makes a fresh database in a child process, writes N rows (phone, name, two attributes,
every 50th row a duplicate of an earlier one, every 1000th a bad number), then calls the same
service functions the worker's tasks call: `contact_import_check` (the dry run) and, confirmed,
`contact_import_run` (chunks of MPM_IMPORT_CHUNK_ROWS, bulk inserts and updates, consent through
the ledger's bulk writer). `--mode update` imports the file twice (the second run updates every
contact); `--mode opt_out` records an opt-out per contact. It prints rows/second for each step
and the peak RSS.
"""

import argparse
import json
import os
import resource
import tempfile
from pathlib import Path

from common import ROOT, fresh_database, run_child, timed_file_import  # benchmarks/ on sys.path


def write_csv(path: Path, count: int):
    with path.open("w") as handle:
        handle.write("phone,name,city,tier\n")
        for n in range(count):
            if n % 1000 == 999:
                handle.write("not a number,Nobody,,\n")
                continue
            number = n - 25 if n % 50 == 49 else n  # a duplicate of an earlier row
            handle.write(f"+9198{number:08d},Customer {n},City {n % 97},{n % 3}\n")


def run(database: str, rows: int, mode: str, workdir: Path) -> dict:
    env = {
        **os.environ,
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": fresh_database(database, workdir, "mpm_contact_import_bench"),
        "DJANGO_MEDIA_ROOT": str(workdir / "media"),
        "PYTHONPATH": str(ROOT),
    }
    csv_path = workdir / "contacts.csv"
    write_csv(csv_path, rows)
    return run_child(__file__, env, str(csv_path), "--mode", mode)


def child(csv_path: Path, mode: str):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mpmsite.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.files.uploadedfile import File
    from django.core.management import call_command

    from campaigns.models import Contact
    from campaigns.services import contact_imports

    call_command("migrate", verbosity=0)
    owner = User.objects.create_user("bench")
    timings = {}
    passes = ("add", "update") if mode == "update" else (mode,)
    for step, step_mode in enumerate(passes):
        with csv_path.open("rb") as handle:
            job = contact_imports.contact_import_store(
                owner=owner, uploaded=File(handle, name="contacts.csv"), mode=step_mode
            )
        timings[f"dry_run_{step}_s"], timings[f"import_{step}_s"] = timed_file_import(
            contact_imports.CONTACT_IMPORTS, job
        )
    print(
        json.dumps(
            {
                **timings,
                "rows": job.preview["rows"],
                "counts": job.counts,
                "contacts": Contact.objects.count(),
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--mode", choices=["add", "update", "opt_out"], default="add")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.mode)
    with tempfile.TemporaryDirectory(prefix="mpm-contact-import-bench-") as workdir:
        result = run(args.database, args.rows, args.mode, Path(workdir))
    rows = result["rows"]
    for key, seconds in result.items():
        if key.endswith("_s"):
            print(f"{key[:-2]}: {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s")
    print(
        f"{result['contacts']:,} contacts; last import {result['counts']}; "
        f"peak RSS {result['rss_mb']:.0f} MB ({args.database})"
    )


if __name__ == "__main__":
    main()
