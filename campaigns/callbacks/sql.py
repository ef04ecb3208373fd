"""The callbacks' hand-written statements: one INSERT per callback in the webhook (a batch in the
receiver), one per event in the applier. Measured on the callback benchmark: the ORM's create()
and bulk_create() cost more CPU than the statements themselves (bulk_create of status events:
0.22 ms per row)."""

from django.db import connection

from campaigns.models import CallbackInbox, StatusEvent
from campaigns.models.rawsql import adapt_datetime, cached_insert_sql

INBOX_COLUMNS = ("kind", "content_type", "body", "received_at", "error", "problem")


STATUS_EVENT_COLUMNS = (
    "message_id",
    "event_key",
    "provider_message_id",
    "alt_message_id",
    "ref",
    "recipient",
    "sender",
    "status",
    "status_raw",
    "timestamp",
    "error_code",
    "error_title",
    "error_details",
    "price",
    "currency",
    "raw",
    "received_at",
    "applied",
)


def insert_callbacks(cursor, callbacks):
    """Store callbacks as they arrived, each (kind, content_type, body, received_at): the
    webhook's only statement (one callback in a view, a batch in the receiver)."""
    cursor.executemany(
        cached_insert_sql(CallbackInbox, INBOX_COLUMNS, connection.vendor),
        [(kind, ctype, body, adapt_datetime(at), "", "") for kind, ctype, body, at in callbacks],
    )


def insert_status_events(cursor, rows):
    """Rows in STATUS_EVENT_COLUMNS order (`raw` as JSON text, datetimes adapted); an event
    already stored (same `event_key`) is left alone, so a replay is a no-op."""
    cursor.executemany(
        cached_insert_sql(StatusEvent, STATUS_EVENT_COLUMNS, connection.vendor)
        + " ON CONFLICT DO NOTHING",
        rows,
    )
