"""Outbound webhooks: the endpoints (their secret shown once, when made and when rotated) and
the read-only log of every delivery with its attempts, where staff may deliver again."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.template.response import TemplateResponse

from campaigns.admin.display import pre, pretty_json_text
from campaigns.admin.records import ReadOnlyMixin
from campaigns.forms import WebhookEndpointForm
from campaigns.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from campaigns.services import webhooks


def confirmation_page(modeladmin, request, queryset, *, title: str, question: str, button: str):
    """Like `delete_selected`'s: the selected rows, and a form that POSTs the action again
    with `confirm`."""
    return TemplateResponse(
        request,
        "admin/campaigns/webhook_confirm.html",
        {
            **modeladmin.admin_site.each_context(request),
            "opts": modeladmin.opts,
            "title": title,
            "question": question,
            "button": button,
            "objects": queryset,
            "action": request.POST.get("action", ""),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        },
    )


def waiting_count(state: str):
    """An endpoint's deliveries in `state`, counted on the small partial index of waiting ones."""
    counted = (
        WebhookDelivery.objects.filter(endpoint=OuterRef("pk"), state=state)
        .order_by()
        .values("endpoint")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = [
        "name",
        "url",
        "is_active",
        "events",
        "campaign",
        "pending",
        "failing",
        "created_at",
    ]
    list_filter = ["is_active"]
    search_fields = ["name", "url"]
    list_select_related = ["campaign"]
    autocomplete_fields = ["campaign"]
    fields = ["name", "url", "event_types", "campaign", "is_active", "created_by", "created_at"]
    readonly_fields = ["created_by", "created_at"]
    actions = ["rotate_secret"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                pending_count=waiting_count(WebhookDelivery.State.PENDING),
                failed_count=waiting_count(WebhookDelivery.State.FAILED),
            )
        )

    @admin.display(description="events")
    def events(self, endpoint):
        return ", ".join(endpoint.event_types)

    @admin.display(description="pending", ordering="pending_count")
    def pending(self, endpoint):
        return endpoint.pending_count

    @admin.display(description="failed, retrying", ordering="failed_count")
    def failing(self, endpoint):
        return endpoint.failed_count

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        """The secret, shown this once (never stored; a lost one is replaced by rotating)."""
        secret = webhooks.webhook_secret(endpoint=obj)
        return self.secret_page(request, [(obj, secret)], title="Endpoint added: its secret")

    @admin.action(permissions=["change"], description="Rotate the secret of selected endpoints")
    def rotate_secret(self, request, queryset):
        if "confirm" not in request.POST:
            return confirmation_page(
                self,
                request,
                queryset,
                title="Rotate secrets?",
                question="Each endpoint gets a new secret; its old one stops working at once, "
                "so its receiver refuses our webhooks until it has the new one.",
                button="Yes, rotate",
            )
        rotated = webhooks.webhook_secrets_rotate(endpoint_ids=[e.pk for e in queryset])
        return self.secret_page(request, rotated, title="New secrets")

    def secret_page(self, request, pairs, *, title: str):
        response = TemplateResponse(
            request,
            "admin/campaigns/webhook_secret.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": title,
                "pairs": pairs,
            },
        )
        response["Cache-Control"] = "no-store"
        return response


class WebhookAttemptInline(ReadOnlyMixin, admin.TabularInline):
    model = WebhookAttempt
    fields = ["attempted_at", "http_status", "error", "duration_ms", "response_excerpt"]
    readonly_fields = fields
    extra = 0


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "endpoint",
        "event_type",
        "state",
        "attempts",
        "last_http_status",
        "last_error",
        "next_attempt_at",
    ]
    list_filter = ["state", "event_type", "endpoint"]
    search_fields = ["=id", "=event_key"]
    list_select_related = ["endpoint"]
    list_per_page = 100
    show_full_result_count = False
    fields = [
        "endpoint",
        "event_type",
        "event_key",
        "state",
        "attempts",
        "created_at",
        "first_attempt_at",
        "next_attempt_at",
        "delivered_at",
        "last_http_status",
        "last_error",
        "response",
        "payload_pretty",
    ]
    readonly_fields = ["response", "payload_pretty"]
    inlines = [WebhookAttemptInline]
    actions = ["deliver_again"]

    def has_replay_permission(self, request):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.replay_webhookdelivery")

    @admin.display(description="payload")
    def payload_pretty(self, delivery):
        return pretty_json_text(delivery.payload)

    @admin.display(description="response (first 500 characters)")
    def response(self, delivery):
        return pre(delivery.response_excerpt)

    @admin.action(permissions=["replay"], description="Deliver again")
    def deliver_again(self, request, queryset):
        if "confirm" not in request.POST:
            return confirmation_page(
                self,
                request,
                queryset.select_related("endpoint"),
                title="Deliver again?",
                question="Each of these is posted to its endpoint once more, now, and retried "
                "for 24 hours if it fails. Receivers see the same X-MPM-Delivery id again.",
                button="Yes, deliver again",
            )
        count = webhooks.webhook_deliveries_replay(delivery_ids=[d.pk for d in queryset])
        self.message_user(
            request,
            f"{count} deliver{'y' if count == 1 else 'ies'} queued again.",
            messages.SUCCESS,
        )
        return None
