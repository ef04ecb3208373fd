"""Viewers see lists and segments; Marketers edit them too (`campaigns.roles`)."""

from django.db import migrations

from campaigns import roles

GROUPS = {
    "Viewers": ("campaigns.view_contactlist", "campaigns.view_segment"),
    "Marketers": (
        "campaigns.view_contactlist",
        "campaigns.view_segment",
        "campaigns.change_contactlist",
        "campaigns.change_segment",
    ),
}


def create_groups(apps, schema_editor):
    roles.create_groups(apps, schema_editor, groups=GROUPS)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0020_audience_sends")]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
