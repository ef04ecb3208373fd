"""Reading campaigns the way validation, the payload and the engine need them."""

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import BooleanField, CharField, Count, DecimalField, F, Max, Prefetch, Q, Sum
from django.db.models.expressions import Func, RawSQL
from django.db.models.functions import Upper
from django.utils import timezone

from campaigns import limits
from campaigns.kaleyra.answers import explain, explain_meta
from campaigns.models import (
    Campaign,
    Message,
    MessageTemplate,
    Order,
    OrderItem,
    Product,
    Section,
    SectionItem,
    Sender,
)
from campaigns.models.rawsql import adapt_datetime
from campaigns.models.tally_sql import CAMPAIGN, DELTA, TALLY
from campaigns.payload import MpmContent, SectionContent
from campaigns.selectors.senders import sent_from
from campaigns.selectors.tallies import Tallies, campaign_tallies, state_counts


def campaign_for_sending(campaign_id: int) -> Campaign:
    """A campaign with everything validation, the payload and the send (its sender) need, in
    four queries."""
    items = SectionItem.objects.select_related("product").order_by("position", "id")
    sections = Section.objects.order_by("position", "id").prefetch_related(
        Prefetch("items", queryset=items)
    )
    return (
        Campaign.objects.select_related("template", "thumbnail_product", "sender")
        .prefetch_related(Prefetch("sections", queryset=sections))
        .get(pk=campaign_id)
    )


def campaign_parts(campaign: Campaign) -> dict:
    """A saved campaign's content as `mpm_content` takes it, products by retailer ID (expects
    `campaign_for_sending`); the composer reads a campaign into its state from it too."""
    thumbnail = campaign.thumbnail_product
    return {
        "template": campaign.template,
        "header_value": campaign.header_value,
        "body_values": list(campaign.body_values or ()),
        "thumbnail_retailer_id": thumbnail.retailer_id if thumbnail else "",
        "thumbnail_from_recipient": campaign.thumbnail_from_recipient,
        "sections": [
            (s.title, [i.product.retailer_id for i in s.items.all()], s.personalised)
            for s in campaign.sections.all()
        ],
        "refs": {name: getattr(campaign, name) for name in limits.REF_FIELDS},
        "wa_source": campaign.wa_source,
    }


def campaign_content(campaign: Campaign) -> MpmContent:
    return mpm_content(**campaign_parts(campaign))


def mpm_content(
    *,
    template: MessageTemplate,
    header_value: str,
    body_values,
    thumbnail_retailer_id: str,
    sections,
    refs: dict[str, str],
    wa_source: str,
    thumbnail_from_recipient: bool = False,
) -> MpmContent:
    """An MPM's content from its parts, saved or not; `sections` are (title, [retailer_id],
    filled per recipient). Every Campaign and composer state becomes the provider's content
    here, and only here."""
    return MpmContent(
        template_name=template.name,
        language=template.language,
        button_index=template.button_index,
        thumbnail_retailer_id=thumbnail_retailer_id,
        thumbnail_from_recipient=thumbnail_from_recipient,
        sections=tuple(
            SectionContent(title, () if personalised else tuple(ids), personalised)
            for title, ids, personalised in sections
        ),
        header_variable_count=template.header_variable_count,
        body_variable_count=template.body_variable_count,
        header_value=header_value,
        body_values=tuple(body_values),
        extra_info={**refs, "wa_source": wa_source},
    )


def progress_labels(campaign_state: str) -> dict[str, str]:
    """Each message state's column heading on the progress table. A paused or cancelled
    campaign is not "Sending": a claimed message is one whose request was in flight when it
    stopped (or whose worker died: recovery settles it), and a paused one's queued ones wait."""
    labels = dict(Message.State.choices)
    if campaign_state in (Campaign.State.PAUSED, Campaign.State.CANCELLED):
        labels[Message.State.SENDING] = "In flight when it stopped"
    if campaign_state == Campaign.State.PAUSED:
        labels[Message.State.QUEUED] = "Waiting for Resume"
    return labels


