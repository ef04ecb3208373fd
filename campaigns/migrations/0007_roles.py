"""The groups a team starts with, Marketers and Viewers (campaigns.roles); undone, they go."""

from django.db import migrations

from campaigns import roles

READ = (
    "campaigns.view_campaign",
    "campaigns.view_section",
    "campaigns.view_sectionitem",
    "campaigns.view_message",
    "campaigns.view_sendattempt",
    "campaigns.view_order",
    "campaigns.view_orderitem",
    "campaigns.view_product",
    "campaigns.view_messagetemplate",
)
# The roles as this migration made them: campaigns.roles may change them later, in new migrations.
GROUPS = {
    "Viewers": READ,
    "Marketers": (
        *READ,
        "campaigns.add_campaign",
        "campaigns.change_campaign",
        "campaigns.send_campaign",
        "campaigns.add_section",
        "campaigns.change_section",
        "campaigns.delete_section",
        "campaigns.add_sectionitem",
        "campaigns.change_sectionitem",
        "campaigns.delete_sectionitem",
    ),
}


def create_groups(apps, schema_editor):
    roles.create_groups(apps, schema_editor, groups=GROUPS)


def delete_groups(apps, schema_editor):
    roles.delete_groups(apps, schema_editor, names=GROUPS)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("campaigns", "0006_callbackinbox_problem"),
    ]

    operations = [migrations.RunPython(create_groups, delete_groups)]
