"""The business numbers campaigns go out from. A sender's API key is never stored, shown or
logged: the admin shows the name of the variable that holds it and whether it is set here."""

from django.contrib import admin
from django.db import models

from campaigns import conf
from campaigns.models import Sender


@admin.register(Sender)
class SenderAdmin(admin.ModelAdmin):
    list_display = [
        "display_name",
        "business_number",
        "region",
        "sid",
        "rate_per_second",
        "api_key_variable",
        "key_status",
        "is_default",
        "active",
    ]
    list_filter = ["active", "is_default", "region"]
    search_fields = ["display_name", "business_number", "sid", "waba_id"]
    fieldsets = [
        (None, {"fields": ["display_name", "logo_url", "business_number", "active", "is_default"]}),
        (
            "Kaleyra account",
            {"fields": ["region", "sid", "waba_id", "api_key_variable", "key_status"]},
        ),
        ("Sending", {"fields": ["rate_per_second"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]
    readonly_fields = ["key_status", "created_at", "updated_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="API key")
    def key_status(self, sender: Sender) -> str:
        """Whether this server's environment holds a key in the sender's variable: the name and
        set / not set, never the value."""
        if not sender.api_key_variable:
            return "—"
        held = conf.sender_api_key(sender.api_key_variable)
        return (
            f"{sender.api_key_variable} is set"
            if held
            else f"{sender.api_key_variable} is not set on this server"
        )

    def has_delete_permission(self, request, obj=None):
        # A sender campaigns went out from stays to say so (PROTECT): deactivate it instead.
        if obj is not None and obj.campaigns.exists():
            return False
        return super().has_delete_permission(request, obj)
