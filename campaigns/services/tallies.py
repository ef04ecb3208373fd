"""The per-campaign counters (`models.tallies`): recount and rebuild them from the records (and
fold PostgreSQL's deltas in, `models.tallies.tallies_compact`). Reading them is
`selectors.tallies`."""

from collections.abc import Callable, Iterable

from django.db import connection, transaction

from campaigns.models import Campaign
from campaigns.models.tallies import tallies_compact
from campaigns.models.tally_sql import COLUMNS, DELTA, TALLY, recount_sql

__all__ = ["tallies_compact", "tallies_rebuild", "tallies_recount"]


def tallies_recount(campaign_id: int) -> dict[tuple[str, str], tuple[int, int]]:
    """Every counter of a campaign as the records say it should be: {(kind, key): (n, cents)}
    (the version aside, which counts changes rather than records)."""
    with connection.cursor() as cursor:
        cursor.execute(recount_sql(connection.vendor, campaign_id))
        return {(kind, key): (n, int(cents)) for _, kind, key, n, cents in cursor.fetchall()}


def tallies_rebuild(
    campaign_ids: Iterable[int] | None = None, *, progress: Callable[[int], None] | None = None
) -> int:
    """Recompute the counters of these campaigns (or all) from their messages, events and
    orders, one campaign per transaction; returns how many campaigns. The version goes up, so
    every dashboard reloads.

    PostgreSQL: nothing is locked and writers go on. One statement (so one snapshot) recounts
    the records and subtracts the counters and deltas as that snapshot has them, and appends
    the difference as deltas, which are then folded in: whatever commits after the snapshot
    brings its own deltas, so the counters end up right without holding writers back. (Locking
    the three tables instead deadlocked with the callback applier, which inserts events and then
    updates Messages in one transaction.) SQLite: under the write lock, the counters are
    replaced by the recount."""
    if campaign_ids is None:
        campaign_ids = Campaign.objects.order_by("pk").values_list("pk", flat=True)
    rebuild = _pg_rebuild if connection.vendor == "postgresql" else _sqlite_rebuild
    done = 0
    for campaign_id in campaign_ids:
        with transaction.atomic():
            rebuild(campaign_id)
        done += 1
        if progress is not None:
            progress(done)
    return done


def _pg_rebuild(campaign_id: int):
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {DELTA} {COLUMNS}"
            ' SELECT %s, kind, "key", sum(n), sum(amount_cents) FROM ('
            f' SELECT kind, "key", n, amount_cents FROM ({recount_sql("postgresql", campaign_id)}) r'
            f' UNION ALL SELECT kind, "key", -n, -amount_cents FROM {TALLY}'
            "  WHERE campaign_id = %s AND kind <> 'version'"
            f' UNION ALL SELECT kind, "key", -n, -amount_cents FROM {DELTA}'
            "  WHERE campaign_id = %s AND kind <> 'version'"
            ') c GROUP BY kind, "key" HAVING sum(n) <> 0 OR sum(amount_cents) <> 0'
            " UNION ALL SELECT %s, 'version', '', 1, 0",
            [campaign_id] * 4,
        )
    tallies_compact([campaign_id])  # holds the campaign's lock until this transaction ends
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {TALLY} WHERE campaign_id = %s AND n = 0 AND amount_cents = 0",
            [campaign_id],
        )


def _sqlite_rebuild(campaign_id: int):
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TALLY} WHERE id < 0")  # takes the write lock
        cursor.execute(
            f"SELECT coalesce(sum(n), 0) FROM {TALLY} WHERE campaign_id = %s AND kind = 'version'",
            [campaign_id],
        )
        version = cursor.fetchone()[0] + 1
        cursor.execute(f"DELETE FROM {TALLY} WHERE campaign_id = %s", [campaign_id])
        cursor.execute(f"INSERT INTO {TALLY} {COLUMNS} {recount_sql('sqlite', campaign_id)}")
        cursor.execute(
            f"INSERT INTO {TALLY} {COLUMNS} VALUES (%s, 'version', '', %s, 0)",
            [campaign_id, version],
        )
