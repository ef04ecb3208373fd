"""The SQL of the per-campaign counters (`models.tallies`): which counters a Message, StatusEvent or
Order row adds to, as SQL expressions, and the statements built from them: the triggers (created
by migration 0011, and again after any migration that lost them: `ensure_triggers`) and the
rebuild (`services.tallies`). One definition, so the maintained counters and the rebuilt ones
cannot drift apart; the counters-equal-rebuild tests check that they never do."""

from django.db import transaction

MESSAGE, EVENT, ORDER, CAMPAIGN = (
    "campaigns_message",
    "campaigns_statusevent",
    "campaigns_order",
    "campaigns_campaign",
)
TALLY, DELTA = "campaigns_campaigntally", "campaigns_campaigntallydelta"
COLUMNS = '(campaign_id, kind, "key", n, amount_cents)'
COUNTED_EVENTS = "('delivered', 'read')"
# PostgreSQL: pg_advisory_xact_lock(ADVISORY_LOCK, campaign id) is held by whatever folds a
# campaign's deltas (`services.tallies`) or deletes its counters (the campaign's delete trigger),
# so neither sees the other half done.
ADVISORY_LOCK = 8_471_502


def minute(vendor: str, column: str) -> str:
    """A timestamp's UTC minute as text, 'YYYY-MM-DD HH:MM' (SQLite stores UTC text already)."""
    if vendor == "sqlite":
        return f"substr({column}, 1, 16)"
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"


def cents(vendor: str, column: str) -> str:
    if vendor == "sqlite":
        return f"CAST(round({column} * 100) AS INTEGER)"
    return f"round({column} * 100)::bigint"


def message_keys(vendor: str, r: str) -> list[tuple[str, str, str]]:
    """(condition, kind, key) of each counter a real Message row `r` adds one to."""
    return [
        ("true", "'state'", f"{r}.state || CASE WHEN {r}.message_id <> '' THEN '+' ELSE '' END"),
        (
            f"{r}.state IN ('failed', 'not_sent')",
            "'failure'",
            f"{r}.state || '|' || {r}.meta_code || '|' || {r}.last_code",
        ),
        (f"{r}.state = 'skipped'", "'skip'", f"{r}.detail"),
        (f"{r}.state = 'queued' AND {r}.attempts > 0", "'retry'", "''"),
        (
            f"{r}.state = 'queued' AND {r}.attempts = 0 AND {r}.next_attempt_at IS NOT NULL",
            "'later'",
            "''",
        ),
        (
            f"{r}.message_id <> '' AND {r}.claimed_at IS NOT NULL",
            "'sends'",
            minute(vendor, f"{r}.claimed_at"),
        ),
    ]


def event_minute(vendor: str, e: str) -> str:
    return minute(vendor, f'coalesce({e}."timestamp", {e}.received_at)')


def recount_sql(vendor: str, campaign_id: int | None = None) -> str:
    """SELECT campaign_id, kind, key, n, amount_cents: every counter recomputed from the
    records, of one campaign or (None) of all."""

    def only(alias: str) -> str:
        return "true" if campaign_id is None else f"{alias}.campaign_id = {int(campaign_id)}"

    parts = []
    for condition, kind, key in message_keys(vendor, "r"):
        group = "r.campaign_id" if key == "''" else f"r.campaign_id, {key}"
        parts.append(
            f'SELECT r.campaign_id, {kind} AS kind, {key} AS "key", count(*) AS n, 0 AS amount_cents'
            f" FROM {MESSAGE} r WHERE {only('r')} AND NOT r.is_test AND {condition} GROUP BY {group}"
        )
    parts.append(
        f"SELECT m.campaign_id, r.status, {event_minute(vendor, 'r')}, count(*), 0"
        f" FROM {EVENT} r JOIN {MESSAGE} m ON m.id = r.message_id"
        f" WHERE {only('m')} AND NOT m.is_test AND r.status IN {COUNTED_EVENTS}"
        f" GROUP BY m.campaign_id, r.status, {event_minute(vendor, 'r')}"
    )
    parts.append(
        f"SELECT r.campaign_id, 'orders', r.currency, count(*), sum({cents(vendor, 'r.total')})"
        f" FROM {ORDER} r WHERE {only('r')} AND r.campaign_id IS NOT NULL"
        " GROUP BY r.campaign_id, r.currency"
    )
    return " UNION ALL ".join(parts)


def _sqlite_upsert(select: str, *, amount: bool = False) -> str:
    also = ", amount_cents = amount_cents + excluded.amount_cents" if amount else ""
    return (
        f"INSERT INTO {TALLY} {COLUMNS} {select}"
        f' ON CONFLICT (campaign_id, kind, "key") DO UPDATE SET n = n + excluded.n{also};'
    )


