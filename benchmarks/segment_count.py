"""Segment counts at scale: how fast the segment editor's live count answers with N contacts.

    .venv/bin/python benchmarks/segment_count.py                      # SQLite, 1,000,000
    .venv/bin/python benchmarks/segment_count.py --contacts 200000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mpm_bench .venv/bin/python benchmarks/segment_count.py

A fresh database (as `pages_at_scale.py`: a temporary SQLite file, or the PostgreSQL database
DATABASE_URL names, emptied, so its name must contain "bench"), migrated, then seeded in bulk:
N contacts with a city and a tier (60 % opted in, 10 % opted out), one list holding 10 % of
them, a "Diwali" campaign whose messages went to half of them over the last 10 days (55 % read)
and an earlier campaign to a quarter of them 40 days ago, and orders from 5 % of them over 60
days. Then each typical segment is counted (`segment_contacts(rules).count()`, what the live
count runs) once to warm up and `--runs` times: it prints the median and each run in ms.
Target: under 1 s each at 1,000,000 contacts.
"""

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from pages_at_scale import configure, insert, sqlite_text  # benchmarks/ on sys.path

CHUNK = 50_000
CITIES = ("Pune", "Mumbai", "Delhi", "Chennai", "Kolkata", "Jaipur", "Surat", "Indore")
TARGET_MS = 1000


def seed(count: int) -> dict:
    from django.db import connection, transaction
    from django.utils import timezone

    from campaigns.models import Campaign, Contact, ContactList, Message, MessageTemplate, Order

    template = MessageTemplate.objects.create(
        name="bench_mpm",
        language="en_US",
        header_text="Your picks",
        body_text="Hi, new arrivals.",
        status=MessageTemplate.Status.APPROVED,
    )
    diwali = Campaign.objects.create(name="Diwali", template=template, state="completed")
    earlier = Campaign.objects.create(name="Earlier", template=template, state="completed")
    vip = ContactList.objects.create(name="VIP")
    now = timezone.now()
    rng = random.Random(14)
    stamp = (lambda d: d) if connection.vendor == "postgresql" else sqlite_text
    through = ContactList.contacts.through
    message_id = 0
    for begin in range(0, count, CHUNK):
        contacts, members, messages, orders = [], [], [], []
        for n in range(begin + 1, min(count, begin + CHUNK) + 1):
            phone = f"+9170{n:08d}"
            roll = rng.random()
            consent = "opted_in" if roll < 0.6 else "opted_out" if roll < 0.7 else "unknown"
            attributes = json.dumps({"city": rng.choice(CITIES), "tier": rng.choice("abc")})
            created = stamp(now - timedelta(days=90))
            contacts.append((n, phone, "", attributes, "Asia/Kolkata", consent, created, created))
            if rng.random() < 0.1:
                members.append((n, vip.pk, n))
            if rng.random() < 0.5:
                message_id += 1
                state = "read" if rng.random() < 0.55 else "delivered"
                at = stamp(now - timedelta(days=10 * rng.random()))
                messages.append((message_id, diwali.pk, phone, "{}", state, at, at, at))
            if rng.random() < 0.25:
                message_id += 1
                at = stamp(now - timedelta(days=40))
                messages.append((message_id, earlier.pk, phone, "{}", "read", at, at, at))
            if rng.random() < 0.05:
                at = stamp(now - timedelta(days=60 * rng.random()))
                orders.append(("", phone, "", "", "INR", "0", at, "{}"))
        with transaction.atomic(), connection.cursor() as cursor:
            insert(cursor, Contact, ("id", "phone", "name", "attributes", "time_zone", "consent",
                                     "created_at", "updated_at"), contacts)  # fmt: skip
            insert(cursor, through, ("id", "contactlist_id", "contact_id"), members)
            insert(cursor, Message, ("id", "campaign_id", "to", "overrides", "state",
                                     "claimed_at", "created_at", "updated_at", "message_id",
                                     "last_code", "detail", "attempts", "claimed_by", "is_test"),
                   [(*m, "", "", "", 1, "", False) for m in messages])  # fmt: skip
            insert(cursor, Order, ("provider_message_id", "from_phone", "catalog_id", "text",
                                   "currency", "total", "received_at", "raw"), orders)  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"diwali": diwali.pk, "list": vip.pk}


def segments(seeded: dict) -> list[tuple[str, list]]:
    diwali = seeded["diwali"]
    return [
        ("city is Pune", [{"op": "equals", "attribute": "city", "value": "Pune"}]),
        (
            "opted in, in the VIP list",
            [{"op": "consent", "value": "opted_in"}, {"op": "in_list", "list": seeded["list"]}],
        ),
        (
            "read Diwali, no order since",
            [
                {"op": "read_campaign", "campaign": diwali},
                {"op": "ordered_since_campaign", "campaign": diwali, "negate": True},
            ],
        ),
        ("ordered in the last 30 days", [{"op": "ordered_in_days", "days": 30}]),
        (
            "opted in, not messaged in 7 days",
            [{"op": "consent", "value": "opted_in"}, {"op": "not_messaged_in_days", "days": 7}],
        ),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        kind = configure(Path(workdir))
        from django.core.management import call_command

        from campaigns.audiences.segments import segment_contacts

        call_command("migrate", verbosity=0)
        begin = time.perf_counter()
        seeded = seed(args.contacts)
        print(f"{kind}: {args.contacts:,} contacts seeded in {time.perf_counter() - begin:.0f} s")
        print(f"{'segment':34} {'count':>9} {'median ms':>10}  runs (ms)")
        slow = False
        for name, rules in segments(seeded):
            found = segment_contacts(rules).count()  # warm-up
            runs = []
            for _ in range(args.runs):
                start = time.perf_counter()
                segment_contacts(rules).count()
                runs.append((time.perf_counter() - start) * 1000)
            median = statistics.median(runs)
            slow |= median > TARGET_MS
            shown = ", ".join(f"{r:.0f}" for r in runs)
            print(f"{name:34} {found:>9,} {median:>10.0f}  {shown}")
        print(f"target: each under {TARGET_MS} ms" + (" — MISSED" if slow else " — met"))
    sys.exit(1 if slow else 0)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
