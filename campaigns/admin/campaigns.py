"""Campaigns and their sections: composed and checked while a draft, then kept as sent.

Only a draft is editable (the composer's rule): once sending starts, the page is read-only and
offers what the composer offers for that state: clone, pause, resume or cancel. Every check,
preview and send is a call into `services`.
"""

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import quote, unquote
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from campaigns import recipients, services, validation
from campaigns.admin.display import not_sendable_text, pre, problems_html
from campaigns.forms import (
    LAST_TEST_NUMBER,
    CampaignAdminForm,
    IdChoiceField,
    SendTestForm,
    SendToNumbersForm,
)
from campaigns.kaleyra.answers import describe_test_send
from campaigns.models import Campaign, Message, Section, SectionItem
from campaigns.selectors import campaign_for_sending, campaign_funnel, campaign_progress
from campaigns.services import background, composer

# The states the composer sends from: a paused campaign resumes, a cancelled one never sends.
SENDABLE_STATES = (Campaign.State.DRAFT, Campaign.State.SENDING, Campaign.State.COMPLETED)


def kept_as_sent_text(campaign: Campaign) -> str:
    """Why a campaign past its draft cannot change, in the composer's words."""
    return (
        f"“{campaign}” is {campaign.get_state_display().lower()}, so its content is kept as it "
        "was sent. Clone it to make a changed copy."
    )


def drafts_only_delete(state_lookup: str):
    """`delete_selected`, refused while any selected row belongs to a campaign past its draft:
    deleting it would delete the records of what was sent."""

    @admin.action(permissions=["delete"], description=delete_selected.short_description)
    def delete_selected_drafts(modeladmin, request, queryset):
        kept = queryset.exclude(**{state_lookup: Campaign.State.DRAFT}).count()
        if kept:
            modeladmin.message_user(
                request,
                f"Nothing was deleted: {kept} of the selected belong to campaigns past their "
                "draft, whose records must stay as they were sent.",
                messages.ERROR,
            )
            return None
        return delete_selected(modeladmin, request, queryset)

    # The admin knows an action by its function's name: this one replaces the site-wide one.
    delete_selected_drafts.__name__ = "delete_selected"
    return delete_selected_drafts


def real_messages_count(**filters):
    """How many of the campaign's real messages match, as a subquery of the campaign list."""
    counts = (
        Message.objects.real()
        .filter(campaign=OuterRef("pk"), **filters)
        .order_by()
        .values("campaign")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts), 0)


class SectionInline(admin.TabularInline):
    model = Section
    fields = ["position", "title", "personalised", "products"]
    readonly_fields = ["products"]
    extra = 0

    def get_queryset(self, request):
        items = SectionItem.objects.select_related("product").order_by("position", "id")
        return super().get_queryset(request).prefetch_related(Prefetch("items", queryset=items))

    @admin.display(description="products")
    def products(self, section):
        if section.pk is None:
            return "Save first, then add its products."
        if section.personalised:
            return "Each recipient's own (their skus column)."
        retailer_ids = ", ".join(item.product.retailer_id for item in section.items.all())
        return format_html(
            '{} <a href="{}">Edit products</a>',
            retailer_ids or "No products yet.",
            reverse("admin:campaigns_section_change", args=[section.pk]),
        )


