"""The staff's whole interface: catalog, templates, campaigns with their checks and preview,
sending through confirmation pages, and read-only records of every message and HTTP exchange.

Thin by design: every check, preview and send is a call into `services`.
"""

import json
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from . import recipients, services, validation
from .answers import explain
from .forms import CampaignAdminForm, SendTestForm, SendToNumbersForm
from .models import (
    Campaign,
    Message,
    MessageTemplate,
    Product,
    Section,
    SectionItem,
    SendAttempt,
)
from .selectors import campaign_for_sending, campaign_progress

admin.site.site_header = "WhatsApp MPM campaigns"
admin.site.site_title = "MPM campaigns"
admin.site.index_title = "Catalog, templates and campaigns"

LAST_TEST_NUMBER = "campaigns_last_test_number"  # session key: the send-test form is prefilled
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


@dataclass
class NumbersPlan:
    """What sending to typed numbers would do, shown before anything is queued or sent.

    Mirrors `recipients.campaign_queue_recipients`, which decides again when the user confirms.
    """

    valid: list[str] = field(default_factory=list)
    invalid: list[tuple[int, str, str]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    already_sent: int = 0
    unknown: int = 0
    to_send: int = 0
    others_queued: int = 0

    @property
    def sends_anything(self) -> bool:
        return bool(self.to_send or self.others_queued)


def numbers_plan(campaign: Campaign, text: str) -> NumbersPlan:
    parsed = validation.parse_recipients(validation.split_numbers(text))
    plan = NumbersPlan(valid=parsed.valid, invalid=parsed.invalid, duplicates=parsed.duplicates)
    skip_us = (
        settings.MPM_SKIP_US_RECIPIENTS
        and campaign.template.category == MessageTemplate.Category.MARKETING
    )
    real = campaign.messages.filter(is_test=False)
    states = dict(real.filter(to__in=plan.valid).values_list("to", "state"))
    for number in plan.valid:
        state = states.get(number)
        if state in (Message.State.ACCEPTED, Message.State.SENDING):
            plan.already_sent += 1
        elif state == Message.State.UNKNOWN:
            plan.unknown += 1
        elif skip_us and validation.is_marketing_blocked(number):
            plan.blocked.append(number)
        else:
            plan.to_send += 1
    plan.others_queued = real.filter(state=Message.State.QUEUED).exclude(to__in=plan.valid).count()
    return plan


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
                    "messages", filter=real & Q(messages__state=Message.State.ACCEPTED)
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
            plan = numbers_plan(campaign, text)
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
        done, text = control_campaign(campaign, action)
        self.message_user(request, text, messages.SUCCESS if done else messages.WARNING)
        return HttpResponseRedirect(
            reverse("admin:campaigns_campaign_change", args=[quote(campaign.pk)])
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        campaign = self.get_object(request, unquote(object_id))
        extra_context = extra_context or {}
        if campaign is not None:
            extra_context["progress"] = campaign_progress(campaign.pk)
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
        if result.accepted:
            self.message_user(
                request,
                f"Test sent to {to}: Kaleyra accepted it, message ID {result.message_id}.",
                messages.SUCCESS,
            )
            return
        code = result.result_code or f"HTTP {result.http_status}"
        said = f" Kaleyra said: “{result.message}”." if result.message else ""
        self.message_user(
            request,
            f"The test to {to} did not go through ({code}).{said} "
            f"{explain(result.result_code, result.http_status) or ''}",
            messages.ERROR,
        )

    def _send_to_numbers(self, request, campaign, text):
        report = recipients.campaign_queue_recipients(
            campaign, recipients.recipients_from_numbers(text)
        )
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
        try:
            services.campaign_enqueue_send(campaign)
        except services.CampaignNotRunnable as exc:
            self.message_user(request, f"Nothing was sent: {exc}", messages.ERROR)
            return
        self.message_user(
            request,
            f"Sending “{campaign}” to {report.queued} recipient(s) in the background; "
            "follow its progress below.",
            messages.SUCCESS,
        )
        notes = []
        if report.already_accepted:
            notes.append(
                f"{report.already_accepted} number(s) had already received this campaign and "
                "were not sent it again."
            )
        if report.unknown_kept:
            notes.append(
                f"{report.unknown_kept} number(s) have an unknown earlier outcome and were not "
                "resent: check Kaleyra's reports."
            )
        for reason, count in Counter(reason for _, reason in report.skipped).items():
            notes.append(f"{count} number(s) skipped: {reason}")
        if report.duplicate_count:
            notes.append(f"{report.duplicate_count} duplicate number(s) were removed.")
        if notes:
            self.message_user(request, " ".join(notes), messages.INFO)


def control_campaign(campaign: Campaign, action: str) -> tuple[bool, str]:
    """Pause, resume or cancel a campaign: (done, what to tell the user)."""
    if action == "pause":
        if services.campaign_pause(campaign):
            return True, "Paused: requests in flight finish, nothing new is sent until you resume."
        return False, "Only a sending campaign can be paused."
    if action == "resume":
        try:
            services.campaign_enqueue_send(campaign, resume=True)
        except services.CampaignNotRunnable as exc:
            return False, str(exc)
        return True, "Resumed: sending goes on in the background."
    skipped = services.campaign_cancel(campaign)
    return True, f"Cancelled: {skipped} queued message(s) will not be sent."


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
