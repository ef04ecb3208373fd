from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_tally_triggers(sender, using, **kwargs):
    """After every `migrate`: the counter triggers exist (SQLite loses a table's triggers when a
    migration rebuilds the table)."""
    from django.db import connections

    from campaigns.models import tally_sql

    tally_sql.ensure_triggers(connections[using])


class CampaignsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "campaigns"
    verbose_name = "WhatsApp MPM campaigns"

    def ready(self):
        from campaigns import checks  # noqa: F401  (registers the system checks)

        post_migrate.connect(ensure_tally_triggers, sender=self)
