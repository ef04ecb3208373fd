"""Catalog feed imports: how fast the admin's background import reads, checks and writes a
generated Meta feed (the dry run, then the import), on a fresh database; then the same feed
again (every row unchanged), and once more with every tenth product left out (marked inactive);
then the active products exported back as a CSV feed.

    .venv/bin/python benchmarks/catalog_import.py                    # SQLite, 100,000 rows
    .venv/bin/python benchmarks/catalog_import.py --rows 20000 --database postgres

Each run makes a fresh database in a child process, writes N rows in Meta's feed format (HTML
descriptions, prices and sale prices with a currency, brands, item groups, every 500th row bad),
then calls the service functions the worker's tasks call: `CATALOG_IMPORTS.check` (the dry run)
and, confirmed, `CATALOG_IMPORTS.run` (chunks of MPM_IMPORT_CHUNK_ROWS through django-import-
export's bulk saves). It prints rows/second for each step and the peak RSS.
"""

import argparse
import csv
import io
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from common import ROOT, fresh_database, run_child, timed_file_import  # benchmarks/ on sys.path

HEADER = "id,title,description,availability,condition,price,sale_price,link,image_link,brand,item_group_id\n"


def write_feed(path: Path, count: int, *, skip_every: int = 0):
    with path.open("w") as handle:
        handle.write(HEADER)
        for n in range(count):
            if skip_every and n % skip_every == 0:
                continue
            price = "free" if n % 500 == 499 else f"{100 + n % 900}.00 INR"
            sale = f"{50 + n % 40}.00 INR" if n % 3 == 0 else ""
            handle.write(
                f'SKU-{n:07d},Product {n} in size {n % 7},"<p>A <b>fine</b> product, '
                f'number {n}.</p><p>Hand wash &amp; dry.</p>",in stock,new,{price},{sale},'
                f"https://shop.example/p/{n},https://shop.example/i/{n}.jpg,Brand {n % 50},"
                f"group-{n // 4}\n"
            )


def run(database: str, rows: int, workdir: Path) -> dict:
    env = {
        **os.environ,
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": fresh_database(database, workdir, "mpm_catalog_import_bench"),
        "DJANGO_MEDIA_ROOT": str(workdir / "media"),
        "PYTHONPATH": str(ROOT),
    }
    write_feed(workdir / "feed.csv", rows)
    write_feed(workdir / "shorter.csv", rows, skip_every=10)
    return run_child(__file__, env, str(workdir))


def child(workdir: Path):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mpmsite.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.files.uploadedfile import File
    from django.core.management import call_command

    from campaigns.models import Product
    from campaigns.services.catalog_imports import CATALOG_IMPORTS

    call_command("migrate", verbosity=0)
    owner = User.objects.create_user("bench")
    timings, counts = {}, {}
    for step, name in enumerate(("feed.csv", "feed.csv", "shorter.csv")):
        with (workdir / name).open("rb") as handle:
            job = CATALOG_IMPORTS.store(owner=owner, uploaded=File(handle, name=name))
        timings[f"dry_run_{step}_s"], timings[f"import_{step}_s"] = timed_file_import(
            CATALOG_IMPORTS, job
        )
        counts[f"{step}"] = {**job.counts, "rows": job.preview["rows"]}
    from campaigns.catalog.exporting import feed_text

    started = time.perf_counter()
    text = "".join(feed_text("csv"))
    timings["export_s"] = time.perf_counter() - started
    exported = sum(1 for _ in csv.reader(io.StringIO(text))) - 1  # descriptions span lines
    print(
        json.dumps(
            {
                **timings,
                "exported": exported,
                "counts": counts,
                "products": Product.objects.count(),
                "active": Product.objects.filter(active=True).count(),
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    with tempfile.TemporaryDirectory(prefix="mpm-catalog-import-bench-") as workdir:
        result = run(args.database, args.rows, Path(workdir))
    steps = ("first import", "same feed again", "a tenth left out")
    for step, label in enumerate(steps):
        counts = result["counts"][str(step)]
        rows = counts["rows"]
        for kind in ("dry_run", "import"):
            seconds = result[f"{kind}_{step}_s"]
            print(
                f"{label}, {kind.replace('_', ' ')}: {rows:,} rows in {seconds:.1f} s "
                f"= {rows / seconds:,.0f} rows/s"
            )
        print(f"  {counts}")
    print(
        f"export (the active products as a CSV feed): {result['exported']:,} rows in "
        f"{result['export_s']:.1f} s = {result['exported'] / result['export_s']:,.0f} rows/s"
    )
    print(
        f"{result['products']:,} products, {result['active']:,} active; "
        f"peak RSS {result['rss_mb']:.0f} MB ({args.database})"
    )


if __name__ == "__main__":
    main()
