"""Tailing the records into deliveries: each source is read by id from its `WebhookCursor`, and
each event becomes one `WebhookDelivery` per active endpoint that wants it.

PostgreSQL hands out ids when rows are inserted but shows them when their transaction commits,
so a pass may see id 120 before 110. Ids skipped over are kept in the cursor's `recheck` and
read again for GAP_WAIT seconds (a transaction holding them commits well within that); status
events waiting for their Message are kept there while the applier may still apply them. The
unique (endpoint, event_key) makes a second look harmless: an event is never queued twice.
"""

import logging
from collections import Counter

from django.db import transaction
from django.db.models import F, Q

from campaigns.callbacks.writelock import sqlite_write_lock
from campaigns.models import WebhookCursor, WebhookDelivery, WebhookEndpoint
from campaigns.webhooks.events import SOURCES, Event, Source, Wait, envelope, iso

logger = logging.getLogger(__name__)

BATCH = 500
GAP_WAIT = 60.0
MAX_RECHECK = 1000  # ranges; beyond it the oldest are dropped (with a warning)


class _Contended(Exception):
    """Another dispatcher moved this cursor first: this pass is left to it."""


def missing_ranges(first: int, last: int, found: set[int]) -> list[tuple[int, int]]:
    """The runs of ids in first..last (inclusive) that are not in `found`."""
    runs, edge = [], first
    for pk in sorted(i for i in found if first <= i <= last):
        if pk > edge:
            runs.append((edge, pk - 1))
        edge = pk + 1
    if edge <= last:
        runs.append((edge, last))
    return runs


def ranges_q(ranges) -> Q:
    where = Q(pk__in=[])
    for first, last, _until in ranges:
        where |= Q(pk__gte=first, pk__lte=last)
    return where


def emit_events(*, now, endpoints: list[WebhookEndpoint] | None = None) -> Counter:
    """Read every source as far as it goes for the active `endpoints` (default: all of them);
    with none, only move each cursor to the newest row (an endpoint enabled later gets what
    happens from then on)."""
    if endpoints is None:
        endpoints = list(WebhookEndpoint.objects.filter(is_active=True))
    counts = Counter()
    for source in SOURCES:
        if not endpoints:
            _skip_to_newest(source)
            continue
        cursor = _cursor(source, endpoints)
        while True:
            try:
                events, full, cursor = _pass(source, cursor, endpoints, now)
            except _Contended:
                counts["contended"] += 1
                break
            counts["events"] += events
            if not full:
                break
    return counts


def _cursor(source: Source, endpoints) -> WebhookCursor:
    """A new cursor starts after the last row written before the oldest active endpoint."""
    cursor = WebhookCursor.objects.filter(source=source.name).first()
    if cursor is None:
        since = min(endpoint.created_at for endpoint in endpoints)
        last = (
            source.model.objects.filter(**{f"{source.written_at}__lt": since})
            .order_by("-id")
            .values_list("id", flat=True)
            .first()
        )
        cursor, _ = WebhookCursor.objects.get_or_create(
            source=source.name, defaults={"last_id": last or 0}
        )
    return cursor


def _skip_to_newest(source: Source):
    """Reads only, unless the source moved (no write turn taken while nothing happens)."""
    newest = source.model.objects.order_by("-id").values_list("id", flat=True).first() or 0
    behind = WebhookCursor.objects.filter(source=source.name).exclude(last_id=newest)
    if behind.exists():
        behind.update(last_id=newest, recheck=[], revision=F("revision") + 1)


def _pass(source: Source, cursor: WebhookCursor, endpoints, now):
    """One batch: returns (events found, whether the batch was full, the moved cursor)."""
    fresh = source.load(Q(pk__gt=cursor.last_id), BATCH, now)
    again = source.load(ranges_q(cursor.recheck), None, now) if cursor.recheck else []
    newest = fresh[-1][0] if fresh else cursor.last_id
    stamp = now.timestamp()
    seen = {pk for pk, _ in again}
    recheck = [
        [first, last, until]
        for old_first, old_last, until in cursor.recheck
        if until > stamp
        for first, last in missing_ranges(old_first, old_last, seen)
    ]
    # A cursor that never read a row has nothing behind it: ids below the first one it reads
    # are rows written before it (or ids PostgreSQL's sequence never used), not gaps.
    after = cursor.last_id + 1 if cursor.last_id else (fresh[0][0] if fresh else 1)
    recheck += [
        [first, last, stamp + GAP_WAIT]
        for first, last in missing_ranges(after, newest, {pk for pk, _ in fresh})
    ]
    events: list[Event] = []
    for pk, outcome in [*again, *fresh]:
        if isinstance(outcome, Wait):
            if outcome.until > stamp:
                recheck.append([pk, pk, outcome.until])
        elif outcome is not None:
            events.append(outcome)
    recheck.sort()
    if len(recheck) > MAX_RECHECK:
        logger.warning(
            "Webhooks: %d id ranges of %s to look at again; the oldest %d are dropped",
            len(recheck),
            source.name,
            len(recheck) - MAX_RECHECK,
        )
        recheck = recheck[-MAX_RECHECK:]
    if newest == cursor.last_id and recheck == cursor.recheck and not events:
        return 0, False, cursor
    created = iso(now)
    deliveries = []
    for event in events:
        body = envelope(event, created)
        deliveries += [
            WebhookDelivery(
                endpoint=endpoint,
                event_type=event.type,
                event_key=event.key,
                payload=body,
                next_attempt_at=now,
                created_at=now,
            )
            for endpoint in endpoints
            if endpoint.wants(event.type, event.campaign_id)
        ]
    with sqlite_write_lock(), transaction.atomic():
        moved = WebhookCursor.objects.filter(source=source.name, revision=cursor.revision).update(
            last_id=newest, recheck=recheck, revision=cursor.revision + 1
        )
        if not moved:
            raise _Contended
        WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True, batch_size=BATCH)
    cursor.last_id, cursor.recheck, cursor.revision = newest, recheck, cursor.revision + 1
    return len(events), len(fresh) == BATCH, cursor
