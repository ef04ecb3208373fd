"""The staff's whole interface: catalog, templates, campaigns with their checks and preview,
sending through confirmation pages, and read-only records of every message and HTTP exchange.

Thin by design: every check, preview and send is a call into `services`.
"""

import json

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from campaigns import recipients, services, validation
from campaigns.forms import LAST_TEST_NUMBER, CampaignAdminForm, SendTestForm, SendToNumbersForm
from campaigns.kaleyra.answers import describe_test_send, explain
from campaigns.models import (
    Campaign,
    Message,
    MessageTemplate,
    Product,
    Section,
    SectionItem,
    SendAttempt,
)
from campaigns.selectors import campaign_for_sending, campaign_funnel, campaign_progress
from campaigns.services import background

admin.site.site_header = "WhatsApp MPM campaigns"
admin.site.site_title = "MPM campaigns"
admin.site.index_title = "Catalog, templates and campaigns"

PROBLEM_LABELS = {validation.ERROR: "Must fix:", validation.WARNING: "Warning:"}


def problems_html(problems: list[validation.Problem]):
    """Problems as an HTML list, errors told apart from warnings."""
    if not problems:
        return "No problems: ready to send."
    return format_html(
        '<ul class="mpm-problems">{}</ul>',
        format_html_join(
            "",
            '<li class="{}"><strong>{}</strong> {}</li>',
            ((p.level, PROBLEM_LABELS[p.level], p.message) for p in problems),
        ),
    )


def not_sendable_text(problems: list[validation.Problem]) -> str:
    return "Nothing was sent. Fix these first: " + " ".join(p.message for p in problems)


def pre(text: str):
    return format_html('<pre class="mpm-json">{}</pre>', text)


def pretty_json(value):
    return pre(json.dumps(value, ensure_ascii=False, indent=2))


def explanation_html(code: str, http_status: int | None = None):
    explanation = explain(code, http_status)
    if explanation is None:
        return "Nothing yet: Kaleyra has not answered for this message."
    return format_html("{}<br><strong>{}</strong>", explanation.meaning, explanation.action)


