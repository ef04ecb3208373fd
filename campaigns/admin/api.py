"""The API's tokens, for staff to see who can call it and when each token was last used. Read
only: users create and revoke their own tokens on the API tokens page."""

from django.contrib import admin

from campaigns.admin.records import ReadOnlyMixin
from campaigns.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "can_send", "created_at"]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    exclude = ["secret_hash"]