def their_time(campaign: dict) -> str:
    """When a campaign's messages go out in each recipient's own zone, in words ("" when
    it has no such rule)."""
    rules = []
    if campaign["send_local_time"]:
        rules.append(f"at {campaign['send_local_time'].replace('T', ' ')}")
    if campaign["send_from"] and campaign["send_until"]:
        rules.append(f"between {campaign['send_from']:%H:%M} and {campaign['send_until']:%H:%M}")
    return f"{', '.join(rules)} in each recipient's own time zone" if rules else ""


def campaign_progress(campaign_id: int, *, tallies: Tallies | None = None) -> dict:
    """Where a campaign's real messages stand, by state, and what waits for a retry (queued
    after an answer), from its counters: two short queries (three while a retry waits)."""
    campaign = Campaign.objects.values(
        "state", "paused_reason", "send_from", "send_until", "send_local_time"
    ).get(pk=campaign_id)
    tallies = tallies or campaign_tallies(campaign_id)
    counts = {state: tallies.state_count(state) for state in Message.State.values}
    total = sum(counts.values())
    # Settled: everything not waiting to be sent (callbacks move accepted ones further along).
    settled = total - counts["queued"] - counts["sending"]
    next_retry_at = None
    if tallies.retrying:  # the partial index message_retry_due holds only these
        next_retry_at = (
            Message.objects.filter(campaign_id=campaign_id, state="queued", attempts__gt=0)
            .order_by("next_attempt_at")
            .values_list("next_attempt_at", flat=True)
            .first()
        )
    return {
        "state": campaign["state"],
        "state_label": Campaign.State(campaign["state"]).label,
        "paused_reason": campaign["paused_reason"],
        "counts": counts,
        "labels": progress_labels(campaign["state"]),
        "total": total,
        "percent": round(100 * settled / total) if total else 0,
        "retrying": tallies.retrying,
        "next_retry_at": next_retry_at,
        # Queued for their own time: the local send time or the sending hours where they are.
        "waiting_for_their_time": tallies.later,
        "their_time": their_time(campaign),
        "version": tallies.version,
    }


# --- the composer's pages -------------------------------------------------------------------------


def campaign_list(*, search: str = "", state: str = "", sender: Sender | None = None):
    """Campaigns for the list page, newest change first; no counts (see `campaigns_with_counts`)."""
    campaigns = Campaign.objects.select_related("template").order_by("-updated_at", "-id")
    if search:
        campaigns = campaigns.filter(name__icontains=search)
    if state:
        campaigns = campaigns.filter(state=state)
    if sender is not None:
        campaigns = campaigns.filter(sent_from(sender))
    return campaigns


def campaigns_with_counts(campaign_ids: list[int]) -> list[Campaign]:
    """These campaigns with `recipients`, `accepted` and `failed` counts of their real
    messages (from their counters), in two queries, in the order of `campaign_ids`."""
    by_id = {
        c.pk: c for c in Campaign.objects.filter(pk__in=campaign_ids).select_related("template")
    }
    for campaign in by_id.values():
        campaign.recipients = campaign.accepted = campaign.failed = 0
    for campaign_id, key, n in state_counts(list(by_id)):
        campaign = by_id[campaign_id]
        state = key.rstrip("+")
        campaign.recipients += n
        if state in Message.ACCEPTED_OR_LATER:
            campaign.accepted += n
        elif state == Message.State.FAILED:
            campaign.failed += n
    return [by_id[pk] for pk in campaign_ids if pk in by_id]


def campaign_messages(campaign_id: int, *, state: str = "", code: str = ""):
    """A campaign's real messages in send order, optionally of one state and provider code."""
    messages = Message.objects.real().filter(campaign_id=campaign_id).order_by("id")
    if state:
        messages = messages.filter(state=state)
    if code:
        messages = messages.filter(last_code=code)
    return messages


