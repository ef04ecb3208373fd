"""Segments: a saved list of conditions over contacts, all of which must hold.

`segment_problems` checks rules as given (free-form JSON from a page or the API) and names each
problem by its condition's place and field; `segment_contacts` turns valid rules into one
Contact queryset of `Exists()` subqueries on indexed columns (Message (campaign, to) and
(to, claimed_at), Order (from_phone, received_at), the list table's (contactlist, contact)), so
a count over a million contacts reads indexes, never rows in Python.
"""

import re
from datetime import timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact, IContains, IsNull
from django.utils import timezone

from campaigns.models import Campaign, Consent, Contact, ContactList, Message, Order

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_CONDITIONS = 20
MAX_DAYS = 3650
MAX_ATTRIBUTE_LENGTH = 100
MAX_VALUE_LENGTH = 200
ATTRIBUTE_OPS = ("equals", "contains", "is_set")
CONSENT_VALUES = [c.value for c in Consent]
# op: the field it needs besides "op" and "negate"
OPS = {
    **dict.fromkeys(ATTRIBUTE_OPS, "attribute"),
    "consent": "value",
    "in_list": "list",
    "received_campaign": "campaign",
    "read_campaign": "campaign",
    "ordered_since_campaign": "campaign",
    "ordered_in_days": "days",
    "not_messaged_in_days": "days",
}


class SegmentRulesError(ValueError):
    """Rules that cannot be evaluated; `problems` says why, one line each."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def _storable(text: str) -> bool:
    """Text a database can compare with (PostgreSQL refuses NUL; UTF-8 has no lone surrogate)."""
    return not UNSTORABLE.search(text)


def _positive_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _condition_problems(n: int, condition) -> list[str]:
    """The problems of the nth condition (from 1), in plain words."""
    at = f"condition {n}"
    if not isinstance(condition, dict):
        return [f'{at}: must be an object with an op, e.g. {{"op": "consent", ...}}']
    op = condition.get("op")
    if not isinstance(op, str) or op not in OPS:
        return [f"{at}: op must be one of {', '.join(OPS)}"]
    problems = []
    if not isinstance(condition.get("negate", False), bool):
        problems.append(f"{at}: negate must be true or false")
    unknown = set(condition) - {
        "op",
        "negate",
        OPS[op],
        *(("value",) if op in ATTRIBUTE_OPS else ()),
    }
    if unknown:
        problems.append(f"{at}: unknown field(s) {', '.join(sorted(map(str, unknown)))[:200]}")
    if op in ATTRIBUTE_OPS:
        name = condition.get("attribute")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_ATTRIBUTE_LENGTH:
            problems.append(
                f"{at}: attribute must be a name of 1 to {MAX_ATTRIBUTE_LENGTH} characters"
            )
        elif not _storable(name):
            problems.append(f"{at}: attribute must not hold a NUL or a lone surrogate")
        if op != "is_set":
            value = condition.get("value")
            if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH or not value:
                problems.append(f"{at}: value must be text of 1 to {MAX_VALUE_LENGTH} characters")
            elif not _storable(value):
                problems.append(f"{at}: value must not hold a NUL or a lone surrogate")
    elif op == "consent":
        if condition.get("value") not in CONSENT_VALUES:
            problems.append(f"{at}: value must be one of {', '.join(CONSENT_VALUES)}")
    elif OPS[op] == "days":
        days = condition.get("days")
        if not _positive_id(days) or days > MAX_DAYS:
            problems.append(f"{at}: days must be 1 to {MAX_DAYS}")
    elif OPS[op] == "list":
        if not _positive_id(condition.get("list")):
            problems.append(f"{at}: list must be a list's id")
        elif not ContactList.objects.filter(pk=condition["list"]).exists():
            problems.append(f"{at}: list {condition['list']} does not exist")
    else:
        if not _positive_id(condition.get("campaign")):
            problems.append(f"{at}: campaign must be a campaign's id")
        elif not Campaign.objects.filter(pk=condition["campaign"]).exists():
            problems.append(f"{at}: campaign {condition['campaign']} does not exist")
    return problems


def segment_problems(rules) -> list[str]:
    """Every problem of these rules, each naming the condition (from 1) and its field."""
    if not isinstance(rules, list):
        return ["rules must be a list of conditions"]
    if len(rules) > MAX_CONDITIONS:
        return [f"rules: at most {MAX_CONDITIONS} conditions"]
    return [p for n, c in enumerate(rules, 1) for p in _condition_problems(n, c)]


def _real_messages(**filters) -> QuerySet:
    return Message.objects.filter(is_test=False, to=OuterRef("phone"), **filters)


def _condition_q(condition: dict) -> Q:
    """One valid condition as a filter on Contact."""
    op = condition["op"]
    now = timezone.now()
    # The key as written (a name with "__" or "." is one key, not a path).
    value_of = KeyTextTransform(condition.get("attribute", ""), "attributes")
    if op == "equals":
        return Q(Exact(value_of, condition["value"]))
    if op == "contains":
        return Q(IContains(value_of, condition["value"]))
    if op == "is_set":
        return Q(IsNull(value_of, False)) & ~Q(Exact(value_of, ""))
    if op == "consent":
        return Q(consent=condition["value"])
    if op == "in_list":
        through = ContactList.contacts.through
        return Q(
            Exists(
                through.objects.filter(contactlist_id=condition["list"], contact_id=OuterRef("pk"))
            )
        )
    if op == "received_campaign":
        return Q(
            Exists(
                _real_messages(
                    campaign_id=condition["campaign"], state__in=Message.ACCEPTED_OR_LATER
                )
            )
        )
    if op == "read_campaign":
        return Q(
            Exists(_real_messages(campaign_id=condition["campaign"], state=Message.State.READ))
        )
    if op == "ordered_in_days":
        since = now - timedelta(days=condition["days"])
        return Q(Exists(Order.objects.filter(from_phone=OuterRef("phone"), received_at__gte=since)))
    if op == "ordered_since_campaign":
        sent_at = Message.objects.filter(
            is_test=False, campaign_id=condition["campaign"], to=OuterRef(OuterRef("phone"))
        ).values("claimed_at")[:1]
        return Q(
            Exists(
                Order.objects.filter(
                    from_phone=OuterRef("phone"), received_at__gte=Subquery(sent_at)
                )
            )
        )
    # not_messaged_in_days: no message left for them (claimed) in the last N days.
    since = now - timedelta(days=condition["days"])
    return ~Q(Exists(_real_messages(claimed_at__gte=since)))


def segment_contacts(rules) -> QuerySet:
    """The contacts that meet every condition (negated ones: that do not); raises
    SegmentRulesError for rules that `segment_problems` refuses. No rules: every contact."""
    problems = segment_problems(rules)
    if problems:
        raise SegmentRulesError(problems)
    query = Q()
    for condition in rules:
        q = _condition_q(condition)
        query &= ~q if condition.get("negate") else q
    return Contact.objects.filter(query)