class ReadOnlyMixin:
    """Records of what happened: viewed, never added, edited or deleted by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- catalog and templates ----------------------------------------------------------------------


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


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "language",
        "category",
        "status",
        "header_variables",
        "body_variables",
    ]
    list_filter = ["status", "category", "language"]
    search_fields = ["name"]
    readonly_fields = ["created_at", "updated_at"]

    @admin.display(description="header variables")
    def header_variables(self, template):
        return template.header_variable_count

    @admin.display(description="body variables")
    def body_variables(self, template):
        return template.body_variable_count


# --- campaigns and sections ---------------------------------------------------------------------


class SectionInline(admin.TabularInline):
    model = Section
    fields = ["position", "title", "products"]
    readonly_fields = ["products"]
    extra = 0

    def get_queryset(self, request):
        items = SectionItem.objects.select_related("product").order_by("position", "id")
        return super().get_queryset(request).prefetch_related(Prefetch("items", queryset=items))

    @admin.display(description="products")
    def products(self, section):
        if section.pk is None:
            return "Save first, then add its products."
        retailer_ids = ", ".join(item.product.retailer_id for item in section.items.all())
        return format_html(
            '{} <a href="{}">Edit products</a>',
            retailer_ids or "No products yet.",
            reverse("admin:campaigns_section_change", args=[section.pk]),
        )


def codes_text(codes: dict[str, int]) -> str:
    return " ".join(f"{code} ({count}): {explain(code)}" for code, count in codes.items())


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignAdminForm
    change_form_template = "admin/campaigns/campaign/change_form.html"
    list_display = [
        "name",
        "template",
        "state",
        "accepted_count",
        "failed_count",
        "queued_count",
        "created_at",
    ]
    list_filter = ["state", "template"]
    list_select_related = ["template"]
    search_fields = ["name"]
    autocomplete_fields = ["template", "thumbnail_product"]
    # States are moved by the send services, never by hand.
    readonly_fields = [
        "state",
        "paused_reason",
        "created_by",
        "created_at",
        "updated_at",
        "problems",
        "json_preview",
    ]
    inlines = [SectionInline]

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": ["name", "template", "thumbnail_product"]}),
            ("Template values", {"fields": ["header_value", "body_values"]}),
            ("Tracking (extra_info)", {"fields": ["ref", "ref1", "ref2", "wa_source"]}),
        ]
        if obj is not None:
            fieldsets += [
                (
                    "Status",
                    {
                        "fields": [
                            "state",
                            "paused_reason",
                            "created_by",
                            "created_at",
                            "updated_at",
                        ]
                    },
                ),
                ("Before you send", {"fields": ["problems", "json_preview"]}),
            ]
        return fieldsets

    def get_queryset(self, request):
        real = Q(messages__is_test=False)
        return (
            super()
            .get_queryset(request)
            .annotate(
                accepted_count=Count(
                    "messages", filter=real & Q(messages__state__in=Message.ACCEPTED_OR_LATER)
                ),
                failed_count=Count(
                    "messages", filter=real & Q(messages__state=Message.State.FAILED)
                ),
                queued_count=Count(
                    "messages", filter=real & Q(messages__state=Message.State.QUEUED)
                ),
            )
        )

    @admin.display(description="accepted", ordering="accepted_count")
    def accepted_count(self, campaign):
        return campaign.accepted_count

    @admin.display(description="failed", ordering="failed_count")
    def failed_count(self, campaign):
        return campaign.failed_count

    @admin.display(description="queued", ordering="queued_count")
    def queued_count(self, campaign):
        return campaign.queued_count

    @admin.display(description="Problems")
    def problems(self, campaign):
        return problems_html(services.campaign_check(campaign_for_sending(campaign.pk)))

    @admin.display(description="JSON preview")
    def json_preview(self, campaign):
        body = services.campaign_preview(campaign_for_sending(campaign.pk))
        return format_html(
            '<p class="help">The request body as saved, for the sample recipient {}. Each message '
            "carries its own number, and its own ref when the campaign's ref is empty.</p>{}",
            services.SAMPLE_RECIPIENT,
            pre(body),
        )

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    # --- sending ---

    def has_send_permission(self, request, obj=None):
        return request.user.has_perm(
            f"{self.opts.app_label}.send_campaign"
        ) and self.has_change_permission(request, obj)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/send-test/",
                self.admin_site.admin_view(self.send_test_view),
                name="{}_{}_send_test".format(*info),
            ),
            path(
                "<path:object_id>/send/",
                self.admin_site.admin_view(self.send_numbers_view),
                name="{}_{}_send".format(*info),
            ),
            path(
                "<path:object_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="{}_{}_progress".format(*info),
            ),
            path(
                "<path:object_id>/control/<str:action>/",
                self.admin_site.admin_view(self.control_view),
                name="{}_{}_control".format(*info),
            ),
            *super().get_urls(),
        ]

    def send_test_view(self, request, object_id):
        """GET shows the form; only a POST sends, to one number, recorded as a test."""
        campaign, errors = self._campaign_to_send(request, object_id)
        if request.method == "POST":
            form = SendTestForm(request.POST)
            if form.is_valid():
                to = form.cleaned_data["to"]
                request.session[LAST_TEST_NUMBER] = to
                self._send_test(request, campaign, to)
                return HttpResponseRedirect(request.path)
        else:
            form = SendTestForm(initial={"to": request.session.get(LAST_TEST_NUMBER, "")})
        return self._send_page(
            request, campaign, errors, "send_test.html", "Send a test", form=form
        )

    def send_numbers_view(self, request, object_id):
        """Like `delete_selected`: the first POST shows what would happen; only a confirm sends."""
        campaign, errors = self._campaign_to_send(request, object_id)
        form = SendToNumbersForm(request.POST if request.method == "POST" else None)
        context = {"form": form}
        if form.is_valid() and not errors:
            text = form.cleaned_data["numbers"]
            plan = recipients.recipients_plan(campaign, recipients.recipients_from_numbers(text))
            if "confirm" in request.POST and not plan.invalid and plan.sends_anything:
                self._send_to_numbers(request, campaign, text)
                return HttpResponseRedirect(
                    reverse("admin:campaigns_campaign_change", args=[quote(campaign.pk)])
                )
            context["plan"] = plan
        return self._send_page(
            request, campaign, errors, "send_numbers.html", "Send to numbers", **context
        )

    def progress_view(self, request, object_id):
        """Where the campaign's messages stand, as JSON, for the live progress panel."""
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None or not self.has_view_permission(request, campaign):
            raise Http404(f"There is no campaign with ID “{object_id}”.")
        return JsonResponse(campaign_progress(campaign.pk))

    def control_view(self, request, object_id, action):
        """POST only: pause, resume or cancel; needs the send permission."""
        if request.method != "POST" or action not in ("pause", "resume", "cancel"):
            return HttpResponseNotAllowed(["POST"])
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None:
            raise Http404(f"There is no campaign with ID “{object_id}”.")
        if not self.has_send_permission(request, campaign):
            raise PermissionDenied
        done, text = background.campaign_control(campaign, action=action)
        self.message_user(request, text, messages.SUCCESS if done else messages.WARNING)
        return HttpResponseRedirect(
            reverse("admin:campaigns_campaign_change", args=[quote(campaign.pk)])
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        campaign = self.get_object(request, unquote(object_id))
        extra_context = extra_context or {}
        if campaign is not None:
            extra_context["progress"] = campaign_progress(campaign.pk)
            if extra_context["progress"]["total"]:
                extra_context["funnel"] = campaign_funnel(campaign.pk)
            extra_context["can_send"] = self.has_send_permission(request, campaign)
        return super().change_view(request, object_id, form_url, extra_context)

    def _campaign_to_send(self, request, object_id):
        """The campaign, loaded for sending, and its errors; 403 without both permissions."""
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None:
            raise Http404(f"There is no campaign with ID “{object_id}”.")
        if not self.has_send_permission(request, campaign):
            raise PermissionDenied
        campaign = campaign_for_sending(campaign.pk)
        return campaign, validation.errors_only(services.campaign_check(campaign))

    def _send_page(self, request, campaign, errors, template_name, title, **context):
        """A send page; while the campaign has errors it lists them instead of a form."""
        return TemplateResponse(
            request,
            f"admin/campaigns/campaign/{template_name}",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": campaign,
                "title": title,
                "subtitle": str(campaign),
                "problems": problems_html(errors) if errors else "",
                **context,
            },
        )

    def _send_test(self, request, campaign, to):
        try:
            result = services.campaign_send_test(campaign, to=to)
        except services.CampaignNotSendable as exc:
            self.message_user(request, not_sendable_text(exc.problems), messages.ERROR)
            return
        accepted, text = describe_test_send(to, result)
        self.message_user(request, text, messages.SUCCESS if accepted else messages.ERROR)

    def _send_to_numbers(self, request, campaign, text):
        try:
            report = background.campaign_queue_and_send(
                campaign, recipients.recipients_from_numbers(text)
            )
        except services.CampaignNotRunnable as exc:
            self.message_user(request, f"Nothing was sent: {exc}", messages.ERROR)
            return
        if report.invalid:
            self.message_user(
                request,
                "Nothing was sent: "
                + " ".join(
                    f"Entry {line} ({value}): {reason}" for line, value, reason in report.invalid
                ),
                messages.ERROR,
            )
            return
        self.message_user(
            request,
            f"Sending “{campaign}” to {report.queued} recipient(s) in the background; "
            "follow its progress below.",
            messages.SUCCESS,
        )
        notes = report.notes()
        if notes:
            self.message_user(request, " ".join(notes), messages.INFO)