def product_search(query: str, *, limit: int = 20) -> list[Product]:
    """Active products whose retailer ID starts with `query`, then those of the item group or
    brand it names (so a whole group or brand can be added at once), then those whose name
    contains it (all case-insensitive but the group). Each query stopped at what is still
    needed, so a 100,000-product catalog answers as fast as a small one."""
    query = query.strip()
    active = Product.objects.filter(active=True)
    if not query:
        return list(active.order_by("name", "id")[:limit])
    # Ordered as the case-insensitive index is (see migration 0003), so LIMIT stops early.
    searches = [
        active.filter(retailer_id__istartswith=query).order_by(Upper("retailer_id"), "id"),
        active.filter(item_group_id=query).order_by("name", "id"),
        active.filter(brand__iexact=query).order_by("name", "id"),
        active.filter(name__icontains=query).order_by("name", "id"),
    ]
    found: dict[int, Product] = {}
    for search in searches:
        if len(found) >= limit:
            break
        for product in search.exclude(pk__in=list(found))[: limit - len(found)]:
            found[product.pk] = product
    return list(found.values())


# --- results: what happened after the send (the dashboard) ----------------------------------------
# Counts come from Message states (moved forward by campaigns.callbacks) and the stored status
# events and orders; each selector is one or two queries. Rates are percentages with one
# decimal, None when there is nothing to divide by.


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass(frozen=True)
class Funnel:
    """queued → accepted → sent → delivered → read, with failed, not sent, unknown and skipped
    beside it. Each step counts the messages that reached it or went further (a read message
    was delivered and sent), so the steps never grow down the funnel."""

    total: int = 0  # every real message of the campaign
    skipped: int = 0  # never sent: opted out, frequency cap, US number, cancelled
    queued: int = 0  # entered the send queue (total - skipped)
    waiting: int = 0  # still queued or being sent
    accepted: int = 0  # Kaleyra took the request (it gave a message id)
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0  # refused at send time or failed in WhatsApp
    not_sent: int = 0  # Kaleyra did not pass it on to WhatsApp
    unknown: int = 0  # the send's outcome is unknown (it may have been sent)

    @property
    def accepted_rate(self) -> float | None:
        return _percent(self.accepted, self.queued)

    @property
    def delivery_rate(self) -> float | None:
        """Delivered, of those Kaleyra accepted."""
        return _percent(self.delivered, self.accepted)

    @property
    def read_rate(self) -> float | None:
        """Read, of those delivered (a customer may have read receipts off)."""
        return _percent(self.read, self.delivered)

    @property
    def failure_rate(self) -> float | None:
        return _percent(self.failed + self.not_sent, self.queued)

    def steps(self) -> list[dict]:
        """The funnel for a chart or table: each step's count, its share of the queued
        messages and its share of the step before."""
        steps, previous = [], None
        for name in ("queued", "accepted", "sent", "delivered", "read"):
            count = getattr(self, name)
            steps.append(
                {
                    "step": name,
                    "count": count,
                    "of_queued": _percent(count, self.queued),
                    "of_previous": _percent(count, previous) if previous is not None else None,
                }
            )
            previous = count
        return steps

    def as_dict(self) -> dict:
        return {
            **{f.name: getattr(self, f.name) for f in fields(self)},
            "accepted_rate": self.accepted_rate,
            "delivery_rate": self.delivery_rate,
            "read_rate": self.read_rate,
            "failure_rate": self.failure_rate,
        }


def funnel_of(tallies: Tallies) -> Funnel:
    """The funnel from a campaign's counters: each step counts what reached it or went further."""
    took = tallies.state_count(*Message.ACCEPTED_OR_LATER) + sum(
        tallies.states[f"{state}+"] for state in (Message.State.FAILED, Message.State.NOT_SENT)
    )
    total = tallies.state_count(*Message.State.values)
    skipped = tallies.state_count(Message.State.SKIPPED)
    return Funnel(
        total=total,
        skipped=skipped,
        queued=total - skipped,
        waiting=tallies.state_count(Message.State.QUEUED, Message.State.SENDING),
        accepted=took,
        sent=tallies.state_count(Message.State.SENT, Message.State.DELIVERED, Message.State.READ),
        delivered=tallies.state_count(Message.State.DELIVERED, Message.State.READ),
        read=tallies.state_count(Message.State.READ),
        failed=tallies.state_count(Message.State.FAILED),
        not_sent=tallies.state_count(Message.State.NOT_SENT),
        unknown=tallies.state_count(Message.State.UNKNOWN),
    )


