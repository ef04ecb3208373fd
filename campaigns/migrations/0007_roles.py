"""The groups a team starts with, Marketers and Viewers (campaigns.roles); undone, they go."""

from django.db import migrations

from campaigns import roles


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("campaigns", "0006_callbackinbox_problem"),
    ]

    operations = [migrations.RunPython(roles.create_groups, roles.delete_groups)]
