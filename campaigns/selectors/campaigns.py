"""Reading campaigns the way validation, the payload and the engine need them."""

from dataclasses import dataclass, fields

from django.db.models import Count, DecimalField, F, Max, Min, Prefetch, Q, Sum
from django.db.models.functions import Coalesce, Trunc, Upper

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
    StatusEvent,
)
from campaigns.payload import MpmContent, SectionContent


def campaign_for_sending(campaign_id: int) -> Campaign:
    """A campaign with everything validation and the payload need, in four queries."""
    items = SectionItem.objects.select_related("product").order_by("position", "id")
    sections = Section.objects.order_by("position", "id").prefetch_related(
        Prefetch("items", queryset=items)
    )
    return (
        Campaign.objects.select_related("template", "thumbnail_product")
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
        "sections": [
            (s.title, [i.product.retailer_id for i in s.items.all()])
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
) -> MpmContent:
    """An MPM's content from its parts, saved or not; `sections` are (title, [retailer_id]).
    Every Campaign and composer state becomes the provider's content here, and only here."""
    return MpmContent(
        template_name=template.name,
        language=template.language,
        button_index=template.button_index,
        thumbnail_retailer_id=thumbnail_retailer_id,
        sections=tuple(SectionContent(title, tuple(ids)) for title, ids in sections),
        header_variable_count=template.header_variable_count,
        body_variable_count=template.body_variable_count,
        header_value=header_value,
        body_values=tuple(body_values),
        extra_info={**refs, "wa_source": wa_source},
    )


def progress_labels(campaign_state: str) -> dict[str, str]:
    """Each message state's column heading on the progress table. Only a sending campaign is
    "Sending": once paused or stopped, a claimed message is one whose request was in flight
    when it stopped (or whose worker died: recovery settles it), and a queued one waits."""
    labels = dict(Message.State.choices)
    if campaign_state != Campaign.State.SENDING:
        labels[Message.State.SENDING] = "In flight when it stopped"
    if campaign_state == Campaign.State.PAUSED:
        labels[Message.State.QUEUED] = "Waiting for Resume"
    return labels


def campaign_progress(campaign_id: int) -> dict:
    """Where a campaign's real messages stand, by state, and what waits for a retry (queued
    after an answer), in one query."""
    answered = Q(attempts__gt=0)
    rows = (
        Message.objects.real()
        .filter(campaign_id=campaign_id)
        .values_list("state")
        .annotate(
            n=Count("id"),
            retrying=Count("id", filter=answered),
            next_at=Min("next_attempt_at", filter=answered),
        )
        .order_by()
    )
    counts, retry = {}, (0, None)
    for state, n, retrying, next_at in rows:
        counts[state] = n
        if state == Message.State.QUEUED:
            retry = (retrying, next_at)
    campaign = Campaign.objects.values("state", "paused_reason").get(pk=campaign_id)
    total = sum(counts.values())
    # Settled: everything not waiting to be sent (callbacks move accepted ones further along).
    settled = total - counts.get("queued", 0) - counts.get("sending", 0)
    return {
        "state": campaign["state"],
        "state_label": Campaign.State(campaign["state"]).label,
        "paused_reason": campaign["paused_reason"],
        "counts": {state: counts.get(state, 0) for state in Message.State.values},
        "labels": progress_labels(campaign["state"]),
        "total": total,
        "percent": round(100 * settled / total) if total else 0,
        "retrying": retry[0],
        "next_retry_at": retry[1],
    }


# --- the composer's pages -------------------------------------------------------------------------


def campaign_list(*, search: str = "", state: str = ""):
    """Campaigns for the list page, newest change first; no counts (see `campaigns_with_counts`)."""
    campaigns = Campaign.objects.select_related("template").order_by("-updated_at", "-id")
    if search:
        campaigns = campaigns.filter(name__icontains=search)
    if state:
        campaigns = campaigns.filter(state=state)
    return campaigns


def campaigns_with_counts(campaign_ids: list[int]) -> list[Campaign]:
    """These campaigns with `recipients`, `accepted` and `failed` counts of their real
    messages, in one query, in the order of `campaign_ids` (one page of `campaign_list`)."""
    real = Q(messages__is_test=False)
    rows = (
        Campaign.objects.filter(pk__in=campaign_ids)
        .select_related("template")
        .annotate(
            recipients=Count("messages", filter=real),
            accepted=Count(
                "messages", filter=real & Q(messages__state__in=Message.ACCEPTED_OR_LATER)
            ),
            failed=Count("messages", filter=real & Q(messages__state=Message.State.FAILED)),
        )
    )
    by_id = {campaign.pk: campaign for campaign in rows}
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
    """Active products whose retailer ID starts with `query` or whose name contains it (both
    case-insensitive); retailer-ID matches first, then by name. Two short queries, each
    stopped at `limit`, so a 100,000-product catalog answers as fast as a small one."""
    query = query.strip()
    active = Product.objects.filter(active=True)
    if not query:
        return list(active.order_by("name", "id")[:limit])
    # Ordered as the case-insensitive index is (see migration 0003), so LIMIT stops early.
    by_sku = list(
        active.filter(retailer_id__istartswith=query).order_by(Upper("retailer_id"), "id")[:limit]
    )
    if len(by_sku) >= limit:
        return by_sku
    by_name = (
        active.filter(name__icontains=query)
        .exclude(pk__in=[p.pk for p in by_sku])
        .order_by("name", "id")[: limit - len(by_sku)]
    )
    return by_sku + list(by_name)


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


def _funnel_counts(prefix: str = "") -> dict:
    """Count aggregates for `Funnel`, over Messages (prefix "") or a relation ("messages__")."""
    state = f"{prefix}state__in"
    real = Q(**{f"{prefix}is_test": False})
    finals = (Message.State.FAILED, Message.State.NOT_SENT)
    took = Q(**{state: Message.ACCEPTED_OR_LATER}) | (
        Q(**{state: finals}) & ~Q(**{f"{prefix}message_id": ""})
    )

    def count(condition=None):
        return Count(f"{prefix}id", filter=real & condition if condition is not None else real)

    return {
        "total": count(),
        "skipped": count(Q(**{state: [Message.State.SKIPPED]})),
        "waiting": count(Q(**{state: [Message.State.QUEUED, Message.State.SENDING]})),
        "accepted": count(took),
        "sent": count(
            Q(**{state: [Message.State.SENT, Message.State.DELIVERED, Message.State.READ]})
        ),
        "delivered": count(Q(**{state: [Message.State.DELIVERED, Message.State.READ]})),
        "read": count(Q(**{state: [Message.State.READ]})),
        "failed": count(Q(**{state: [Message.State.FAILED]})),
        "not_sent": count(Q(**{state: [Message.State.NOT_SENT]})),
        "unknown": count(Q(**{state: [Message.State.UNKNOWN]})),
    }


def _funnel(values: dict) -> Funnel:
    counts = {name: values.get(name) or 0 for name in _funnel_counts()}
    return Funnel(queued=counts["total"] - counts["skipped"], **counts)


def campaign_funnel(campaign_id: int) -> Funnel:
    """One campaign's funnel, in one query."""
    return _funnel(Message.objects.filter(campaign_id=campaign_id).aggregate(**_funnel_counts()))


def campaign_failures(campaign_id: int) -> list[dict]:
    """Failed and not-sent messages grouped by code, most frequent first, each with what it
    means and what to do in plain words. One query."""
    rows = (
        Message.objects.real()
        .filter(
            campaign_id=campaign_id,
            state__in=[Message.State.FAILED, Message.State.NOT_SENT],
        )
        .values("state", "meta_code", "last_code")
        .annotate(count=Count("id"))
        .order_by("-count", "meta_code", "last_code")
    )
    groups = []
    for row in rows:
        if row["meta_code"]:
            source, code, explanation = "Meta", row["meta_code"], explain_meta(row["meta_code"])
        elif row["state"] == Message.State.NOT_SENT:
            source, code, explanation = "Kaleyra", "not-sent", None
        else:
            source, code = "Kaleyra", row["last_code"]
            explanation = explain(row["last_code"]) if row["last_code"] else None
        groups.append(
            {
                "code": code,
                "source": source,
                "state": row["state"],
                "count": row["count"],
                "meaning": explanation.meaning
                if explanation
                else "The message was not delivered; no reason was given.",
                "action": explanation.action if explanation else "Look at the message's events.",
            }
        )
    return groups


def campaign_skip_reasons(campaign_id: int) -> list[dict]:
    """Why messages were skipped (opted out, frequency cap, US number…), with counts."""
    return list(
        Message.objects.real()
        .filter(campaign_id=campaign_id, state=Message.State.SKIPPED)
        .values("detail")
        .annotate(count=Count("id"))
        .order_by("-count", "detail")
    )


TIMELINE_BUCKETS = ("minute", "hour", "day")


def campaign_timeline(campaign_id: int, *, bucket: str = "minute") -> list[dict]:
    """Sends (accepted by Kaleyra, at the time they left), deliveries and reads (at the time
    WhatsApp reported them) per minute, hour or day, oldest first. Two queries."""
    if bucket not in TIMELINE_BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(TIMELINE_BUCKETS)}")
    sends = (
        Message.objects.real()
        .filter(campaign_id=campaign_id, claimed_at__isnull=False)
        .exclude(message_id="")
        .annotate(at=Trunc("claimed_at", bucket))
        .values("at")
        .annotate(n=Count("id"))
        .order_by()
    )
    events = (
        StatusEvent.objects.filter(
            message__campaign_id=campaign_id,
            message__is_test=False,
            status__in=[StatusEvent.Status.DELIVERED, StatusEvent.Status.READ],
        )
        .annotate(at=Trunc(Coalesce("timestamp", "received_at"), bucket))
        .values("at")
        .annotate(
            delivered=Count(
                "message_id", filter=Q(status=StatusEvent.Status.DELIVERED), distinct=True
            ),
            read=Count("message_id", filter=Q(status=StatusEvent.Status.READ), distinct=True),
        )
        .order_by()
    )
    points: dict = {}
    for row in sends:
        points.setdefault(row["at"], {"time": row["at"], "sends": 0, "delivered": 0, "reads": 0})
        points[row["at"]]["sends"] = row["n"]
    for row in events:
        point = points.setdefault(
            row["at"], {"time": row["at"], "sends": 0, "delivered": 0, "reads": 0}
        )
        point["delivered"], point["reads"] = row["delivered"], row["read"]
    return [points[at] for at in sorted(points)]


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
    return {"products": products, "totals": totals}


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