def campaign_funnel(campaign_id: int, *, tallies: Tallies | None = None) -> Funnel:
    """One campaign's funnel, from its counters."""
    return funnel_of(tallies or campaign_tallies(campaign_id))


def campaign_failures(campaign_id: int, *, tallies: Tallies | None = None) -> list[dict]:
    """Failed and not-sent messages grouped by code, most frequent first, each with what it
    means and what to do in plain words. From the counters."""
    tallies = tallies or campaign_tallies(campaign_id)
    rows = sorted(tallies.failures.items(), key=lambda item: (-item[1], item[0][1], item[0][2]))
    groups = []
    for (state, meta_code, last_code), count in rows:
        if meta_code:
            source, code, explanation = "Meta", meta_code, explain_meta(meta_code)
        elif state == Message.State.NOT_SENT:
            source, code, explanation = "Kaleyra", "not-sent", None
        else:
            source, code = "Kaleyra", last_code
            explanation = explain(last_code) if last_code else None
        groups.append(
            {
                "code": code,
                "source": source,
                "state": state,
                "count": count,
                "meaning": explanation.meaning
                if explanation
                else "The message was not delivered; no reason was given.",
                "action": explanation.action if explanation else "Look at the message's events.",
            }
        )
    return groups


def campaign_skip_reasons(campaign_id: int, *, tallies: Tallies | None = None) -> list[dict]:
    """Why messages were skipped (opted out, frequency cap, US number…), with counts."""
    tallies = tallies or campaign_tallies(campaign_id)
    rows = sorted(tallies.skips.items(), key=lambda item: (-item[1], item[0]))
    return [{"detail": detail, "count": count} for detail, count in rows]


TIMELINE_BUCKETS = ("minute", "hour", "day")
SERIES = {"sends": "sends", "delivered": "delivered", "read": "reads"}


def campaign_minutes(campaign_id: int, *, tallies: Tallies | None = None) -> dict:
    """{aware UTC minute: {"sends", "delivered", "reads"}}: sends (accepted by Kaleyra, at the
    minute they were claimed), deliveries and reads (at the minute WhatsApp reported them),
    from the counters."""
    tallies = tallies or campaign_tallies(campaign_id)
    minutes: dict = {}
    for kind, name in SERIES.items():
        for key, n in tallies.series.get(kind, {}).items():
            moment = datetime.strptime(key, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
            point = minutes.setdefault(moment, {"sends": 0, "delivered": 0, "reads": 0})
            point[name] += n
    return minutes


def campaign_timeline(
    campaign_id: int, *, bucket: str = "minute", tallies: Tallies | None = None
) -> list[dict]:
    """Sends, deliveries and reads per minute, hour or day (in the current time zone), oldest
    first."""
    if bucket not in TIMELINE_BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(TIMELINE_BUCKETS)}")
    points: dict = {}
    for moment, counts in campaign_minutes(campaign_id, tallies=tallies).items():
        at = truncate(moment, bucket)
        point = points.setdefault(at, {"time": at, "sends": 0, "delivered": 0, "reads": 0})
        for name, n in counts.items():
            point[name] += n
    return [points[at] for at in sorted(points)]


def truncate(moment, bucket: str):
    """The start of the minute, hour or day holding `moment`, in the current time zone."""
    moment = timezone.localtime(moment).replace(second=0, microsecond=0)
    if bucket in ("hour", "day"):
        moment = moment.replace(minute=0)
    if bucket == "day":
        moment = moment.replace(hour=0)
    return moment


def campaign_orders(campaign_id: int) -> dict:
    """Orders attributed to the campaign: per product (orders, units, revenue; unknown
    products by retailer id, name None) and totals per currency. Two queries."""
    products = list(
        OrderItem.objects.filter(order__campaign_id=campaign_id)
        .values("retailer_id", "currency")
        .annotate(
            name=Max("product__name"),
            orders=Count("order_id", distinct=True),
            units=Sum("quantity"),
            revenue=Sum(
                F("quantity") * F("item_price"),
                output_field=DecimalField(max_digits=16, decimal_places=2),
            ),
        )
        .order_by("-revenue", "retailer_id")
    )
    totals = list(
        Order.objects.filter(campaign_id=campaign_id)
        .values("currency")
        .annotate(orders=Count("id"), revenue=Sum("total"))
        .order_by("-orders", "currency")
    )
    return {"products": products, "totals": totals, **_units_shown(campaign_id)}