class SectionItemInline(admin.TabularInline):
    model = SectionItem
    fields = ["position", "product"]
    autocomplete_fields = ["product"]
    extra = 1


@admin.register(Section)
class SectionAdmin(admin.ModelAdmin):
    list_display = ["campaign", "position", "title", "product_count"]
    list_display_links = ["title"]
    list_select_related = ["campaign"]
    search_fields = ["title", "campaign__name"]
    autocomplete_fields = ["campaign"]
    inlines = [SectionItemInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(product_count=Count("items"))

    @admin.display(description="products", ordering="product_count")
    def product_count(self, section):
        return section.product_count


# --- records ------------------------------------------------------------------------------------


class SendAttemptInline(ReadOnlyMixin, admin.TabularInline):
    model = SendAttempt
    fields = [
        "created_at",
        "http_status",
        "code",
        "message_text",
        "provider_message_id",
        "duration_ms",
        "request",
    ]
    readonly_fields = fields
    extra = 0

    @admin.display(description="request body")
    def request(self, attempt):
        return format_html(
            "<details><summary>Show</summary>{}</details>", pretty_json(attempt.request_body)
        )


@admin.register(Message)
class MessageAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "to",
        "campaign",
        "state",
        "last_code",
        "message_id",
        "attempts",
        "is_test",
        "updated_at",
    ]
    list_filter = [
        ("campaign", admin.RelatedOnlyFieldListFilter),
        "state",
        "last_code",
        "is_test",
    ]
    search_fields = ["to", "message_id"]
    list_select_related = ["campaign"]
    list_per_page = 100
    show_full_result_count = False
    fields = [
        "campaign",
        "to",
        "state",
        "what_to_do",
        "detail",
        "last_code",
        "message_id",
        "attempts",
        "next_attempt_at",
        "claimed_by",
        "claimed_at",
        "is_test",
        "overrides",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["what_to_do"]
    inlines = [SendAttemptInline]

    @admin.display(description="What to do")
    def what_to_do(self, message):
        return explanation_html(message.last_code)


@admin.register(SendAttempt)
class SendAttemptAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "recipient", "campaign", "http_status", "code", "duration_ms"]
    list_filter = ["code", "http_status"]
    search_fields = ["message__to", "provider_message_id"]
    list_select_related = ["message__campaign"]
    list_per_page = 100
    show_full_result_count = False
    fields = [
        "message",
        "created_at",
        "http_status",
        "code",
        "what_to_do",
        "message_text",
        "provider_message_id",
        "duration_ms",
        "request",
        "error_pretty",
        "response",
    ]
    readonly_fields = ["what_to_do", "request", "error_pretty", "response"]

    @admin.display(description="recipient", ordering="message__to")
    def recipient(self, attempt):
        return attempt.message.to

    @admin.display(description="campaign", ordering="message__campaign__name")
    def campaign(self, attempt):
        return attempt.message.campaign

    @admin.display(description="What to do")
    def what_to_do(self, attempt):
        return explanation_html(attempt.code, attempt.http_status)

    @admin.display(description="request body")
    def request(self, attempt):
        return pretty_json(attempt.request_body)

    @admin.display(description="error")
    def error_pretty(self, attempt):
        return pretty_json(attempt.error)

    @admin.display(description="response body")
    def response(self, attempt):
        return pre(attempt.response_body)


