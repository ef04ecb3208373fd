"""Pages at scale: how fast the campaign pages answer with a 1,000,000-recipient campaign in the
database, and how fast the per-campaign counters are rebuilt from the records.

    .venv/bin/python benchmarks/pages_at_scale.py                       # SQLite, 1,000,000
    .venv/bin/python benchmarks/pages_at_scale.py --recipients 200000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mpm_bench .venv/bin/python benchmarks/pages_at_scale.py

The database is a fresh SQLite file in a temporary folder, or the PostgreSQL database that
DATABASE_URL names: created when missing, its public schema dropped and migrated anew (so the
name must contain "bench"). The demo data is loaded (`manage.py demo`: catalog, template, admin),
then the demo campaign cloned into 30 completed campaigns of 10,000 messages and one of N
(`--small-campaigns`, `--small-size`, `--recipients`), in the end states a real send leaves:
~55 % read, 25 % delivered, 8 % sent, 6 % failed (Meta's 131049, 131026, 131047, 130472 and a
few of Kaleyra's E413 and WA500), 3 % skipped (opt-outs, the frequency cap), 1 % unknown, the
rest accepted, claimed over ~3.5 hours; one applied `delivered` or `read` StatusEvent per
delivered or read message (and the earlier `delivered` of a third of the read ones, ~1,000,000
events for the big campaign) over the following hours; a few hundred orders. Rows go in by COPY
(PostgreSQL) or `executemany` in one transaction per chunk (SQLite) with the counter triggers
dropped, then the triggers are recreated and `tallies_rebuild()` recounts every campaign: its
rows/s is the rebuild benchmark (`--keep-triggers` seeds with the triggers on instead).

Then each page is fetched with Django's test client (every middleware, DEBUG off, production
settings apart from the fake Kaleyra account) as the demo's superuser: one warm-up, then the
median of `--runs`. It prints a table of page, median ms, each run, status, queries (of the
warm-up) and the target: every page <= 100 ms; the dashboard JSON asked again with the ETag of
its answer (If-None-Match) answers 304 in <= 10 ms; the big campaign's per-recipient CSV,
streamed to the end, at >= 100,000 rows/s.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from common import ROOT  # benchmarks/ on sys.path

CHUNK = 50_000  # messages per transaction (and per COPY)
SENDER = "919000000001"
PAGE_TARGET_MS, NOT_MODIFIED_TARGET_MS, CSV_TARGET_ROWS_PER_S = 100, 10, 100_000

# (state, share of the recipients): accepted takes what is left (~2 %).
STATES = (
    ("read", 0.55),
    ("delivered", 0.25),
    ("sent", 0.08),
    ("failed", 0.06),
    ("skipped", 0.03),
    ("unknown", 0.01),
    ("accepted", 0.02),
)
# Failures: Meta's codes come by callback after Kaleyra accepted (the message has an id);
# Kaleyra's own refuse the send (no id), WA500 after its retries.
FAILURES = (
    ("131049", 0.40),
    ("131026", 0.25),
    ("131047", 0.15),
    ("130472", 0.10),
    ("E413", 0.06),
    ("WA500", 0.04),
)
KALEYRA_FAILURES = frozenset({"E413", "WA500"})
READ_ALSO_DELIVERED = 1 / 3  # read messages whose earlier `delivered` event is stored too
SEND_SPAN_S = 3.5 * 3600

MESSAGE_COLUMNS = (
    "id", "campaign_id", "to", "overrides", "state", "message_id", "last_code", "meta_code",
    "meta_retried", "detail", "attempts", "next_attempt_at", "claimed_by", "claimed_at",
    "is_test", "created_at", "updated_at",
)  # fmt: skip
EVENT_COLUMNS = (
    "message_id", "event_key", "provider_message_id", "alt_message_id", "ref", "recipient",
    "sender", "status", "status_raw", "timestamp", "error_code", "error_title", "error_details",
    "price", "currency", "raw", "received_at", "applied",
)  # fmt: skip


# --- the database ----------------------------------------------------------------------------------


def prepare_postgres(url: str, *, reuse: bool = False) -> str:
    """The database of `url`, created when missing, with an empty public schema (kept as it is
    with `reuse`)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(
            f"DATABASE_URL names database {name!r}: this script empties it, so its name must "
            "contain 'bench' (e.g. postgres://postgres@127.0.0.1:5432/mpm_bench)."
        )
    conninfo = urlunsplit(("postgresql", parts.netloc, f"/{name}", "", ""))
    try:
        psycopg.connect(conninfo).close()
    except psycopg.OperationalError:
        server = urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    if not reuse:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute("CREATE SCHEMA public")
    return url


