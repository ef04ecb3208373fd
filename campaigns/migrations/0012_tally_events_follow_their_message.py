from django.db import migrations

# The triggers as campaigns.models.tally_sql says today (see 0011): dropped and created again, so
# a database migrated before gets `mpm_tally_message_move` (a Message's delivered / read events
# follow it when it becomes a test send or moves to another campaign) and, on PostgreSQL, a
# campaign delete that waits for a compaction of that campaign instead of racing it. Counters
# already off because of either are put right by `manage.py rebuild_campaign_stats`.
from campaigns.models import tally_sql


def recreate_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in tally_sql.drop_triggers(vendor) + tally_sql.triggers(vendor):
        schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ("campaigns", "0011_campaign_tallies"),
    ]

    operations = [
        migrations.RunPython(recreate_triggers, migrations.RunPython.noop),
    ]