# =================================================================================================
# Callbacks: what Kaleyra reported after the send (issue 5). Records are read-only, except the
# opt-out list, where staff may add a number by hand.
# =================================================================================================

from django import forms as django_forms  # noqa: E402

from campaigns import callbacks  # noqa: E402
from campaigns.kaleyra.answers import explain_meta  # noqa: E402
from campaigns.models import (  # noqa: E402
    CallbackInbox,
    OptOut,
    Order,
    OrderItem,
    SenderPacing,
    StatusEvent,
)


@admin.register(CallbackInbox)
class CallbackInboxAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "kind", "received_at", "processed_at", "error_short"]
    list_filter = ["kind", ("processed_at", admin.EmptyFieldListFilter), "received_at"]
    search_fields = ["=id"]
    list_per_page = 100
    show_full_result_count = False
    fields = ["kind", "content_type", "received_at", "processed_at", "error", "body_pretty"]
    readonly_fields = ["body_pretty"]

    @admin.display(description="error")
    def error_short(self, row):
        return row.error[:120]

    @admin.display(description="body")
    def body_pretty(self, row):
        try:
            return pretty_json(json.loads(row.body))
        except ValueError:
            return pre(row.body)


@admin.register(StatusEvent)
class StatusEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "received_at",
        "status",
        "status_raw",
        "recipient",
        "provider_message_id",
        "message",
        "error_code",
        "applied",
    ]
    list_filter = ["status", "applied", "error_code"]
    search_fields = ["=provider_message_id", "=alt_message_id", "=ref", "=recipient"]
    list_select_related = ["message"]
    list_per_page = 100
    show_full_result_count = False
    fields = [
        "message",
        "status",
        "status_raw",
        "timestamp",
        "received_at",
        "provider_message_id",
        "alt_message_id",
        "ref",
        "recipient",
        "sender",
        "error_code",
        "what_it_means",
        "error_title",
        "error_details",
        "price",
        "currency",
        "applied",
        "event_key",
        "raw_pretty",
    ]
    readonly_fields = ["what_it_means", "raw_pretty"]

    @admin.display(description="What it means")
    def what_it_means(self, event):
        explanation = explain_meta(event.error_code)
        if explanation is None:
            return "-"
        return format_html("{}<br><strong>{}</strong>", explanation.meaning, explanation.action)

    @admin.display(description="raw")
    def raw_pretty(self, event):
        return pretty_json(event.raw)