RESULT_ORDERINGS = ("delivery_rate", "read_rate", "orders", "created_at", "name")


def campaign_results(*, order_by: str = "-created_at") -> list[CampaignResult]:
    """Every campaign with its funnel, delivery and read rates and orders, sorted by
    `order_by` (one of RESULT_ORDERINGS, "-" for descending; campaigns without a rate last).
    Two queries, whatever the number of campaigns."""
    descending = order_by.startswith("-")
    key = order_by.lstrip("-")
    if key not in RESULT_ORDERINGS:
        raise ValueError(f"order_by must be one of {', '.join(RESULT_ORDERINGS)}")
    campaigns = Campaign.objects.values("id", "name", "state", "created_at").annotate(
        **_funnel_counts("messages__")
    )
    orders: dict[int, dict] = {}
    for row in (
        Order.objects.filter(campaign__isnull=False)
        .values("campaign_id", "currency")
        .annotate(n=Count("id"), revenue=Sum("total"))
        .order_by()
    ):
        entry = orders.setdefault(row["campaign_id"], {"orders": 0, "revenue": {}})
        entry["orders"] += row["n"]
        entry["revenue"][row["currency"]] = row["revenue"]
    results = [
        CampaignResult(
            id=row["id"],
            name=row["name"],
            state=row["state"],
            created_at=row["created_at"],
            funnel=_funnel(row),
            orders=orders.get(row["id"], {}).get("orders", 0),
            revenue=orders.get(row["id"], {}).get("revenue", {}),
        )
        for row in campaigns
    ]
    known = [r for r in results if getattr(r, key) is not None]
    missing = [r for r in results if getattr(r, key) is None]
    known.sort(key=lambda r: (getattr(r, key), r.id), reverse=descending)
    return known + missing


def campaign_recipients(campaign_id: int, *, state: str = "", code: str = "", search: str = ""):
    """The per-recipient table (and its CSV): a campaign's real messages, filtered by state,
    by failure code (Meta's or Kaleyra's) and by number, in id order; lazy, so pages and CSV
    exports stream it."""
    messages = Message.objects.real().filter(campaign_id=campaign_id).order_by("id")
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