def _sqlite_message(r: str, sign: int) -> str:
    keys = " UNION ALL ".join(
        f'SELECT {r}.campaign_id AS c, {kind} AS kind, {key} AS "key" WHERE {condition}'
        for condition, kind, key in message_keys("sqlite", r)
    )
    return _sqlite_upsert(f'SELECT c, kind, "key", {sign}, 0 FROM ({keys}) WHERE NOT {r}.is_test')


def _sqlite_version(campaign: str, where: str = "") -> str:
    return _sqlite_upsert(f"SELECT {campaign}, 'version', '', 1, 0 {where or 'WHERE true'}")


def _sqlite_event(e: str, sign: int) -> str:
    found = (
        f"FROM {MESSAGE} m WHERE m.id = {e}.message_id AND NOT m.is_test"
        f" AND {e}.status IN {COUNTED_EVENTS}"
    )
    return _sqlite_upsert(
        f"SELECT m.campaign_id, {e}.status, {event_minute('sqlite', e)}, {sign}, 0 {found}"
    ) + _sqlite_version("m.campaign_id", found)


def _sqlite_message_events(r: str, sign: int) -> str:
    """The delivered / read events of Message `r`, counted (`sign` 1) or taken out (-1) under
    its campaign: they count only while their Message is real, in its campaign."""
    at = event_minute("sqlite", "e")
    return _sqlite_upsert(
        f"SELECT {r}.campaign_id, e.status, {at}, {sign} * count(*), 0 FROM {EVENT} e"
        f" WHERE e.message_id = {r}.id AND NOT {r}.is_test AND e.status IN {COUNTED_EVENTS}"
        f" GROUP BY e.status, {at}"
    )


def _sqlite_order(o: str, sign: int) -> str:
    return _sqlite_upsert(
        f"SELECT {o}.campaign_id, 'orders', {o}.currency, {sign},"
        f" {sign} * {cents('sqlite', f'{o}.total')} WHERE {o}.campaign_id IS NOT NULL",
        amount=True,
    ) + _sqlite_version(f"{o}.campaign_id", f"WHERE {o}.campaign_id IS NOT NULL")


def moved(old: str, new: str, differ: str) -> str:
    """Whether an updated Message changed what its events count towards."""
    return f"({old}.campaign_id {differ} {new}.campaign_id OR {old}.is_test {differ} {new}.is_test)"


MESSAGE_COLUMNS = (
    "state",
    "message_id",
    "meta_code",
    "last_code",
    "detail",
    "claimed_at",
    "is_test",
    "campaign_id",
)


def sqlite_triggers() -> list[str]:
    """Row triggers adding to the counters directly (SQLite lets one writer in at a time)."""
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in MESSAGE_COLUMNS)
    changed += " OR (OLD.attempts > 0) IS NOT (NEW.attempts > 0)"
    changed += " OR (OLD.next_attempt_at IS NULL) IS NOT (NEW.next_attempt_at IS NULL)"
    event_changed = " OR ".join(
        f"OLD.{c} IS NOT NEW.{c}" for c in ("message_id", "status", '"timestamp"', "received_at")
    )
    order_changed = " OR ".join(
        f"OLD.{c} IS NOT NEW.{c}" for c in ("campaign_id", "currency", "total")
    )
    return [
        f"CREATE TRIGGER mpm_tally_message_insert AFTER INSERT ON {MESSAGE} WHEN NOT NEW.is_test"
        f" BEGIN {_sqlite_message('NEW', 1)} {_sqlite_version('NEW.campaign_id')} END",
        f"CREATE TRIGGER mpm_tally_message_update AFTER UPDATE ON {MESSAGE}"
        f" WHEN (NOT OLD.is_test OR NOT NEW.is_test) AND ({changed}) BEGIN"
        f" {_sqlite_message('OLD', -1)} {_sqlite_message('NEW', 1)}"
        f" {_sqlite_version('NEW.campaign_id')}"
        f" {_sqlite_version('OLD.campaign_id', 'WHERE OLD.campaign_id IS NOT NEW.campaign_id')}"
        " END",
        # A Message turned into a test send (or back), or moved to another campaign: its events
        # leave the counters they were in and join the new ones.
        f"CREATE TRIGGER mpm_tally_message_move AFTER UPDATE OF campaign_id, is_test ON {MESSAGE}"
        f" WHEN {moved('OLD', 'NEW', 'IS NOT')} BEGIN"
        f" {_sqlite_message_events('OLD', -1)} {_sqlite_message_events('NEW', 1)} END",
        f"CREATE TRIGGER mpm_tally_message_delete AFTER DELETE ON {MESSAGE} WHEN NOT OLD.is_test"
        f" BEGIN {_sqlite_message('OLD', -1)} {_sqlite_version('OLD.campaign_id')} END",
        f"CREATE TRIGGER mpm_tally_event_insert AFTER INSERT ON {EVENT}"
        f" WHEN NEW.message_id IS NOT NULL BEGIN {_sqlite_event('NEW', 1)} END",
        f"CREATE TRIGGER mpm_tally_event_update AFTER UPDATE ON {EVENT} WHEN {event_changed}"
        f" BEGIN {_sqlite_event('OLD', -1)} {_sqlite_event('NEW', 1)} END",
        f"CREATE TRIGGER mpm_tally_event_delete AFTER DELETE ON {EVENT}"
        f" WHEN OLD.message_id IS NOT NULL BEGIN {_sqlite_event('OLD', -1)} END",
        f"CREATE TRIGGER mpm_tally_order_insert AFTER INSERT ON {ORDER}"
        f" BEGIN {_sqlite_order('NEW', 1)} END",
        f"CREATE TRIGGER mpm_tally_order_update AFTER UPDATE ON {ORDER} WHEN {order_changed}"
        f" BEGIN {_sqlite_order('OLD', -1)} {_sqlite_order('NEW', 1)} END",
        f"CREATE TRIGGER mpm_tally_order_delete AFTER DELETE ON {ORDER}"
        f" BEGIN {_sqlite_order('OLD', -1)} END",
        f"CREATE TRIGGER mpm_tally_campaign_delete AFTER DELETE ON {CAMPAIGN}"
        f" BEGIN DELETE FROM {TALLY} WHERE campaign_id = OLD.id; END",
    ]


