"""Contacts and their consent ledger. Consent changes only through the ledger: the actions here
record an event with the staff member as its actor; the ledger itself is read-only."""

from django.contrib import admin

from campaigns import callbacks
from campaigns.admin.records import ReadOnlyMixin
from campaigns.audiences.consent import Provenance, consent_record
from campaigns.models import Consent, ConsentEvent, Contact, ContactList, OptOut, Segment

LEDGER_FIELDS = [
    "recorded_at",
    "status",
    "category",
    "source",
    "source_ref",
    "actor",
    "ip_address",
    "user_agent",
]


class ConsentEventInline(ReadOnlyMixin, admin.TabularInline):
    model = ConsentEvent
    fields = LEDGER_FIELDS
    readonly_fields = LEDGER_FIELDS
    ordering = ["-recorded_at", "-id"]
    extra = 0


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["phone", "name", "consent", "consent_at", "time_zone"]
    list_filter = ["consent"]
    search_fields = ["phone", "name"]
    show_full_result_count = False
    readonly_fields = ["consent", "consent_at", "created_at", "updated_at"]
    inlines = [ConsentEventInline]
    actions = ["record_opt_out", "record_opt_in"]

    def has_delete_permission(self, request, obj=None):
        # The ledger is append-only and keeps its contacts (PROTECT): a contact stays.
        return False

    @admin.action(description="Record opt-out", permissions=["change"])
    def record_opt_out(self, request, queryset):
        # Through the opt-out service, so the numbers' queued messages are skipped at once too.
        recorded = sum(
            callbacks.optout_add(phone=phone, reason=OptOut.Reason.MANUAL, actor=request.user)
            for phone in queryset.values_list("phone", flat=True)
        )
        self.message_user(request, f"{recorded} contact(s) recorded as opted out.")

    @admin.action(description="Record opt-in", permissions=["change"])
    def record_opt_in(self, request, queryset):
        recorded = 0
        for phone in queryset.exclude(consent=Consent.OPTED_IN).values_list("phone", flat=True):
            consent_record(phone, Consent.OPTED_IN, Provenance("admin", actor=request.user))
            recorded += 1
        self.message_user(request, f"{recorded} contact(s) recorded as opted in.")


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["contact", "status", "source", "source_ref", "actor", "recorded_at"]
    list_filter = ["status", "source", "category"]
    search_fields = ["contact__phone", "source_ref"]
    list_select_related = ["contact", "actor"]
    show_full_result_count = False


@admin.register(ContactList)
class ContactListAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    autocomplete_fields = ["contacts"]


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["name", "updated_at"]
    search_fields = ["name"]