def configure(workdir: Path, *, reuse: bool = False) -> str:
    """Production settings (DEBUG off) on a benchmark database; returns the database's kind."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://", "pgsql://")):
        database, kind = prepare_postgres(url, reuse=reuse), "postgresql"
    elif reuse:
        raise SystemExit("--reuse: a PostgreSQL DATABASE_URL seeded by an earlier run")
    elif url:
        raise SystemExit("DATABASE_URL: only a PostgreSQL URL (unset: a fresh SQLite file)")
    else:
        database, kind = f"sqlite:///{workdir / 'bench.sqlite3'}", "sqlite"
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "mpmsite.settings",
            "DJANGO_ENV_FILE": "",  # a developer's .env stays out
            "DATABASE_URL": database,
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "benchmark-only-secret",
            "DJANGO_ALLOWED_HOSTS": "testserver",
            "DJANGO_STATIC_ROOT": str(workdir / "static"),
            "DJANGO_MEDIA_ROOT": str(workdir / "media"),
            "MPM_JOURNAL_DIR": str(workdir / "journal"),
            # Live mode as in production; nothing is sent (the pages only read).
            "KALEYRA_MODE": "live",
            "KALEYRA_SID": "HXBENCH",
            "KALEYRA_API_KEY": "benchmark-key",
            "KALEYRA_SENDER": f"+{SENDER}",
            "KALEYRA_BASE_URL": "http://127.0.0.1:9",
            "LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    return kind


# --- the seed ---------------------------------------------------------------------------------------


class Plan:
    """One campaign's messages and events as rows, chunk by chunk, from a seeded generator."""

    def __init__(
        self,
        campaign_id: int,
        first_id: int,
        count: int,
        start: datetime,
        *,
        offset: int,
        orders: int,
    ):
        from campaigns.callbacks.effects import failure_detail
        from campaigns.kaleyra.answers import explain
        from campaigns.recipients.eligibility import OPT_OUT_SKIP_REASON, frequency_cap_reason

        self.campaign_id, self.first_id, self.count = campaign_id, first_id, count
        self.start, self.offset = start, offset
        self.rng = random.Random(campaign_id)
        self.details = {
            code: str(explain(code)) if code in KALEYRA_FAILURES else failure_detail("failed", code)
            for code, _ in FAILURES
        }
        self.details["WA500"] += " Failed for good after 4 attempts."
        self.unknown = str(explain("timeout"))
        self.skips = [
            *(
                f"Not sent: this number opted out on 2026-11-{day:02d} ({how})"
                for day in range(1, 29)
                for how in ("STOP", "Replied with a stop word")
            ),
            "Not sent: frequency cap",
            frequency_cap_reason(24),
            OPT_OUT_SKIP_REASON,
        ]
        # Every `order_every`-th message, when read, is one an order comes from.
        self.order_every = max(1, int(count * 0.5 / max(1, orders)))
        self.order_messages: list[tuple[int, str, str, datetime]] = []

    def chunks(self, stamp):
        """(message rows, event rows) per CHUNK messages; `stamp` adapts datetimes."""
        rng, names = self.rng, [s for s, _ in STATES]
        weights = [w for _, w in STATES]
        codes, code_weights = [c for c, _ in FAILURES], [w for _, w in FAILURES]
        created = stamp(self.start - timedelta(minutes=12))
        for begin in range(0, self.count, CHUNK):
            size = min(CHUNK, self.count - begin)
            messages, events = [], []
            for n, state in zip(
                range(begin, begin + size), rng.choices(names, weights, k=size), strict=True
            ):
                pk = self.first_id + n
                to = f"+91{9_000_000_000 + self.offset + n}"
                claimed = self.start + timedelta(seconds=SEND_SPAN_S * n / self.count)
                message_id, last_code, meta_code, detail, attempts = "", "WA202", "", "", 1
                updated = claimed + timedelta(seconds=rng.uniform(0.2, 2))
                if state == "skipped":
                    last_code, detail, attempts, claimed = "", rng.choice(self.skips), 0, None
                    updated = self.start
                elif state == "unknown":
                    last_code, detail = "", self.unknown
                elif state == "failed":
                    code = rng.choices(codes, code_weights)[0]
                    detail = self.details[code]
                    if code in KALEYRA_FAILURES:
                        last_code, attempts = code, 4 if code == "WA500" else 1
                    else:
                        message_id, meta_code = f"{rng.getrandbits(128):032x}", code
                        updated = claimed + timedelta(seconds=rng.uniform(2, 60))
                else:
                    message_id = f"{rng.getrandbits(128):032x}"
                if state in ("delivered", "read"):
                    delivered = claimed + timedelta(seconds=rng.uniform(1, 45))
                    updated = delivered
                    if state == "delivered" or rng.random() < READ_ALSO_DELIVERED:
                        events.append(self.event(pk, to, message_id, "delivered", delivered, stamp))
                    if state == "read":
                        updated = delivered + timedelta(seconds=min(rng.expovariate(1 / 2400), 9e4))
                        events.append(self.event(pk, to, message_id, "read", updated, stamp))
                        if n % self.order_every == 0:
                            self.order_messages.append((pk, to, message_id, updated))
                messages.append(
                    (
                        pk, self.campaign_id, to, "{}", state, message_id, last_code, meta_code,
                        False, detail, attempts, None, "bench-host:1" if claimed else "",
                        stamp(claimed) if claimed else None, False, created, stamp(updated),
                    )
                )  # fmt: skip
            yield messages, events

    @staticmethod
    def event(pk: int, to: str, message_id: str, status: str, at: datetime, stamp) -> tuple:
        return (
            pk, f"{message_id}|{status}|{int(at.timestamp())}", message_id, "", "", to[1:],
            SENDER, status, status.upper(), stamp(at), "", "", "", None, "", "{}",
            stamp(at + timedelta(seconds=0.4)), True,
        )  # fmt: skip


