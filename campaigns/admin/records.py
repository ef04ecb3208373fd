"""What was sent: one Message per recipient, one SendAttempt per HTTP exchange, read-only."""

from django.contrib import admin
from django.utils.html import format_html

from campaigns.admin.display import explanation_html, pre, pretty_json
from campaigns.models import Message, SendAttempt


class ReadOnlyMixin:
    """Records of what happened: viewed, never added, edited or deleted by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
