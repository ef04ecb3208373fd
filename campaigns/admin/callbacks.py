"""What Kaleyra reported after the send: the callback inbox, statuses, orders, pacing and the
opt-out list. Records are read-only, except the opt-out list, where staff may add a number."""

from django.contrib import admin
from django.utils.html import format_html

from campaigns import callbacks
from campaigns.admin.display import pretty_json, pretty_json_text
from campaigns.admin.records import ReadOnlyMixin
from campaigns.audiences.consent import Provenance, consent_record
from campaigns.forms import OptOutForm
from campaigns.kaleyra.answers import explain_meta
from campaigns.models import (
    CallbackInbox,
    Consent,
    ConsentEvent,
    OptOut,
    Order,
    OrderItem,
    Reply,
    SenderPacing,
    StatusEvent,
)


@admin.register(CallbackInbox)
class CallbackInboxAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "kind", "received_at", "processed_at", "problem", "error_short"]
    # `problem`: callbacks kept without being applied, by reason (an order beyond the tables'
    # range is here, with its body, rather than lost).
    list_filter = [
        "problem",
        "kind",
        ("processed_at", admin.EmptyFieldListFilter),
        "received_at",
    ]
    search_fields = ["=id"]
    list_per_page = 100
    show_full_result_count = False
    fields = [
        "kind",
        "content_type",
        "received_at",
        "processed_at",
        "problem",
        "error",
        "body_pretty",
    ]
    readonly_fields = ["body_pretty"]

    @admin.display(description="error")
    def error_short(self, row):
        return row.error[:120]

    @admin.display(description="body")
    def body_pretty(self, row):
        return pretty_json_text(row.body)


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
        # Through the ledger, so this number's queued messages are skipped at once too.
        callbacks.optout_add(
            phone=obj.phone, reason=obj.reason, keyword=obj.keyword, actor=request.user
        )
        obj.pk = OptOut.objects.get(phone=obj.phone).pk

    def delete_model(self, request, obj):
        self.delete_queryset(request, OptOut.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        """Letting a number back in is an opt-in in the consent ledger, by this staff member."""
        proof = Provenance(ConsentEvent.Source.ADMIN, ref="opt-out deleted", actor=request.user)
        for phone in queryset.values_list("phone", flat=True):
            consent_record(phone, Consent.OPTED_IN, proof)


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


@admin.register(Reply)
class ReplyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["received_at", "from_phone", "type", "text"]
    list_filter = ["type", "received_at"]
    search_fields = ["from_phone", "text", "=provider_message_id"]
    show_full_result_count = False


@admin.register(SenderPacing)
class SenderPacingAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["sender", "factor", "code", "until", "reason"]
