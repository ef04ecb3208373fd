"""Helpers for the statements that run once per recipient, written by hand (in `sending.sql`,
`recipients.sql` and `callbacks.sql`).

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
from django.db import connection, models
from django.db.models import JSONField
from django.db.models.lookups import In


def insert_sql(model, columns) -> str:
    quote = connection.ops.quote_name
    json_cast = "::jsonb" if connection.vendor == "postgresql" else ""
    values = ", ".join(f"%s{json_cast}" if is_json(model, c) else "%s" for c in columns)
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({values})"
    )


def is_json(model, column: str) -> bool:
    """Whether PostgreSQL needs the JSON cast: the model's field says (column names repeat
    across models: SendAttempt.error is JSON, CallbackInbox.error is text)."""
    field = next(f for f in model._meta.concrete_fields if f.column == column)
    return isinstance(field, JSONField)


def adapt_datetime(value):
    return connection.ops.adapt_datetimefield_value(value)


def bound_cursor(cursor) -> psycopg.Cursor:
    """PostgreSQL: a cursor on the same connection (so in the same transaction) that sends the
    parameters apart from the SQL, arrays in binary: psycopg dumps them in C. Django's own
    cursor binds on the client and quotes each array element in Python (8 times the CPU)."""
    return psycopg.Cursor(cursor.cursor.connection)


def unnest(model, columns) -> str:
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


def columns_of(rows) -> list[list]:
    return [list(column) for column in zip(*rows, strict=True)]


@functools.cache
def cached_insert_sql(model, columns, vendor: str) -> str:
    return insert_sql(model, columns)


@models.CharField.register_lookup
class AnyOf(In):
    """`field__any_of=[…]`: `field__in` for the 2,000 numbers of a recipients chunk, bound as one
    parameter (an array on PostgreSQL, JSON on SQLite) with no per-value preparation. Measured
    (upload check, 2,000 numbers a query): 4.5 µs a number with `__in` on PostgreSQL, 1.0 with
    this; on SQLite 2.4 against 0.5. Values must be strings already."""

    lookup_name = "any_of"

    def get_prep_lookup(self):
        return list(self.rhs)

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::text[])", (*lhs_params, self.rhs)

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} IN (SELECT value FROM json_each(%s))", (*lhs_params, json.dumps(self.rhs))