class OptOutForm(django_forms.ModelForm):
    class Meta:
        model = OptOut
        fields = ["phone", "reason", "keyword"]

    def clean_phone(self):
        number, problem = recipients.normalise_phone(self.cleaned_data["phone"])
        if number is None:
            raise django_forms.ValidationError(problem)
        return number


@admin.register(OptOut)
class OptOutAdmin(admin.ModelAdmin):
    form = OptOutForm
    list_display = ["phone", "reason", "keyword", "created_at"]
    list_filter = ["reason", "created_at"]
    search_fields = ["phone"]
    show_full_result_count = False
    fields = ["phone", "reason", "keyword", "created_at", "source"]
    readonly_fields = ["created_at", "source"]

    def get_readonly_fields(self, request, obj=None):
        # A recorded opt-out is kept as it happened; delete it to let the number back in.
        return (
            [*self.readonly_fields, "phone", "reason", "keyword"] if obj else self.readonly_fields
        )

    def get_changeform_initial_data(self, request):
        return {"reason": OptOut.Reason.MANUAL}

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        # Through the service, so this number's queued messages are skipped at once too.
        callbacks.optout_add(phone=obj.phone, reason=obj.reason, keyword=obj.keyword)
        obj.pk = OptOut.objects.get(phone=obj.phone).pk


class OrderItemInline(ReadOnlyMixin, admin.TabularInline):
    model = OrderItem
    extra = 0
    fields = ["retailer_id", "product", "quantity", "item_price", "currency"]


@admin.register(Order)
class OrderAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["received_at", "from_phone", "campaign", "total", "currency"]
    list_filter = [("campaign", admin.RelatedOnlyFieldListFilter), "received_at"]
    search_fields = ["from_phone", "=provider_message_id"]
    list_select_related = ["campaign"]
    show_full_result_count = False
    fields = [
        "from_phone",
        "campaign",
        "message",
        "catalog_id",
        "text",
        "total",
        "currency",
        "received_at",
        "provider_message_id",
        "raw_pretty",
    ]
    readonly_fields = ["raw_pretty"]
    inlines = [OrderItemInline]

    @admin.display(description="raw")
    def raw_pretty(self, order):
        return pretty_json(order.raw)


@admin.register(SenderPacing)
class SenderPacingAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["sender", "factor", "code", "until", "reason"]
