"""Queueing's hand-written statement: new Messages in chunks (why raw SQL: `campaigns.models.rawsql`)."""

from django.db import connection

from campaigns.models import Message
from campaigns.models.rawsql import (
    bound_cursor,
    columns_of,
    insert_sql,
    unnest,
)

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
    "trigger_key",
)


def insert_messages(cursor, rows):
    """Rows in MESSAGE_COLUMNS order; a number the campaign already has is left alone."""
    if connection.vendor != "postgresql":
        cursor.executemany(insert_sql(Message, MESSAGE_COLUMNS) + " ON CONFLICT DO NOTHING", rows)
    elif rows:
        quote = connection.ops.quote_name
        with bound_cursor(cursor) as bound:
            bound.execute(
                f"INSERT INTO {quote(Message._meta.db_table)} "
                f"({', '.join(quote(c) for c in MESSAGE_COLUMNS)}) "
                f"SELECT * FROM {unnest(Message, MESSAGE_COLUMNS)} ON CONFLICT DO NOTHING",
                columns_of(rows),
            )
