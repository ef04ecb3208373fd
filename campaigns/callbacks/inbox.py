"""Applying the stored callbacks: `apply_pending_callbacks` takes the oldest rows of the
`CallbackInbox` in a batch, reads and matches outside the write transaction, then writes the
events, the state moves and their consequences together with the rows' `processed_at`, so every
row is applied exactly once. A row that cannot be applied is marked with its error and never
blocks the rows after it.
"""

import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from campaigns import conf
from campaigns.callbacks.effects import (
    MessageRow,
    apply_incoming,
    apply_template,
    apply_to_messages,
    known_sender_numbers,
    match_messages,
    pace,
    unknown_sender_note,
)
from campaigns.callbacks.parsing import (
    CallbackError,
    IncomingMessage,
    StatusUpdate,
    parse_row,
    provider_ids,
)
from campaigns.callbacks.sql import insert_status_events
from campaigns.callbacks.writelock import sqlite_write_lock
from campaigns.models import CallbackInbox, Message, StatusEvent
from campaigns.models.rawsql import adapt_datetime

logger = logging.getLogger(__name__)


class _Contended(Exception):
    """Another applier took some of these rows first; this batch is left to it."""


def apply_pending_callbacks(*, limit: int = 1000, retry: bool = True) -> Counter:
    """Apply up to `limit` stored callbacks (oldest first) in one transaction; then, with
    `retry`, match status events that were waiting for their Message. Returns counts."""
    counts = Counter()
    rows = list(
        CallbackInbox.objects.filter(processed_at__isnull=True)
        .order_by("id")
        .values_list("id", "kind", "body", "received_at")[:limit]
    )
    if rows:
        try:
            batch = Counter()
            _apply_rows(rows, batch)
            counts.update(batch)
        except _Contended:
            counts["contended"] += 1
        except (OperationalError, InterfaceError):
            raise  # the database is away: nothing was applied, the rows wait
        except Exception:
            logger.exception("A batch of %d callbacks failed; applying them one by one", len(rows))
            for row in rows:
                counts.update(_apply_one(row))
    if retry:
        counts.update(retry_waiting_events())
    return counts


def _apply_one(row) -> Counter:
    counts = Counter()
    try:
        _apply_rows([row], counts)
    except _Contended:
        return Counter()
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        logger.exception("Callback %s could not be applied", row[0])
        CallbackInbox.objects.filter(pk=row[0], processed_at__isnull=True).update(
            processed_at=timezone.now(),
            error=f"{type(exc).__name__}: {exc}"[:2000],
            problem=CallbackInbox.Problem.FAILED,
        )
        return Counter(rows=1, errors=1)
    return counts


def _apply_rows(rows, counts: Counter):
    now = timezone.now()
    statuses, incoming, templates, errors = [], [], [], {}
    known = known_sender_numbers()
    unknown: dict[int, set[str]] = {}  # inbox row → the numbers it names that are not ours
    for pk, kind, body, received_at in rows:
        try:
            events = parse_row(kind, body)
        except CallbackError as exc:
            errors[pk] = exc
            continue
        for event in events:
            event.received_at, event.source_id = received_at, pk
            event.raw_text = body
            number = getattr(event, "sender", "")
            if known and number and number not in known:
                unknown.setdefault(pk, set()).add(number)
            if isinstance(event, StatusUpdate):
                statuses.append(event)
            elif isinstance(event, IncomingMessage):
                incoming.append(event)
            else:
                templates.append(event)
    prepared = _prepare_statuses(statuses, counts)  # reads only: outside the write transaction
    with sqlite_write_lock(), transaction.atomic():
        ids = [row[0] for row in rows]
        claimed = CallbackInbox.objects.filter(pk__in=ids, processed_at__isnull=True).update(
            processed_at=now
        )
        if claimed != len(ids):
            raise _Contended
        for pk, error in errors.items():
            logger.warning("Callback %s not applied: %s", pk, error)
            CallbackInbox.objects.filter(pk=pk).update(
                error=str(error)[:2000], problem=error.problem
            )
        for pk, numbers in unknown.items():
            logger.warning("Callback %s is for a number that is no sender here: %s", pk, numbers)
            CallbackInbox.objects.filter(pk=pk).update(
                error=unknown_sender_note(numbers), problem=CallbackInbox.Problem.UNKNOWN_SENDER
            )
        if unknown:
            counts["unknown_sender"] += len(unknown)
        _write_statuses(prepared, now, counts, known)
        for message in incoming:
            apply_incoming(message, now, counts)
        for update in templates:
            apply_template(update, now, counts)
    counts["rows"] += len(rows)
    counts["errors"] += len(errors)