def sqlite_text(value: datetime) -> str:
    """A UTC datetime as Django stores it in SQLite (`adapt_datetime`'s text, without its
    5 µs a value: a third of the seed's time)."""
    return str(value.replace(tzinfo=None))


def insert(cursor, model, columns, rows):
    """COPY on PostgreSQL (as `sending.sql.insert_attempts`), executemany on SQLite."""
    from django.db import connection

    from campaigns.models.rawsql import insert_sql

    if not rows:
        return
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        names = ", ".join(quote(c) for c in columns)
        with cursor.cursor.copy(f"COPY {quote(model._meta.db_table)} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        cursor.executemany(insert_sql(model, columns), rows)


def make_campaigns(small: int) -> tuple[list, object]:
    """The demo campaign cloned `small` + 1 times, completed; the big one is the newest."""
    from django.contrib.auth.models import User

    from campaigns.models import Campaign
    from campaigns.services import composer

    demo = Campaign.objects.get(name__endswith="(demo)")
    admin = User.objects.filter(is_superuser=True).first()
    now = datetime.now(UTC).replace(microsecond=0)
    campaigns = []
    for number in range(small + 1):
        clone = composer.campaign_clone(campaign=demo, user=admin)
        big = number == small
        start = now - (timedelta(hours=20) if big else timedelta(days=2 * (small - number) + 1))
        name = "Winter sale (big list)" if big else f"Weekly picks #{number + 1}"
        Campaign.objects.filter(pk=clone.pk).update(
            name=name,
            state=Campaign.State.COMPLETED,
            created_at=start - timedelta(hours=1),
            updated_at=start + timedelta(seconds=SEND_SPAN_S),
        )
        campaigns.append((clone.pk, start))
    return campaigns, admin


def add_orders(campaign_id: int, plan: Plan, count: int) -> int:
    """`count` orders (1-3 demo products each) from read messages, a few hours after the read."""
    from decimal import Decimal

    from campaigns.models import Order, OrderItem, Product

    products = list(Product.objects.order_by("retailer_id"))
    rng = random.Random(-campaign_id)
    orders, items = [], []
    for index, (pk, to, message_id, read_at) in enumerate(plan.order_messages[:count]):
        chosen = rng.sample(products, rng.randint(1, 3))
        quantities = [rng.randint(1, 2) for _ in chosen]
        order = Order(
            provider_message_id=f"wamid.order.{campaign_id}.{index}",
            from_phone=to,
            message_id=pk,
            campaign_id=campaign_id,
            catalog_id="demo-catalog",
            currency="INR",
            total=sum((p.price * q for p, q in zip(chosen, quantities, strict=True)), Decimal(0)),
            received_at=read_at + timedelta(minutes=rng.uniform(1, 240)),
            raw={"ref": message_id},
        )
        orders.append(order)
        items.append(list(zip(chosen, quantities, strict=True)))
    Order.objects.bulk_create(orders)
    saved = Order.objects.filter(campaign_id=campaign_id).order_by("id")
    OrderItem.objects.bulk_create(
        OrderItem(
            order=order,
            product=product,
            retailer_id=product.retailer_id,
            quantity=quantity,
            item_price=product.price,
            currency="INR",
        )
        for order, chosen in zip(saved, items, strict=True)
        for product, quantity in chosen
    )
    return len(orders)


def seed(args, kind: str) -> dict:
    """Every campaign's rows; returns the counts, the timings and the big campaign's id."""
    from django.core.management.color import no_style
    from django.db import connection, transaction

    from campaigns.models import Message, StatusEvent, tally_sql
    from campaigns.models.rawsql import adapt_datetime
    from campaigns.services.tallies import tallies_compact, tallies_rebuild

    campaigns, admin = make_campaigns(args.small_campaigns)
    stamp = sqlite_text if kind == "sqlite" else (lambda value: value)  # psycopg: datetimes
    if kind == "sqlite":
        now = datetime.now(UTC)
        assert sqlite_text(now) == adapt_datetime(now), (sqlite_text(now), adapt_datetime(now))
    started = time.perf_counter()
    if not args.keep_triggers:
        with connection.cursor() as cursor:
            for statement in tally_sql.drop_triggers(connection.vendor):
                cursor.execute(statement)
    messages = events = orders = 0
    first_id = 1
    for number, (campaign_id, start) in enumerate(campaigns):
        big = number == len(campaigns) - 1
        size = args.recipients if big else args.small_size
        wanted = args.orders if big else 10
        plan = Plan(
            campaign_id, first_id, size, start, offset=0 if big else 3_000 * number, orders=wanted
        )
        for message_rows, event_rows in plan.chunks(stamp):
            with transaction.atomic(), connection.cursor() as cursor:
                insert(cursor, Message, MESSAGE_COLUMNS, message_rows)
                insert(cursor, StatusEvent, EVENT_COLUMNS, event_rows)
            messages, events = messages + len(message_rows), events + len(event_rows)
            if sys.stdout.isatty():
                print(f"  seeding: {messages:,} messages, {events:,} events", end="\r")
        with transaction.atomic():
            orders += add_orders(campaign_id, plan, wanted)
        first_id += size
    if sys.stdout.isatty():
        print()
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [Message]):
            cursor.execute(statement)
        if not args.keep_triggers:
            for statement in tally_sql.triggers(connection.vendor):
                cursor.execute(statement)
    compacted = tallies_compact()  # the deltas the triggers left (PostgreSQL, --keep-triggers)
    seeded = time.perf_counter() - started
    analyzed = 0.0
    if kind == "postgresql":
        # What autovacuum does after a bulk load, done now so that every run plans alike.
        begin = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        analyzed = time.perf_counter() - begin
    begin = time.perf_counter()
    rebuilt = tallies_rebuild()
    rebuild_s = time.perf_counter() - begin
    return {
        "big": campaigns[-1][0],
        "admin": admin,
        "campaigns": rebuilt,
        "messages": messages,
        "events": events,
        "orders": orders,
        "compacted": compacted,
        "seed_s": seeded,
        "analyze_s": analyzed,
        "rebuild_s": rebuild_s,
    }