def _pg_deltas(changes: str) -> str:
    """Append the grouped deltas `changes` (campaign_id, kind, key, n, amount_cents; zero
    rows already left out) and one version step per campaign they touch."""
    return (
        f"WITH d AS ({changes}) INSERT INTO {DELTA} {COLUMNS}"
        " SELECT * FROM d UNION ALL SELECT DISTINCT campaign_id, 'version', '', 1, 0 FROM d;"
    )


def _pg_message(rows: str) -> str:
    keys = ", ".join(
        f"(CASE WHEN {condition} THEN {kind} END, {key})"
        for condition, kind, key in message_keys("postgresql", "r")
    )
    return _pg_deltas(
        f"SELECT r.campaign_id, k.kind, k.key, sum(r.sign)::bigint AS n, 0::bigint AS a"
        f" FROM ({rows}) r CROSS JOIN LATERAL (VALUES {keys}) AS k(kind, key)"
        " WHERE NOT r.is_test AND k.kind IS NOT NULL"
        " GROUP BY r.campaign_id, k.kind, k.key HAVING sum(r.sign) <> 0"
    )


def _pg_event(rows: str) -> str:
    at = event_minute("postgresql", "r")
    return _pg_deltas(
        f"SELECT m.campaign_id, r.status::text, {at}, sum(r.sign)::bigint, 0::bigint"
        f" FROM ({rows}) r JOIN {MESSAGE} m ON m.id = r.message_id"
        f" WHERE NOT m.is_test AND r.status IN {COUNTED_EVENTS}"
        f" GROUP BY m.campaign_id, r.status, {at} HAVING sum(r.sign) <> 0"
    )


def _pg_order(rows: str) -> str:
    amount = f"sum(r.sign * {cents('postgresql', 'r.total')})::bigint"
    return _pg_deltas(
        f"SELECT r.campaign_id, 'orders'::text, r.currency::text, sum(r.sign)::bigint, {amount}"
        f" FROM ({rows}) r WHERE r.campaign_id IS NOT NULL GROUP BY r.campaign_id, r.currency"
        f" HAVING sum(r.sign) <> 0 OR {amount} <> 0"
    )


def _pg_message_events() -> str:
    """A row trigger's body: the events of a Message whose campaign or test flag changed move
    from the counters of its old row to those of its new one."""
    at = event_minute("postgresql", "e")
    rows = " UNION ALL ".join(
        f"SELECT {r}.campaign_id AS campaign_id, e.status::text AS kind, {at} AS key,"
        f" {sign} AS sign FROM {EVENT} e WHERE e.message_id = {r}.id AND NOT {r}.is_test"
        f" AND e.status IN {COUNTED_EVENTS}"
        for r, sign in (("OLD", -1), ("NEW", 1))
    )
    return _pg_deltas(
        "SELECT r.campaign_id, r.kind, r.key, sum(r.sign)::bigint, 0::bigint"
        f" FROM ({rows}) r GROUP BY r.campaign_id, r.kind, r.key HAVING sum(r.sign) <> 0"
    )


PG_ROWS = {
    "INSERT": "SELECT *, 1 AS sign FROM new_rows",
    "UPDATE": "SELECT *, 1 AS sign FROM new_rows UNION ALL SELECT *, -1 AS sign FROM old_rows",
    "DELETE": "SELECT *, -1 AS sign FROM old_rows",
}
PG_REFERENCING = {
    "INSERT": "NEW TABLE AS new_rows",
    "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "OLD TABLE AS old_rows",
}