@dataclass
class _Prepared:
    new: list[StatusUpdate]
    matches: list[MessageRow | None]


def _prepare_statuses(updates: list[StatusUpdate], counts: Counter) -> _Prepared:
    """Drop replays (in this batch or stored before) and find each new event's Message."""
    unique: dict[str, StatusUpdate] = {}
    for update in updates:
        unique.setdefault(update.key, update)
    stored = set()
    if unique:
        stored = set(
            StatusEvent.objects.filter(event_key__in=list(unique)).values_list(
                "event_key", flat=True
            )
        )
    new = [u for k, u in unique.items() if k not in stored]
    counts["statuses"] += len(updates)
    counts["duplicates"] += len(updates) - len(new)
    return _Prepared(new, match_messages(new))


def _write_statuses(prepared: _Prepared, now, counts: Counter, known=frozenset()):
    rows, to_apply = [], []
    for update, message in zip(prepared.new, prepared.matches, strict=True):
        # A Message not yet answered: moving it would hide the send answer from the engine's
        # recorder (it only records rows still `sending`). Its events wait until it is answered.
        applied = message is not None and message.state not in Message.WAITING_STATES
        rows.append(
            (
                message.id if message else None,
                update.key,
                update.provider_message_id,
                update.alt_message_id,
                update.ref,
                update.recipient,
                update.sender,
                update.status,
                update.status_raw,
                adapt_datetime(update.timestamp),
                update.error_code,
                update.error_title,
                update.error_details,
                update.price,
                update.currency,
                update.raw_text or json.dumps(update.raw),
                adapt_datetime(update.received_at or now),
                applied,
            )
        )
        if applied:
            to_apply.append((update, message))
    if rows:
        # ON CONFLICT DO NOTHING: a second applier racing on the same event stores it once too.
        with connection.cursor() as cursor:
            insert_status_events(cursor, rows)
    counts["stored"] += len(rows)
    counts["waiting"] += len(rows) - len(to_apply)
    apply_to_messages(to_apply, now, counts)
    pace(prepared.new, now, counts, matches=prepared.matches, known=known)


def retry_waiting_events(*, limit: int = 1000) -> Counter:
    """Apply stored status events whose Message was unknown or not yet answered, now that it
    may be: those matching a provider id that has since appeared, or whose Message has left
    `queued`/`sending`. Cheap when there are none (a partial index holds only these)."""
    counts = Counter()
    now = timezone.now()
    cutoff = now - timedelta(hours=conf.MPM_CALLBACK_MATCH_HOURS)
    by_provider = Message.objects.filter(message_id=OuterRef("provider_message_id"))
    by_alt = Message.objects.filter(message_id=OuterRef("alt_message_id"))
    events = list(
        StatusEvent.objects.filter(applied=False, received_at__gte=cutoff)
        .filter(
            (Q(message__isnull=False) & ~Q(message__state__in=Message.WAITING_STATES))
            | (
                Q(message__isnull=True)
                & (
                    (~Q(provider_message_id="") & Exists(by_provider))
                    | (~Q(alt_message_id="") & Exists(by_alt))
                )
            )
        )
        .order_by("id")[:limit]
    )
    if not events:
        return counts
    updates = [_update_from_event(event) for event in events]
    matches = match_messages(updates)
    pairs = []
    with sqlite_write_lock(), transaction.atomic():
        for event, update, message in zip(events, updates, matches, strict=True):
            if message is None:
                continue
            applied = message.state not in Message.WAITING_STATES
            taken = StatusEvent.objects.filter(pk=event.pk, applied=False).update(
                message_id=message.id, applied=applied
            )
            if taken and applied:
                pairs.append((update, message))
        apply_to_messages(pairs, now, counts)
    counts["matched_later"] += len(pairs)
    return counts


def _update_from_event(event: StatusEvent) -> StatusUpdate:
    return StatusUpdate(
        status=event.status,
        status_raw=event.status_raw,
        candidate_ids=provider_ids(event.provider_message_id, event.alt_message_id),
        ref=event.ref,
        recipient=event.recipient,
        sender=event.sender,
        timestamp=event.timestamp,
        error_code=event.error_code,
        error_title=event.error_title,
        received_at=event.received_at,
    )