class AutocompleteIds:
    """Autocomplete fields that re-show a refused post without querying what is not an id."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.get_autocomplete_fields(request):
            kwargs.setdefault("form_class", IdChoiceField)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Campaign)
class CampaignAdmin(AutocompleteIds, admin.ModelAdmin):
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
    list_filter = ["state", "template", "sender"]
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
    actions = [drafts_only_delete("state")]

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (
                None,
                {"fields": ["name", "template", "thumbnail_product", "thumbnail_from_recipient"]},
            ),
            ("Template values", {"fields": ["header_value", "body_values"]}),
            ("Tracking (extra_info)", {"fields": ["ref", "ref1", "ref2", "wa_source"]}),
            ("Sending", {"fields": ["sender", "triggered", ("send_from", "send_until")]}),
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
        return (
            super()
            .get_queryset(request)
            .annotate(
                accepted_count=real_messages_count(state__in=Message.ACCEPTED_OR_LATER),
                failed_count=real_messages_count(state=Message.State.FAILED),
                queued_count=real_messages_count(state=Message.State.QUEUED),
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

    # --- only a draft changes ---

    def has_change_permission(self, request, obj=None):
        if obj is not None and not obj.is_editable:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not obj.is_editable:
            return False
        return super().has_delete_permission(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        campaign = self.get_object(request, unquote(object_id))
        if campaign is not None and not campaign.is_editable and request.method == "POST":
            # Someone may have started sending it while this page was open: say so, keep it.
            self.message_user(request, kept_as_sent_text(campaign), messages.WARNING)
            return HttpResponseRedirect(request.path)
        extra_context = extra_context or {}
        if campaign is not None:
            extra_context["progress"] = campaign_progress(campaign.pk)
            if extra_context["progress"]["total"]:
                extra_context["funnel"] = campaign_funnel(campaign.pk)
            extra_context["can_send"] = self.has_send_permission(request, campaign)
            extra_context["sendable"] = campaign.state in SENDABLE_STATES
            extra_context["can_clone"] = self.has_add_permission(request)
            if not campaign.is_editable:
                extra_context["kept_as_sent"] = kept_as_sent_text(campaign)
        return super().change_view(request, object_id, form_url, extra_context)

    # --- sending ---

    def has_send_permission(self, request, obj=None):
        """The send and the change permission, in any state: a completed campaign still takes
        new recipients, and a sending one is paused, resumed or cancelled."""
        opts = self.opts
        return request.user.has_perms(
            [
                f"{opts.app_label}.send_campaign",
                f"{opts.app_label}.{get_permission_codename('change', opts)}",
            ]
        )

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        views = [
            ("send-test/", "send_test", self.send_test_view),
            ("send/", "send", self.send_numbers_view),
            ("progress/", "progress", self.progress_view),
            ("control/<str:action>/", "control", self.control_view),
            ("clone/", "clone", self.clone_view),
        ]
        return [
            *(
                path(
                    f"<path:object_id>/{route}",
                    self.admin_site.admin_view(view),
                    name="{}_{}_{}".format(*info, name),
                )
                for route, name, view in views
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
                return HttpResponseRedirect(self._change_url(campaign))
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
        return HttpResponseRedirect(self._change_url(campaign))

    def clone_view(self, request, object_id):
        """POST only: a new draft with the same content, opened for editing."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None:
            raise Http404(f"There is no campaign with ID “{object_id}”.")
        if not (self.has_view_permission(request, campaign) and self.has_add_permission(request)):
            raise PermissionDenied
        clone = composer.campaign_clone(
            campaign=campaign_for_sending(campaign.pk), user=request.user
        )
        self.message_user(
            request,
            f"“{campaign}” copied as the draft “{clone}”: change what you like.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(self._change_url(clone))

    def _change_url(self, campaign):
        return reverse("admin:campaigns_campaign_change", args=[quote(campaign.pk)])

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
            self.message_user(request, not_sendable_text(exc), messages.ERROR)
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


class SectionItemInline(AutocompleteIds, admin.TabularInline):
    model = SectionItem
    fields = ["position", "product"]
    autocomplete_fields = ["product"]
    extra = 1


@admin.register(Section)
class SectionAdmin(AutocompleteIds, admin.ModelAdmin):
    """A section changes with its campaign: only while that campaign is a draft."""

    list_display = ["campaign", "position", "title", "personalised", "product_count"]
    list_display_links = ["title"]
    list_select_related = ["campaign"]
    search_fields = ["title", "campaign__name"]
    autocomplete_fields = ["campaign"]
    inlines = [SectionItemInline]
    actions = [drafts_only_delete("campaign__state")]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(product_count=Count("items"))

    def has_change_permission(self, request, obj=None):
        if obj is not None and not obj.campaign.is_editable:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not obj.campaign.is_editable:
            return False
        return super().has_delete_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "campaign":
            kwargs["queryset"] = Campaign.objects.filter(state=Campaign.State.DRAFT)
            kwargs["error_messages"] = {
                "invalid_choice": "Only a draft campaign takes new sections: clone the campaign "
                "to make a changed copy."
            }
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="products", ordering="product_count")
    def product_count(self, section):
        return section.product_count
