"""Reading the per-campaign counters (`models.tallies`): one query of a few dozen rows, whatever
the number of messages and events."""

from collections import Counter
from dataclasses import dataclass, field

from django.db import connection

from campaigns.models import TallyKind
from campaigns.models.tally_sql import DELTA, TALLY


@dataclass
class Tallies:
    """A campaign's counters. `states` is keyed by the state with "+" when Kaleyra gave the
    message an id (so a failure after acceptance still counts as accepted)."""

    states: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)  # (state, Meta code, Kaleyra code)
    skips: Counter = field(default_factory=Counter)  # reason
    retrying: int = 0
    later: int = 0  # waiting for their own time: a local send time, the sending hours
    series: dict[str, Counter] = field(default_factory=dict)  # sends/delivered/read by UTC minute
    orders: dict[str, tuple[int, int]] = field(default_factory=dict)  # currency: (orders, cents)
    version: int = 0

    def state_count(self, *states: str) -> int:
        return sum(self.states[s] + self.states[f"{s}+"] for s in states)


def campaign_tallies(campaign_id: int, *, kinds: tuple[str, ...] | None = None) -> Tallies:
    """The counters of one campaign (of these kinds only, when given), folded deltas and all."""
    only, params = "", [campaign_id, campaign_id]
    if kinds:
        marks = ", ".join(["%s"] * len(kinds))
        only = f" AND kind IN ({marks})"
        params = [campaign_id, *kinds, campaign_id, *kinds]
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT kind, "key", sum(n), sum(amount_cents) FROM ('
            f'SELECT kind, "key", n, amount_cents FROM {TALLY} WHERE campaign_id = %s{only}'
            f' UNION ALL SELECT kind, "key", n, amount_cents FROM {DELTA}'
            f' WHERE campaign_id = %s{only}) t GROUP BY kind, "key"',
            params,
        )
        rows = cursor.fetchall()
    tallies = Tallies()
    for kind, key, n, cents in rows:
        n, cents = int(n), int(cents)
        if not n and not cents:
            continue
        if kind == TallyKind.STATE:
            tallies.states[key] = n
        elif kind == TallyKind.FAILURE:
            state, meta_code, last_code = key.split("|", 2)
            tallies.failures[(state, meta_code, last_code)] = n
        elif kind == TallyKind.SKIP:
            tallies.skips[key] = n
        elif kind == TallyKind.RETRY:
            tallies.retrying = n
        elif kind == TallyKind.LATER:
            tallies.later = n
        elif kind == TallyKind.ORDERS:
            tallies.orders[key] = (n, cents)
        elif kind == TallyKind.VERSION:
            tallies.version = n
        else:
            tallies.series.setdefault(kind, Counter())[key] = n
    return tallies


def campaign_version(campaign_id: int) -> int:
    """How many changes the campaign's counters have seen: the dashboard's ETag. One indexed
    lookup (a row and a few deltas)."""
    return campaign_tallies(campaign_id, kinds=(TallyKind.VERSION,)).version


def state_counts(campaign_ids: list[int]) -> list[tuple[int, str, int]]:
    """(campaign_id, state key, n) of these campaigns' message-state counters, in one query."""
    if not campaign_ids:
        return []
    marks = ", ".join(["%s"] * len(campaign_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT campaign_id, "key", sum(n) FROM ('
            f'SELECT campaign_id, "key", n FROM {TALLY} WHERE kind = %s AND campaign_id IN ({marks})'
            f' UNION ALL SELECT campaign_id, "key", n FROM {DELTA}'
            f" WHERE kind = %s AND campaign_id IN ({marks})) t"
            ' GROUP BY campaign_id, "key"',
            [TallyKind.STATE, *campaign_ids, TallyKind.STATE, *campaign_ids],
        )
        return [(c, key, int(n)) for c, key, n in cursor.fetchall() if n]
