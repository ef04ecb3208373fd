"""The statements that run once per recipient, written by hand.

Measured in the send benchmark (issue 3): `bulk_update` cost 297 ms of CPU per 1,000 rows against
4 ms for `executemany`, and `bulk_create` of Messages 80 µs per row against a few µs; the ORM's
claim (a SELECT, then an UPDATE naming 1,000 ids) cost 29 ms of CPU per 1,000 against one
`UPDATE … RETURNING`. On PostgreSQL Django binds parameters on the client and `executemany` sends
one statement per row, so there attempts go in by `COPY` (4 ms of CPU and 28 ms of wall time per
1,000 rows against 15 and 64 ms) and Messages are inserted and updated from binary arrays
(`unnest`: 6 ms of CPU and 45 ms of wall time per 2,000 new Messages against 32 and 164 ms).
Only these hot statements are raw SQL; everything else goes through the ORM. Columns are named
from the models' metadata, datetimes adapted as the ORM would, JSON cast where PostgreSQL needs it."""

import functools
import json

import psycopg
from django.db import connection
from django.db.models import JSONField

from .models import CallbackInbox, Message, SendAttempt, StatusEvent

MESSAGE_COLUMNS = (
    "campaign_id",
    "to",
    "overrides",
    "state",
    "message_id",
    "last_code",
    "detail",
    "attempts",
    "is_test",
    "claimed_by",
    "created_at",
    "updated_at",
)
ATTEMPT_COLUMNS = (
    "message_id",
    "request_body",
    "http_status",
    "code",
    "message_text",
    "error",
    "response_body",
    "provider_message_id",
    "duration_ms",
    "created_at",
)


def _insert_sql(model, columns) -> str:
    quote = connection.ops.quote_name
    json_cast = "::jsonb" if connection.vendor == "postgresql" else ""
    values = ", ".join(f"%s{json_cast}" if _is_json(model, c) else "%s" for c in columns)
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({values})"
    )


def _is_json(model, column: str) -> bool:
    """Whether PostgreSQL needs the JSON cast: the model's field says (column names repeat
    across models: SendAttempt.error is JSON, CallbackInbox.error is text)."""
    field = next(f for f in model._meta.concrete_fields if f.column == column)
    return isinstance(field, JSONField)


def adapt_datetime(value):
    return connection.ops.adapt_datetimefield_value(value)


def insert_messages(cursor, rows):
    """Rows in MESSAGE_COLUMNS order; a number the campaign already has is left alone."""
    if connection.vendor != "postgresql":
        cursor.executemany(_insert_sql(Message, MESSAGE_COLUMNS) + " ON CONFLICT DO NOTHING", rows)
    elif rows:
        quote = connection.ops.quote_name
        with _bound_cursor(cursor) as bound:
            bound.execute(
                f"INSERT INTO {quote(Message._meta.db_table)} "
                f"({', '.join(quote(c) for c in MESSAGE_COLUMNS)}) "
                f"SELECT * FROM {_unnest(Message, MESSAGE_COLUMNS)} ON CONFLICT DO NOTHING",
                _columns(rows),
            )


def _bound_cursor(cursor) -> psycopg.Cursor:
    """PostgreSQL: a cursor on the same connection (so in the same transaction) that sends the
    parameters apart from the SQL, arrays in binary: psycopg dumps them in C. Django's own
    cursor binds on the client and quotes each array element in Python (8 times the CPU)."""
    return psycopg.Cursor(cursor.cursor.connection)


def _unnest(model, columns) -> str:
    """PostgreSQL: one array parameter per column, read back as rows: one statement for all.
    Text goes as `text[]`: a `varchar(n)[]` cast would cut long values silently, where the
    column itself refuses them."""
    fields = {f.column: f for f in model._meta.concrete_fields}
    types = [fields[c].db_type(connection) for c in columns]
    return (
        "unnest("
        + ", ".join(f"%b::{'text' if kind.startswith('varchar') else kind}[]" for kind in types)
        + ")"
    )


def _columns(rows) -> list[list]:
    return [list(column) for column in zip(*rows, strict=True)]


