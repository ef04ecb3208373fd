"""The catalog and the WhatsApp templates campaigns are built from."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse

from campaigns.admin.display import pretty_json
from campaigns.forms import MessageTemplateForm
from campaigns.models import MessageTemplate, Product
from campaigns.services import background, templates

# A summary's problems shown at most this many at a time (the rest counted).
SHOWN_PROBLEMS = 10


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["retailer_id", "name", "price_display", "availability", "active"]
    list_filter = ["availability", "active", "currency"]
    search_fields = ["retailer_id", "name"]
    list_per_page = 50
    # The catalog may hold 100,000 products: no second COUNT over the whole table per page.
    show_full_result_count = False
    readonly_fields = ["created_at", "updated_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="price", ordering="price")
    def price_display(self, product):
        return f"{product.price} {product.currency}"


class VanishedFilter(admin.SimpleListFilter):
    title = "in Kaleyra's list"
    parameter_name = "vanished"

    def lookups(self, request, model_admin):
        return [("no", "Listed"), ("yes", "Vanished")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(vanished_at__isnull=self.value() == "no")
        return queryset


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    form = MessageTemplateForm
    change_list_template = "admin/campaigns/messagetemplate/change_list.html"
    list_display = [
        "name",
        "language",
        "category",
        "status",
        "header_variables",
        "body_variables",
        "has_mpm_button",
        "listed",
        "synced_at",
    ]
    list_filter = ["status", "category", "has_mpm_button", VanishedFilter, "language"]
    search_fields = ["name"]
    readonly_fields = [
        "provider_id",
        "synced_at",
        "vanished_at",
        "raw_json",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="header variables")
    def header_variables(self, template):
        return template.header_variable_count

    @admin.display(description="body variables")
    def body_variables(self, template):
        return template.body_variable_count

    @admin.display(description="in Kaleyra's list", boolean=True, ordering="vanished_at")
    def listed(self, template):
        return template.vanished_at is None

    @admin.display(description="as received from Kaleyra")
    def raw_json(self, template):
        return pretty_json(template.raw) if template.raw else "-"

    # --- sync ---

    def has_sync_permission(self, request) -> bool:
        """A sync creates and changes templates: both permissions."""
        return self.has_add_permission(request) and self.has_change_permission(request)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_sync": self.has_sync_permission(request)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "sync/",
                self.admin_site.admin_view(self.sync_view),
                name="{}_{}_sync".format(*info),
            ),
            *super().get_urls(),
        ]

    def sync_view(self, request):
        """POST only: read Kaleyra's template list now and say what changed."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_sync_permission(request):
            raise PermissionDenied
        summary = templates.sync_templates()
        background.template_sync_keep_booked()
        level = messages.SUCCESS if summary.read and not summary.problems else messages.WARNING
        if not summary.read:
            level = messages.ERROR
        self.message_user(request, summary.line(), level)
        shown = summary.problems[:SHOWN_PROBLEMS]
        for problem in shown:
            self.message_user(request, problem, messages.WARNING)
        if len(summary.problems) > len(shown):
            more = len(summary.problems) - len(shown)
            self.message_user(request, f"… and {more} more problem(s).", messages.WARNING)
        info = self.opts.app_label, self.opts.model_name
        return HttpResponseRedirect(reverse("admin:{}_{}_changelist".format(*info)))
