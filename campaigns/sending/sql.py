"""The send engine's hand-written statements: claims, attempts and answered Messages (why raw SQL:
`campaigns.models.rawsql`)."""

import json

from django.db import connection

from campaigns.models import Message, SendAttempt
from campaigns.models.rawsql import (
    adapt_datetime,
    bound_cursor,
    columns_of,
    insert_sql,
    unnest,
)

SENDING, QUEUED = Message.State.SENDING.value, Message.State.QUEUED.value

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


def claim_messages(
    cursor, *, campaign_id: int, size: int, worker_id: str, now, message_id: int | None = None
):
    """Flip up to `size` ready Messages of a campaign to `sending`, lowest ids first, in one
    statement; returns their (id, to, overrides, attempts). With `message_id`, only that test
    Message; otherwise only real recipients.

    `SKIP LOCKED` lets workers share a campaign on PostgreSQL without ever claiming the same row;
    SQLite serialises writers, which gives the same guarantee.
    """
    table = connection.ops.quote_name(Message._meta.db_table)
    lock = (
        " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    )
    stamp = adapt_datetime(now)
    which, which_params = (
        ("is_test = %s", [False])
        if message_id is None
        else ("id = %s AND is_test = %s", [message_id, True])
    )
    cursor.execute(
        f"UPDATE {table} SET state = %s, claimed_by = %s, claimed_at = %s, updated_at = %s "
        f"WHERE id IN (SELECT id FROM {table} WHERE campaign_id = %s AND {which} "
        "AND state = %s AND (next_attempt_at IS NULL OR next_attempt_at <= %s) "
        f'ORDER BY id LIMIT %s{lock}) RETURNING id, "to", overrides, attempts',
        (SENDING, worker_id, stamp, stamp, campaign_id, *which_params, QUEUED, stamp, size),
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
        cursor.executemany(insert_sql(SendAttempt, ATTEMPT_COLUMNS), rows)


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
        with bound_cursor(cursor) as bound:
            bound.execute(
                f"UPDATE {table} AS m SET {', '.join(f'{c} = v.{c}' for c in changed)} "
                f"FROM {unnest(Message, ANSWERED_COLUMNS)} AS v({', '.join(ANSWERED_COLUMNS)}) "
                "WHERE m.id = v.id AND m.state = %s",
                [*columns_of(rows), SENDING],
            )
    else:
        cursor.executemany(
            f"UPDATE {table} SET {', '.join(f'{c} = %s' for c in changed)} "
            "WHERE id = %s AND state = %s",
            [(*row, SENDING) for row in rows],
        )
