"""Who may do what: the permissions the pages check and the two groups a team starts with.

Migration 0007 made the groups with these roles' permissions as they were then (it keeps its
own copy, so editing a role never changes an old migration), and the permission page names the
group a refused user should ask for. To change a role, edit it here and add a migration that
runs `create_groups` again (it only adds permissions, so it never takes back what an
administrator granted by hand).
"""

from dataclasses import dataclass

from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS

VIEW, ADD, CHANGE, SEND = (f"campaigns.{p}_campaign" for p in ("view", "add", "change", "send"))
# Contacts: exporting needs view_contact; importing adds and changes contacts (and their consent).
VIEW_CONTACTS, ADD_CONTACTS, CHANGE_CONTACTS = (
    f"campaigns.{p}_contact" for p in ("view", "add", "change")
)
# Lists and segments (the pages at /campaigns/lists/ and /campaigns/segments/): seeing them and
# their contacts needs view_, any change change_ (creating and deleting one included).
VIEW_LIST, CHANGE_LIST = (f"campaigns.{p}_contactlist" for p in ("view", "change"))
VIEW_SEGMENT, CHANGE_SEGMENT = (f"campaigns.{p}_segment" for p in ("view", "change"))


@dataclass(frozen=True)
class Role:
    name: str
    can: str  # what its members can do, in the words the permission page shows
    permissions: tuple[str, ...]  # "app_label.codename", as `user.has_perm` takes them


# The pages check the campaign permissions only; the others let a member who is also made staff
# read the same things in the admin (a campaign's sections, its messages and their exchanges,
# orders, and the catalog the composer and the admin's product pickers draw on).
READ = (
    VIEW,
    "campaigns.view_section",
    "campaigns.view_sectionitem",
    "campaigns.view_message",
    "campaigns.view_sendattempt",
    "campaigns.view_order",
    "campaigns.view_orderitem",
    "campaigns.view_product",
    "campaigns.view_messagetemplate",
    VIEW_LIST,
    VIEW_SEGMENT,
)
# Editing a draft's sections and their products in the admin needs these beside change_campaign.
EDIT_SECTIONS = tuple(
    f"campaigns.{action}_{model}"
    for model in ("section", "sectionitem")
    for action in ("add", "change", "delete")
)

VIEWERS = Role(
    "Viewers",
    "read campaigns, their dashboards and per-recipient results, lists and segments, and "
    "export the results",
    READ,
)
MARKETERS = Role(
    "Marketers",
    "compose and edit drafts, preview and test them, send (to lists and segments too), and "
    "pause, resume or cancel a send; import and export contacts; edit lists and segments; "
    "everything Viewers can",
    (
        *READ,
        ADD,
        CHANGE,
        SEND,
        *EDIT_SECTIONS,
        VIEW_CONTACTS,
        ADD_CONTACTS,
        CHANGE_CONTACTS,
        CHANGE_LIST,
        CHANGE_SEGMENT,
    ),
)
ROLES = (VIEWERS, MARKETERS)  # the smallest first: a refused user is told the smallest enough


def role_for(perms) -> Role | None:
    """The smallest role that grants every one of `perms`."""
    return next((role for role in ROLES if set(perms) <= set(role.permissions)), None)


def create_groups(apps, schema_editor=None, groups: dict[str, tuple[str, ...]] | None = None):
    """Make each group ({name: permissions}, default: the roles above) with its permissions;
    run again, it only adds what is missing."""
    if groups is None:
        groups = {role.name: role.permissions for role in ROLES}
    using = schema_editor.connection.alias if schema_editor else DEFAULT_DB_ALIAS
    app_config = apps.get_app_config("campaigns")
    # Django makes permissions after the last migration (post_migrate), so on a fresh database
    # they do not exist yet: make this app's now, as Django's ticket #23422 suggests.
    # (A historical app config has no `models_module`, and create_permissions skips it then.)
    models_module = getattr(app_config, "models_module", None)
    app_config.models_module = True
    try:
        create_permissions(app_config, apps=apps, verbosity=0, using=using)
    finally:
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, permissions in groups.items():
        wanted = {perm.split(".", 1)[1] for perm in permissions}
        found = Permission.objects.using(using).filter(
            content_type__app_label="campaigns", codename__in=wanted
        )
        missing = wanted - {permission.codename for permission in found}
        if missing:
            raise LookupError(f"{name}: no permission {', '.join(sorted(missing))}")
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.add(*found)


def delete_groups(apps, schema_editor=None, names=None):
    using = schema_editor.connection.alias if schema_editor else DEFAULT_DB_ALIAS
    Group = apps.get_model("auth", "Group")
    names = [role.name for role in ROLES] if names is None else list(names)
    Group.objects.using(using).filter(name__in=names).delete()