def _units_shown(campaign_id: int) -> dict:
    """How many units ordered were of products the customer's own message showed (their own,
    for a personalised message; the campaign's otherwise): orders are few, so read per item."""
    fixed = set(
        SectionItem.objects.filter(section__campaign_id=campaign_id).values_list(
            "product__retailer_id", flat=True
        )
    )
    units = shown = 0
    for retailer_id, quantity, overrides in OrderItem.objects.filter(
        order__campaign_id=campaign_id
    ).values_list("retailer_id", "quantity", "order__message__overrides"):
        sections = (overrides or {}).get("sections")
        seen = {rid for s in sections for rid in s["retailer_ids"]} if sections else fixed
        units += quantity
        shown += quantity if retailer_id in seen else 0
    return {"units": units, "units_shown": shown}


@dataclass(frozen=True)
class CampaignResult:
    id: int
    name: str
    state: str
    created_at: object
    funnel: Funnel
    orders: int
    revenue: dict  # currency → Decimal

    @property
    def delivery_rate(self):
        return self.funnel.delivery_rate

    @property
    def read_rate(self):
        return self.funnel.read_rate


def _keys(*states: str, taken_only: bool = False) -> str:
    keys = [f"{s}+" for s in states] + ([] if taken_only else list(states))
    return ", ".join(f"'{key}'" for key in keys)  # states are our own constants


_TOOK = f"{_keys(*Message.ACCEPTED_OR_LATER)}, {_keys('failed', 'not_sent', taken_only=True)}"
# Each column the results table shows, as SQL over one campaign's summed counters (`s`).
RESULT_COLUMNS_SQL = {
    "name": "c.name",
    "created_at": "c.created_at",
    "sent_to": "coalesce(s.sent_to, 0)",
    "delivered": "coalesce(s.delivered, 0)",
    "read": "coalesce(s.read_count, 0)",
    "failed": "coalesce(s.failed, 0)",
    # Rates as the Funnel rounds them (one decimal), so that equal figures sort by id.
    "delivery_rate": "CASE WHEN s.accepted > 0 THEN round(100.0 * s.delivered / s.accepted, 1) END",
    "read_rate": "CASE WHEN s.delivered > 0 THEN round(100.0 * s.read_count / s.delivered, 1) END",
    "orders": "coalesce(s.orders, 0)",
    # Mixed currencies are added up as numbers for the order only; each is shown apart.
    "revenue": "coalesce(s.revenue_cents, 0)",
}
RESULT_ORDERINGS = tuple(RESULT_COLUMNS_SQL)