def postgresql_triggers() -> list[str]:
    """Statement triggers appending one delta per key per statement: no row is locked, so
    concurrent writers never wait for each other on a counter."""
    statements = []
    for table, name, body in (
        (MESSAGE, "message", _pg_message),
        (EVENT, "event", _pg_event),
        (ORDER, "order", _pg_order),
    ):
        for op, rows in PG_ROWS.items():
            function = f"mpm_tally_{name}_{op.lower()}"
            statements.append(
                f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN {body(rows)} RETURN NULL; END $$"
            )
            statements.append(
                f"CREATE TRIGGER {function} AFTER {op} ON {table}"
                f" REFERENCING {PG_REFERENCING[op]} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
    statements.append(
        "CREATE FUNCTION mpm_tally_message_move() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN {_pg_message_events()} RETURN NULL; END $$"
    )
    statements.append(
        f"CREATE TRIGGER mpm_tally_message_move AFTER UPDATE OF campaign_id, is_test ON {MESSAGE}"
        f" FOR EACH ROW WHEN {moved('OLD', 'NEW', 'IS DISTINCT FROM')}"
        " EXECUTE FUNCTION mpm_tally_message_move()"
    )
    # The campaign's lock first: a compaction folding its deltas meanwhile would otherwise insert
    # counters after they were deleted (left behind for good) or deadlock with the delete.
    statements.append(
        "CREATE FUNCTION mpm_tally_campaign_delete() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN PERFORM pg_advisory_xact_lock({ADVISORY_LOCK}, OLD.id::integer);"
        f" DELETE FROM {TALLY} WHERE campaign_id = OLD.id;"
        f" DELETE FROM {DELTA} WHERE campaign_id = OLD.id; RETURN NULL; END $$"
    )
    statements.append(
        f"CREATE TRIGGER mpm_tally_campaign_delete AFTER DELETE ON {CAMPAIGN}"
        " FOR EACH ROW EXECUTE FUNCTION mpm_tally_campaign_delete()"
    )
    return statements


def triggers(vendor: str) -> list[str]:
    return postgresql_triggers() if vendor == "postgresql" else sqlite_triggers()


# Every trigger (and, on PostgreSQL, its function) by name.
TRIGGER_NAMES = (
    *(
        f"mpm_tally_{t}_{op}"
        for t in ("message", "event", "order")
        for op in ("insert", "update", "delete")
    ),
    "mpm_tally_message_move",
    "mpm_tally_campaign_delete",
)


def drop_triggers(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [f"DROP FUNCTION IF EXISTS {name}() CASCADE" for name in TRIGGER_NAMES]
    return [f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGER_NAMES]


def missing_triggers(cursor, vendor: str) -> set[str]:
    """The counter triggers the database lacks. SQLite drops a table's triggers when a
    migration rebuilds the table (as adding a column may), so migrations end by asking."""
    if vendor == "postgresql":
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'mpm_tally_%%'")
    else:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    return set(TRIGGER_NAMES) - {name for (name,) in cursor.fetchall()}


def ensure_triggers(connection) -> bool:
    """Create the counter triggers again when any is missing (all of them, in one transaction);
    whether it had to. Counts written while one was missing need `rebuild_campaign_stats`."""
    if TALLY not in connection.introspection.table_names():
        return False  # migrated back to before the counters
    with connection.cursor() as cursor:
        if not missing_triggers(cursor, connection.vendor):
            return False
        with transaction.atomic(using=connection.alias):
            for statement in [*drop_triggers(connection.vendor), *triggers(connection.vendor)]:
                cursor.execute(statement)
    return True


def recreate_triggers_and_recount(apps, schema_editor):
    """A migration that changed what the counters count: every trigger anew and every counter
    recomputed from the records, in the migration's transaction."""
    vendor = schema_editor.connection.vendor
    for statement in [*drop_triggers(vendor), *triggers(vendor)]:
        schema_editor.execute(statement)
    schema_editor.execute(f"DELETE FROM {TALLY}")
    schema_editor.execute(f"DELETE FROM {DELTA}")
    schema_editor.execute(f"INSERT INTO {TALLY} {COLUMNS} {recount_sql(vendor)}")


# A migration that makes SQLite rebuild a counted table (an altered constraint, say) first drops
# the triggers: SQLite checks every trigger naming the table when the rebuilt one is renamed
# into place, and fails. PostgreSQL alters tables in place and keeps them.
def drop_triggers_on_sqlite(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in drop_triggers("sqlite"):
            schema_editor.execute(statement)


def create_triggers_on_sqlite(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        ensure_triggers(schema_editor.connection)
