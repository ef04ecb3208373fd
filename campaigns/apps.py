from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "campaigns"
    verbose_name = "WhatsApp MPM campaigns"

    def ready(self):
        from campaigns import checks  # noqa: F401  (registers the system checks)