def claim_messages(cursor, *, campaign_id: int, size: int, worker_id: str, now):
    """Flip up to `size` ready Messages of a campaign to `sending`, lowest ids first, in one
    statement; returns their (id, to, overrides, attempts).

    `SKIP LOCKED` lets workers share a campaign on PostgreSQL without ever claiming the same row;
    SQLite serialises writers, which gives the same guarantee.
    """
    table = connection.ops.quote_name(Message._meta.db_table)
    lock = (
        " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    )
    stamp = adapt_datetime(now)
    cursor.execute(
        f"UPDATE {table} SET state = 'sending', claimed_by = %s, claimed_at = %s, updated_at = %s "
        f"WHERE id IN (SELECT id FROM {table} WHERE campaign_id = %s AND is_test = %s "
        "AND state = 'queued' AND (next_attempt_at IS NULL OR next_attempt_at <= %s) "
        f'ORDER BY id LIMIT %s{lock}) RETURNING id, "to", overrides, attempts',
        (worker_id, stamp, stamp, campaign_id, False, stamp, size),
    )
    rows = sorted(cursor.fetchall())
    return [
        (pk, to, json.loads(overrides) if isinstance(overrides, str) else overrides, attempts)
        for pk, to, overrides, attempts in rows
    ]


def insert_attempts(cursor, rows):
    """Rows in ATTEMPT_COLUMNS order."""
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        columns = ", ".join(quote(c) for c in ATTEMPT_COLUMNS)
        table = quote(SendAttempt._meta.db_table)
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        cursor.executemany(_insert_sql(SendAttempt, ATTEMPT_COLUMNS), rows)


ANSWERED_COLUMNS = (
    "state",
    "message_id",
    "last_code",
    "detail",
    "attempts",
    "next_attempt_at",
    "updated_at",
    "id",
)


def update_answered_messages(cursor, rows):
    """Rows of ANSWERED_COLUMNS: (state, message_id, last_code, detail, attempts,
    next_attempt_at, updated_at, id).

    Only a row still in `sending` moves: a sweep or an operator's choice is never overwritten.
    """
    if not rows:
        return
    table = connection.ops.quote_name(Message._meta.db_table)
    changed = ANSWERED_COLUMNS[:-1]
    if connection.vendor == "postgresql":
        with _bound_cursor(cursor) as bound:
            bound.execute(
                f"UPDATE {table} AS m SET {', '.join(f'{c} = v.{c}' for c in changed)} "
                f"FROM {_unnest(Message, ANSWERED_COLUMNS)} AS v({', '.join(ANSWERED_COLUMNS)}) "
                "WHERE m.id = v.id AND m.state = 'sending'",
                _columns(rows),
            )
    else:
        cursor.executemany(
            f"UPDATE {table} SET {', '.join(f'{c} = %s' for c in changed)} "
            "WHERE id = %s AND state = 'sending'",
            rows,
        )


# --- callbacks (issue 5): one INSERT per callback in the webhook, one per event in the applier ---
# Measured on the callback benchmark: the ORM's create() and bulk_create() cost more CPU than the
# statements themselves (bulk_create of status events: 0.22 ms per row).

INBOX_COLUMNS = ("kind", "content_type", "body", "received_at", "error")
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


@functools.cache
def _cached_insert_sql(model, columns, vendor: str) -> str:
    return _insert_sql(model, columns)


def insert_callback(cursor, kind: str, content_type: str, body: str, received_at):
    """Store one callback as it arrived (the webhook's only statement)."""
    cursor.execute(
        _cached_insert_sql(CallbackInbox, INBOX_COLUMNS, connection.vendor),
        (kind, content_type, body, adapt_datetime(received_at), ""),
    )


def insert_status_events(cursor, rows):
    """Rows in STATUS_EVENT_COLUMNS order (`raw` as JSON text, datetimes adapted); an event
    already stored (same `event_key`) is left alone, so a replay is a no-op."""
    cursor.executemany(
        _cached_insert_sql(StatusEvent, STATUS_EVENT_COLUMNS, connection.vendor)
        + " ON CONFLICT DO NOTHING",
        rows,
    )