# --- the pages ---------------------------------------------------------------------------------------


def fetch(client, url: str, headers: dict) -> tuple[object, int, int]:
    """One GET read to its last byte: (response, bytes, lines)."""
    response = client.get(url, secure=True, headers=headers)
    if response.streaming:
        size = lines = 0
        for chunk in response.streaming_content:
            size, lines = size + len(chunk), lines + chunk.count(b"\n")
        response.close()
    else:
        size, lines = len(response.content), response.content.count(b"\n")
    return response, size, lines


def measure(client, url: str, runs: int, headers: dict | None = None) -> dict:
    """One warm-up (its queries counted), then `runs` timed fetches."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = headers or {}
    with CaptureQueriesContext(connection) as queries:
        response, _, _ = fetch(client, url, headers)
    counted = len(queries)  # now: the next request clears the log it reads
    times, statuses = [], set()
    for _ in range(runs):
        begin = time.perf_counter()
        response, size, lines = fetch(client, url, headers)
        times.append((time.perf_counter() - begin) * 1000)
        statuses.add(response.status_code)
    return {
        "url": url,
        "median_ms": statistics.median(times),
        "times": times,
        "status": "/".join(str(s) for s in sorted(statuses)),
        "queries": counted,
        "bytes": size,
        "lines": lines,
        "etag": response.get("ETag", ""),
    }


def pages(args, seeded: dict) -> list[tuple[str, dict, str, bool]]:
    """(name, measure, target, met) for each page."""
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(seeded["admin"])
    big, runs = seeded["big"], args.runs
    rows = []

    def page(name: str, url: str):
        result = measure(client, url, runs)
        rows.append(
            (name, result, f"<= {PAGE_TARGET_MS} ms", result["median_ms"] <= PAGE_TARGET_MS)
        )
        return result

    page("campaign list", reverse("campaigns:list"))
    page("big campaign's page", reverse("campaigns:detail", args=[big]))
    dashboard = page("dashboard JSON", reverse("campaigns:dashboard", args=[big]))
    page("progress JSON", reverse("campaigns:progress", args=[big]))
    page("results (every campaign)", reverse("campaigns:results"))
    again = measure(client, dashboard["url"], runs, {"If-None-Match": dashboard["etag"]})
    met = again["status"] == "304" and again["median_ms"] <= NOT_MODIFIED_TARGET_MS
    rows.append(
        ("dashboard JSON, If-None-Match", again, f"304 in <= {NOT_MODIFIED_TARGET_MS} ms", met)
    )
    csv = measure(client, reverse("campaigns:results_csv", args=[big]), runs)
    csv["rows"] = csv["lines"] - 1  # the header
    csv["rows_per_s"] = csv["rows"] / (csv["median_ms"] / 1000)
    met = csv["rows_per_s"] >= CSV_TARGET_ROWS_PER_S
    rows.append(("per-recipient CSV (big)", csv, f">= {CSV_TARGET_ROWS_PER_S:,} rows/s", met))
    return rows


def report(kind: str, seeded: dict, rows: list, args):
    from django.db import connection

    from campaigns import selectors

    progress = selectors.campaign_progress(seeded["big"])
    shares = ", ".join(
        f"{state} {100 * n / progress['total']:.1f} %"
        for state, n in sorted(progress["counts"].items(), key=lambda item: -item[1])
        if n
    )
    loaded = seeded["messages"] + seeded["events"] + seeded["orders"]
    print(
        f"seeded {seeded['messages']:,} messages, {seeded['events']:,} status events and "
        f"{seeded['orders']:,} orders in {seeded['campaigns']} campaigns in "
        f"{seeded['seed_s']:.1f} s ({loaded / seeded['seed_s']:,.0f} rows/s, triggers "
        f"{'on' if args.keep_triggers else 'dropped during the load'}"
        + (f", {seeded['compacted']:,} deltas folded" if seeded["compacted"] else "")
        + ")"
        + (f"; VACUUM ANALYZE {seeded['analyze_s']:.1f} s" if seeded["analyze_s"] else "")
    )
    print(f"big campaign {seeded['big']}: {progress['total']:,} recipients: {shares}")
    print(
        f"tallies_rebuild(): {seeded['campaigns']} campaigns, {loaded:,} rows recounted in "
        f"{seeded['rebuild_s']:.2f} s = {loaded / seeded['rebuild_s']:,.0f} rows/s"
    )
    if kind == "sqlite":
        version = f"SQLite {connection.Database.sqlite_version}"
    else:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = f"PostgreSQL {cursor.fetchone()[0]}"
    print(f"\n{version}, median of {args.runs} after one warm-up, {os.cpu_count()} cores\n")
    header = f"{'page':<32} {'median ms':>10}  {'runs (ms)':<30} {'status':>6} {'queries':>7}  {'target':<22} met"
    print(header)
    print("-" * len(header))
    for name, result, target, met in rows:
        runs = " / ".join(f"{t:.1f}" for t in result["times"])
        print(
            f"{name:<32} {result['median_ms']:>10.1f}  {runs:<30} {result['status']:>6} "
            f"{result['queries']:>7}  {target:<22} {'yes' if met else 'NO'}"
        )
        if "rows_per_s" in result:
            print(
                f"{'':<32} {result['rows']:,} rows, {result['bytes'] / 1e6:.1f} MB: "
                f"{result['rows_per_s']:,.0f} rows/s"
            )


def seeded_before() -> dict:
    """The campaigns an earlier run seeded: the largest is the big one."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from campaigns.models import Campaign, Message

    big = (
        Message.objects.values("campaign_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("campaign_id", flat=True)
        .first()
    )
    return {
        "big": big,
        "admin": get_user_model().objects.filter(is_superuser=True).first(),
        "campaigns": Campaign.objects.count(),
        "messages": Message.objects.count(),
    }


def print_pages(seeded: dict, rows: list, args):
    print(
        f"{seeded['campaigns']:,} campaigns, {seeded['messages']:,} messages; median of {args.runs}"
    )
    for name, result, target, met in rows:
        runs = " / ".join(f"{t:.1f}" for t in result["times"])
        extra = f" ({result['rows_per_s']:,.0f} rows/s)" if "rows_per_s" in result else ""
        print(
            f"{name:<32} {result['median_ms']:>10.1f} ms  {runs:<30} {result['status']:>6} "
            f"{result['queries']:>4} queries  {target:<22} {'yes' if met else 'NO'}{extra}"
        )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipients", type=int, default=1_000_000, help="the big campaign's")
    parser.add_argument("--small-campaigns", type=int, default=30)
    parser.add_argument("--small-size", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=300, help="the big campaign's orders")
    parser.add_argument("--runs", type=int, default=3, help="timed fetches per page")
    parser.add_argument(
        "--keep-triggers", action="store_true", help="seed with the counter triggers on"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time the pages of the PostgreSQL database an earlier run seeded (migrated first)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mpm-pages-bench-") as tmp:
        workdir = Path(tmp)
        kind = configure(workdir, reuse=args.reuse)
        from django.core.management import call_command

        begin = time.perf_counter()
        call_command("migrate", verbosity=0)
        if args.reuse:
            call_command("collectstatic", "--noinput", verbosity=0)
            print(
                f"{kind}: migrated in {time.perf_counter() - begin:.1f} s, pages of the seeded data"
            )
            seeded = seeded_before()
            rows = pages(args, seeded)
            print_pages(seeded, rows, args)
            return
        call_command("collectstatic", "--noinput", verbosity=0)
        call_command("demo", stdout=StringIO())
        print(
            f"{kind}: migrated, static files collected, demo loaded in {time.perf_counter() - begin:.1f} s"
        )
        seeded = seed(args, kind)
        rows = pages(args, seeded)
        report(kind, seeded, rows, args)


if __name__ == "__main__":
    main()