class CampaignResults:
    """Every campaign's results row, sorted and paginated in SQL over the counters (so a page
    costs the same with 30 campaigns or 1,000 and ten million messages); Django's Paginator
    takes it like a queryset (`count()` and slices)."""

    def __init__(self, *, order_by: str, created_from=None, created_to=None, sender=None):
        descending = order_by.startswith("-")
        key = order_by.lstrip("-")
        if key not in RESULT_COLUMNS_SQL:
            raise ValueError(f"order_by must be one of {', '.join(RESULT_ORDERINGS)}")
        direction = "DESC" if descending else "ASC"
        # Campaigns without a rate yet come last either way.
        self.order = f"{RESULT_COLUMNS_SQL[key]} IS NULL, {RESULT_COLUMNS_SQL[key]} {direction}, c.id {direction}"
        self.where, self.params = ["true"], []
        if created_from is not None:
            self.where.append("c.created_at >= %s")
            self.params.append(adapt_datetime(created_from))
        if created_to is not None:
            self.where.append("c.created_at < %s")
            self.params.append(adapt_datetime(created_to))
        if sender is not None:  # as `sent_from`: the default sender's include "no sender"
            default = sender.is_default and sender.active
            self.where.append(
                "(c.sender_id = %s OR c.sender_id IS NULL)" if default else "c.sender_id = %s"
            )
            self.params.append(sender.pk)

    def count(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM {CAMPAIGN} c WHERE {' AND '.join(self.where)}", self.params
            )
            return cursor.fetchone()[0]

    def __len__(self) -> int:
        return self.count()

    def __iter__(self):
        return iter(self[0:None])

    def __getitem__(self, index: slice | int) -> list[CampaignResult] | CampaignResult:
        if isinstance(index, int):
            return self[index : index + 1][0]
        start, stop = index.start or 0, index.stop
        counters = (
            f'SELECT campaign_id, kind, "key", n, amount_cents FROM {TALLY}'
            " WHERE kind IN ('state', 'orders')"
            f' UNION ALL SELECT campaign_id, kind, "key", n, amount_cents FROM {DELTA}'
            " WHERE kind IN ('state', 'orders')"
        )
        state = "kind = 'state' AND \"key\" IN "
        summed = (
            "SELECT campaign_id,"
            f" sum(CASE WHEN kind = 'state' AND \"key\" NOT IN ({_keys('skipped')}) THEN n ELSE 0 END) AS sent_to,"
            f" sum(CASE WHEN {state}({_TOOK}) THEN n ELSE 0 END) AS accepted,"
            f" sum(CASE WHEN {state}({_keys('delivered', 'read')}) THEN n ELSE 0 END) AS delivered,"
            f" sum(CASE WHEN {state}({_keys('read')}) THEN n ELSE 0 END) AS read_count,"
            f" sum(CASE WHEN {state}({_keys('failed')}) THEN n ELSE 0 END) AS failed,"
            f" sum(CASE WHEN {state}({_keys('not_sent')}) THEN n ELSE 0 END) AS not_sent,"
            f" sum(CASE WHEN {state}({_keys('skipped')}) THEN n ELSE 0 END) AS skipped,"
            f" sum(CASE WHEN {state}({_keys('queued', 'sending')}) THEN n ELSE 0 END) AS waiting,"
            f" sum(CASE WHEN {state}({_keys('sent', 'delivered', 'read')}) THEN n ELSE 0 END) AS sent,"
            f" sum(CASE WHEN {state}({_keys('unknown')}) THEN n ELSE 0 END) AS unknown,"
            " sum(CASE WHEN kind = 'orders' THEN n ELSE 0 END) AS orders,"
            " sum(CASE WHEN kind = 'orders' THEN amount_cents ELSE 0 END) AS revenue_cents"
            f" FROM ({counters}) t GROUP BY campaign_id"
        )
        limit = f" LIMIT {2**63 - 1 if stop is None else int(stop - start)}"
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.id, c.name, c.state, c.created_at, coalesce(s.sent_to, 0),"
                " coalesce(s.accepted, 0), coalesce(s.delivered, 0), coalesce(s.read_count, 0),"
                " coalesce(s.failed, 0), coalesce(s.not_sent, 0), coalesce(s.orders, 0),"
                " coalesce(s.skipped, 0), coalesce(s.waiting, 0), coalesce(s.sent, 0),"
                " coalesce(s.unknown, 0)"
                f" FROM {CAMPAIGN} c LEFT JOIN ({summed}) s ON s.campaign_id = c.id"
                f" WHERE {' AND '.join(self.where)} ORDER BY {self.order}{limit} OFFSET {int(start)}",
                self.params,
            )
            rows = cursor.fetchall()
        revenue = _revenue([row[0] for row in rows])
        created = Campaign._meta.get_field("created_at")
        return [
            CampaignResult(
                id=pk,
                name=name,
                state=state_,
                created_at=created.to_python(_aware(created_at)),
                funnel=Funnel(
                    total=sent_to + skipped,
                    skipped=skipped,
                    queued=sent_to,
                    waiting=waiting,
                    accepted=accepted,
                    sent=sent,
                    delivered=delivered,
                    read=read,
                    failed=failed,
                    not_sent=not_sent,
                    unknown=unknown,
                ),
                orders=orders,
                revenue=revenue.get(pk, {}),
            )
            for (
                pk,
                name,
                state_,
                created_at,
                sent_to,
                accepted,
                delivered,
                read,
                failed,
                not_sent,
                orders,
                skipped,
                waiting,
                sent,
                unknown,
            ) in rows
        ]


