"""The results page sums every campaign's state and order counters (to sort on them): a partial
index holding just those rows, covering what the sum reads. With 1,000 campaigns and 10,000,000
messages on PostgreSQL it took the page's query from 141 to 48 ms (BENCHMARKS.md). Written per
database: PostgreSQL's INCLUDE columns are not an index SQLite (or Django's check) accepts."""

from django.db import migrations

CONDITION = "kind IN ('state', 'orders')"
SQL = {
    "postgresql": "CREATE INDEX IF NOT EXISTS tally_results ON campaigns_campaigntally"
    f" (campaign_id) INCLUDE (kind, \"key\", n, amount_cents) WHERE {CONDITION}",
    "sqlite": "CREATE INDEX IF NOT EXISTS tally_results ON campaigns_campaigntally"
    f' (campaign_id, kind, "key", n, amount_cents) WHERE {CONDITION}',
}


def create(apps, schema_editor):
    schema_editor.execute(SQL[schema_editor.connection.vendor])


def drop(apps, schema_editor):
    schema_editor.execute("DROP INDEX IF EXISTS tally_results")


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0015_api")]

    operations = [migrations.RunPython(create, drop)]
