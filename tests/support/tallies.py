"""The counters-equal-rebuild check: what the triggers maintained against a recount."""

from campaigns.models import Campaign, TallyKind
from campaigns.selectors.tallies import campaign_tallies
from campaigns.services.tallies import tallies_recount


def maintained(campaign_id: int) -> dict[tuple[str, str], tuple[int, int]]:
    tallies = campaign_tallies(campaign_id)
    found = {}
    for key, n in tallies.states.items():
        found[(TallyKind.STATE, key)] = (n, 0)
    for (state, meta, last), n in tallies.failures.items():
        found[(TallyKind.FAILURE, f"{state}|{meta}|{last}")] = (n, 0)
    for reason, n in tallies.skips.items():
        found[(TallyKind.SKIP, reason)] = (n, 0)
    if tallies.retrying:
        found[(TallyKind.RETRY, "")] = (tallies.retrying, 0)
    if tallies.later:
        found[(TallyKind.LATER, "")] = (tallies.later, 0)
    for kind, minutes in tallies.series.items():
        for minute, n in minutes.items():
            found[(kind, minute)] = (n, 0)
    for currency, (n, cents) in tallies.orders.items():
        found[(TallyKind.ORDERS, currency)] = (n, cents)
    return {key: value for key, value in found.items() if value != (0, 0)}


def drift(campaign_id: int) -> dict:
    """{(kind, key): (maintained, recounted)} where they differ; {} when the counters are right."""
    kept, counted = maintained(campaign_id), tallies_recount(campaign_id)
    return {
        key: (kept.get(key), counted.get(key))
        for key in kept.keys() | counted.keys()
        if kept.get(key) != counted.get(key)
    }


def all_drift() -> dict[int, dict]:
    return {pk: d for pk in Campaign.objects.values_list("pk", flat=True) if (d := drift(pk))}