def _aware(value):
    """SQLite hands raw SQL a datetime as text; PostgreSQL an aware datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def _revenue(campaign_ids: list[int]) -> dict[int, dict]:
    """{campaign: {currency: Decimal}} from the order counters of these campaigns."""
    found: dict[int, dict] = {}
    if not campaign_ids:
        return found
    marks = ", ".join(["%s"] * len(campaign_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT campaign_id, "key", sum(amount_cents) FROM (SELECT campaign_id, "key", amount_cents'
            f" FROM {TALLY} WHERE kind = 'orders' AND campaign_id IN ({marks}) UNION ALL"
            f' SELECT campaign_id, "key", amount_cents FROM {DELTA}'
            f" WHERE kind = 'orders' AND campaign_id IN ({marks})) t"
            ' GROUP BY campaign_id, "key"',
            [*campaign_ids, *campaign_ids],
        )
        for campaign_id, currency, cents in cursor.fetchall():
            found.setdefault(campaign_id, {})[currency] = Decimal(int(cents)) / 100
    return found


def campaign_results(
    *, order_by: str = "-created_at", created_from=None, created_to=None, sender=None
) -> CampaignResults:
    """Every campaign with its funnel, delivery and read rates and orders, sorted by
    `order_by` (one of RESULT_ORDERINGS, "-" for descending; campaigns without a rate last)
    and optionally created in [created_from, created_to) and sent from `sender`. Slice it (or
    paginate it)."""
    return CampaignResults(
        order_by=order_by, created_from=created_from, created_to=created_to, sender=sender
    )


def campaign_recipients(
    campaign_id: int,
    *,
    state: str = "",
    code: str = "",
    search: str = "",
    after: int = 0,
    before: int | None = None,
):
    """The per-recipient table (and its CSV): a campaign's real messages, filtered by state,
    by failure code (Meta's or Kaleyra's) and by number, in id order (after / before an id:
    keyset pages, then in descending order); lazy, so pages and CSV exports stream it.

    The range is written as a row comparison on (campaign_id, id), the columns of the index
    `message_recipient_page`: written as `id > n` alone, PostgreSQL walked the primary key from
    the oldest message, past every older campaign's (133 ms for a campaign after 300,000
    others, 0.1 ms this way)."""
    if before is None:
        keyset, order = "(campaign_id, id) > (%s, %s)", "id"
        bound = after
    else:
        keyset, order = "(campaign_id, id) < (%s, %s)", "-id"
        bound = before
    messages = (
        Message.objects.real()
        .filter(campaign_id=campaign_id)
        .filter(RawSQL(keyset, (campaign_id, bound), output_field=BooleanField()))
        .order_by(order)
    )
    if state:
        messages = messages.filter(state=state)
    if code:
        messages = messages.filter(Q(meta_code=code) | Q(last_code=code))
    if search:
        messages = messages.filter(to__contains=search.strip())
    return messages.only(
        "id",
        "to",
        "state",
        "message_id",
        "last_code",
        "meta_code",
        "detail",
        "claimed_at",
        "updated_at",
    )


class UtcIsoText(Func):
    """A datetime column as ISO 8601 text in UTC, to the second, written by the database: for
    the CSV export, where reading 1,000,000 datetimes into Python and formatting them again was
    half the time on PostgreSQL."""

    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra):
        # Each % doubled twice: once for this template, once for the query's own parameters.
        return self.as_sql(
            compiler,
            connection,
            template="strftime('%%%%Y-%%%%m-%%%%dT%%%%H:%%%%M:%%%%SZ', %(expressions)s)",
        )

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="""to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')""",
        )


EXPORT_COLUMNS = ("phone", "state", "code", "message_id", "reason", "attempts", "updated_at")


def campaign_recipients_export(campaign_id: int, *, state: str = "", code: str = ""):
    """The CSV's rows, one tuple per real message in id order (columns: EXPORT_COLUMNS),
    streamed from the database in chunks."""
    return (
        campaign_recipients(campaign_id, state=state, code=code)
        .annotate(updated=UtcIsoText("updated_at"))
        .values_list("to", "state", "last_code", "message_id", "detail", "attempts", "updated")
        .iterator(chunk_size=10_000)
    )
