"""The per-campaign counters (`models.tallies`): recount and rebuild them from the records (and
fold PostgreSQL's deltas in, `models.tallies.tallies_compact`). Reading them is
`selectors.tallies`."""

from collections.abc import Callable, Iterable

from django.db import connection, transaction

from campaigns.models import Campaign
from campaigns.models.tallies import lock_campaign_tallies, tallies_compact
from campaigns.models.tally_sql import COLUMNS, DELTA, EVENT, MESSAGE, ORDER, TALLY, recount_sql

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
    orders, one campaign per transaction; returns how many campaigns. While a campaign is
    recounted its records are locked against writes (PostgreSQL: SHARE locks, a second or two
    for a million messages; SQLite: the write lock), so nothing changes between the count and
    the counters it replaces. The version goes up, so every dashboard reloads."""
    if campaign_ids is None:
        campaign_ids = Campaign.objects.order_by("pk").values_list("pk", flat=True)
    done = 0
    for campaign_id in campaign_ids:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"LOCK TABLE {MESSAGE}, {EVENT}, {ORDER} IN SHARE MODE")
                lock_campaign_tallies(cursor, campaign_id)
            else:
                cursor.execute(f"DELETE FROM {TALLY} WHERE id < 0")  # takes the write lock
            cursor.execute(
                f"SELECT coalesce(sum(n), 0) FROM (SELECT n FROM {TALLY} WHERE campaign_id = %s"
                f" AND kind = 'version' UNION ALL SELECT n FROM {DELTA} WHERE campaign_id = %s"
                " AND kind = 'version') v",
                [campaign_id, campaign_id],
            )
            version = cursor.fetchone()[0] + 1
            cursor.execute(f"DELETE FROM {DELTA} WHERE campaign_id = %s", [campaign_id])
            cursor.execute(f"DELETE FROM {TALLY} WHERE campaign_id = %s", [campaign_id])
            cursor.execute(
                f"INSERT INTO {TALLY} {COLUMNS} {recount_sql(connection.vendor, campaign_id)}"
            )
            cursor.execute(
                f"INSERT INTO {TALLY} {COLUMNS} VALUES (%s, 'version', '', %s, 0)",
                [campaign_id, version],
            )
        done += 1
        if progress is not None:
            progress(done)
    return done
