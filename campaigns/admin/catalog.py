"""The catalog and the WhatsApp templates campaigns are built from."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse

from campaigns.admin.display import pretty_json
from campaigns.catalog.exporting import FORMATS, feed_text
from campaigns.catalog.importing import FeedFileError
from campaigns.forms import CatalogImportForm, MessageTemplateForm
from campaigns.models import CatalogImport, MessageTemplate, Product
from campaigns.services import background, templates
from campaigns.services.campaigns import campaigns_recheck
from campaigns.services.catalog_imports import CATALOG_IMPORTS

RECENT_IMPORTS = 10
# A summary's problems shown at most this many at a time (the rest counted).
SHOWN_PROBLEMS = 10


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    """The catalog, imported from a Meta feed in the background (upload, dry run, confirm,
    progress) and exported back as one, both through django-import-export's `ProductResource`.
    The library's own admin pages are not used: their inline script and styles break this
    site's Content-Security-Policy, and they run a whole import inside one request."""

    change_list_template = "admin/campaigns/product/change_list.html"
    list_display = [
        "retailer_id",
        "name",
        "price_display",
        "availability",
        "condition",
        "brand",
        "active",
    ]
    list_filter = ["availability", "active", "condition", "currency"]
    search_fields = ["retailer_id", "name", "brand", "item_group_id"]
    list_per_page = 50
    # The catalog may hold 100,000 products: no second COUNT over the whole table per page.
    show_full_result_count = False
    readonly_fields = ["created_at", "updated_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="price", ordering="price")
    def price_display(self, product):
        return f"{product.price} {product.currency}"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and not obj.is_sendable and (stopped := campaigns_recheck()):
            messages.warning(
                request,
                f"{obj.retailer_id} can no longer be sent: {stopped} sending campaign(s) that "
                "cannot send any more stopped; their pages say why.",
            )

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_import": self.has_import_permission(request),
            "export_formats": list(FORMATS) if self.has_view_permission(request) else [],
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "import-feed/",
                self.admin_site.admin_view(self.import_feed_view),
                name="{}_{}_import_feed".format(*info),
            ),
            path(
                "import-feed/<int:import_id>/",
                self.admin_site.admin_view(self.import_feed_detail_view),
                name="{}_{}_import_feed_detail".format(*info),
            ),
            path(
                "export-feed/<str:form>/",
                self.admin_site.admin_view(self.export_feed_view),
                name="{}_{}_export_feed".format(*info),
            ),
            *super().get_urls(),
        ]

    def has_import_permission(self, request) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def import_feed_view(self, request):
        """The upload form and the user's last imports; a valid file goes to its own page."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = CatalogImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                job = background.file_import_receive(
                    CATALOG_IMPORTS,
                    owner=request.user,
                    uploaded=form.cleaned_data["feed_file"],
                    keep_missing=form.cleaned_data["keep_missing"],
                )
            except FeedFileError as exc:
                form.add_error("feed_file", str(exc))
            else:
                return HttpResponseRedirect(self.import_url(job))
        recent = CatalogImport.objects.filter(owner=request.user)[:RECENT_IMPORTS]
        return self.import_page(
            request,
            "import_feed.html",
            "Import a catalog feed",
            status=400 if form.errors else 200,
            form=form,
            recent=recent,
        )

    def import_feed_detail_view(self, request, import_id: int):
        """A feed's dry run, preview, progress and summary; a POST confirms it."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        job = CatalogImport.objects.filter(pk=import_id, owner=request.user).first()
        if job is None:
            raise Http404("This import is not here: it may belong to someone else.")
        if request.method == "POST":
            if not background.file_import_start(CATALOG_IMPORTS, job):
                messages.warning(request, "This file was confirmed already; it is imported once.")
            return HttpResponseRedirect(self.import_url(job))
        background.file_import_heal(CATALOG_IMPORTS, job)
        return self.import_page(request, "import_feed_detail.html", job.original_name, job=job)

    def export_feed_view(self, request, form: str):
        """The active products as a Meta feed file, streamed."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if form not in FORMATS:
            raise Http404("The feed is exported as csv or tsv.")
        response = StreamingHttpResponse(
            feed_text(form), content_type=f"{FORMATS[form]}; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="catalog-feed.{form}"'
        return response

    def import_url(self, job) -> str:
        return reverse("admin:campaigns_product_import_feed_detail", args=[job.pk])

    def import_page(self, request, template: str, title: str, *, status=200, **context):
        return TemplateResponse(
            request,
            f"admin/campaigns/product/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": title,
                **context,
            },
            status=status,
        )


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
