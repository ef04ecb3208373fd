"""Per-campaign counters, kept by the database itself: triggers on Message, StatusEvent and Order
(migration 0011) add each change's deltas in the same transaction as the change, whichever code
made it (the engine's grouped commits, the callback applier, queueing, cancel, admin edits).

Each counter is one (campaign, kind, key) row: a message state, a failure code, a skip reason, the
sends / deliveries / reads of one UTC minute, the orders of one currency. On SQLite the triggers
add to these rows directly (writers take turns there). On PostgreSQL they append deltas instead
(`CampaignTallyDelta`, one row per key per statement): concurrent transactions then never wait
for nor deadlock on a hot counter row; `services.tallies.tallies_compact` folds them in.
`services.tallies.tallies_rebuild` recomputes everything from the records.
"""

from collections.abc import Iterable

from django.db import connection, models, transaction

from campaigns.models.tally_sql import ADVISORY_LOCK, COLUMNS, DELTA, TALLY


class TallyKind(models.TextChoices):
    STATE = "state", "Messages in a state (key: the state, + when Kaleyra gave an id)"
    FAILURE = "failure", "Failed or not sent messages (key: state|Meta code|Kaleyra code)"
    SKIP = "skip", "Skipped messages (key: the reason)"
    RETRY = "retry", "Queued messages waiting for a retry"
    LATER = "later", "Queued messages waiting for their own time (local time, sending hours)"
    SENDS = "sends", "Sends accepted by Kaleyra (key: the UTC minute they were claimed)"
    DELIVERED = "delivered", "Delivered events (key: the UTC minute of the event)"
    READ = "read", "Read events (key: the UTC minute of the event)"
    ORDERS = "orders", "Orders (key: the currency; amount_cents: their total)"
    VERSION = "version", "Changes so far (the dashboard's ETag)"


class CampaignTally(models.Model):
    """One counter of one campaign. `campaign_id` is a plain column, not a foreign key: the
    triggers write it while Django's cascade is deleting a campaign's messages; a trigger on
    the campaign table removes a deleted campaign's counters."""

    campaign_id = models.BigIntegerField()
    kind = models.CharField(max_length=10, choices=TallyKind.choices)
    key = models.CharField(max_length=520, blank=True)
    n = models.BigIntegerField(default=0)
    amount_cents = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign_id", "kind", "key"], name="one_tally_per_key")
        ]

    def __str__(self):
        return f"campaign {self.campaign_id} {self.kind} {self.key!r}: {self.n}"


class CampaignTallyDelta(models.Model):
    """A change to a counter not yet folded into `CampaignTally` (PostgreSQL only)."""

    campaign_id = models.BigIntegerField(db_index=True)
    kind = models.CharField(max_length=10, choices=TallyKind.choices)
    key = models.CharField(max_length=520, blank=True)
    n = models.BigIntegerField(default=0)
    amount_cents = models.BigIntegerField(default=0)

    def __str__(self):
        return f"campaign {self.campaign_id} {self.kind} {self.key!r}: {self.n:+d}"


def lock_campaign_tallies(cursor, campaign_id: int):
    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_LOCK, campaign_id])


def tallies_compact(campaign_ids: Iterable[int] | None = None) -> int:
    """Fold PostgreSQL's counter deltas into the counters (of these campaigns, or of all);
    returns how many deltas. Safe beside writers and other compactions: each delta is
    deleted and added in one statement, and a campaign is folded by one transaction at a time.
    On SQLite there are none (its triggers add to the counters directly)."""
    if connection.vendor != "postgresql":
        return 0
    if campaign_ids is None:
        campaign_ids = CampaignTallyDelta.objects.values_list("campaign_id", flat=True).distinct()
    folded = 0
    for campaign_id in sorted(set(campaign_ids)):
        with transaction.atomic(), connection.cursor() as cursor:
            lock_campaign_tallies(cursor, campaign_id)
            cursor.execute(
                f"WITH moved AS (DELETE FROM {DELTA} WHERE campaign_id = %s"
                ' RETURNING campaign_id, kind, "key", n, amount_cents),'
                ' grouped AS (SELECT campaign_id, kind, "key", sum(n) AS n,'
                " sum(amount_cents) AS amount_cents, count(*) AS deltas FROM moved"
                ' GROUP BY campaign_id, kind, "key"),'
                f" added AS (INSERT INTO {TALLY} AS t {COLUMNS}"
                ' SELECT campaign_id, kind, "key", n, amount_cents FROM grouped'
                ' ORDER BY kind, "key"'
                ' ON CONFLICT (campaign_id, kind, "key") DO UPDATE'
                " SET n = t.n + EXCLUDED.n, amount_cents = t.amount_cents + EXCLUDED.amount_cents)"
                " SELECT coalesce(sum(deltas), 0) FROM grouped",
                [campaign_id],
            )
            folded += cursor.fetchone()[0]
    return folded
