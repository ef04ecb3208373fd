"""The results dashboard's data: one campaign's funnel, failures, timeline and orders as one
JSON-ready dict (the page renders it, the live endpoint serves it), and the across-campaigns
sort keys. Reads only, through `selectors`; a bounded number of queries whatever the size."""

from datetime import timedelta
from decimal import Decimal

from django.db.models import Max, Min
from django.utils import timezone

from campaigns import selectors
from campaigns.models import Campaign, Message
from campaigns.services.composer import money

# The results list sorts by these (selectors.RESULT_ORDERINGS), ascending or with "-".
RESULT_SORTS = frozenset(
    f"{direction}{key}" for key in selectors.RESULT_ORDERINGS for direction in ("", "-")
)
DEFAULT_RESULT_SORT = "-created_at"

# The chart's bucket follows the campaign's span, so it never draws thousands of points:
# minutes for the first three hours, hours up to a fortnight, days after that.
MINUTE_SPAN = timedelta(hours=3)
HOUR_SPAN = timedelta(days=14)
MAX_POINTS = 400
STEP = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
LABEL_FORMAT = {"minute": "%H:%M", "hour": "%d %b %H:%M", "day": "%d %b"}

# What the funnel's side boxes show, in order: (Funnel field, label, explanation).
OUTCOMES = (
    ("waiting", "Waiting", "Queued or being sent right now."),
    ("failed", "Failed", "Refused by Kaleyra or failed in WhatsApp; see the reasons below."),
    ("not_sent", "Not sent", "Kaleyra did not pass it on to WhatsApp."),
    ("unknown", "Unknown", "Kaleyra did not answer in time; it may have been sent."),
    ("skipped", "Skipped", "Never sent: opted out, frequency cap, US number or cancelled."),
)


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def result_sort(value: str | None) -> str:
    """The requested sort if it is a known one, else the default (never an error)."""
    return value if value in RESULT_SORTS else DEFAULT_RESULT_SORT


def timeline_bucket(campaign_id: int) -> tuple[str, object, object]:
    """(bucket, first, last) for the chart: the span from the first send to the latest change
    of any message (callbacks move `updated_at`). One query."""
    span = (
        Message.objects.real()
        .filter(campaign_id=campaign_id)
        .aggregate(first=Min("claimed_at"), last=Max("updated_at"))
    )
    first, last = span["first"], span["last"]
    if first is None or last is None or last - first <= MINUTE_SPAN:
        return "minute", first, last
    if last - first <= HOUR_SPAN:
        return "hour", first, last
    return "day", first, last


def _truncate(moment, bucket: str):
    moment = timezone.localtime(moment)
    moment = moment.replace(second=0, microsecond=0)
    if bucket in ("hour", "day"):
        moment = moment.replace(minute=0)
    if bucket == "day":
        moment = moment.replace(hour=0)
    return moment


def chart_timeline(campaign_id: int) -> dict:
    """Sends, deliveries and reads per bucket, oldest first, with the empty buckets between
    filled in (a line chart over category labels would otherwise hide the gaps). Three queries."""
    bucket, first, last = timeline_bucket(campaign_id)
    points = {
        _truncate(p["time"], bucket): p
        for p in selectors.campaign_timeline(campaign_id, bucket=bucket)
    }
    times = set(points)
    if first is not None and last is not None:
        moment, end = _truncate(first, bucket), _truncate(last, bucket)
        while moment <= end and len(times) < MAX_POINTS:
            times.add(moment)
            moment = _truncate(moment + STEP[bucket], bucket)
    ordered = sorted(times)[-MAX_POINTS:]
    empty = {"sends": 0, "delivered": 0, "reads": 0}
    rows = []
    for moment in ordered:
        counts = {**empty, **points.get(moment, {})}
        rows.append(
            {
                "time": moment.isoformat(),
                "label": moment.strftime(LABEL_FORMAT[bucket]),
                "sends": counts["sends"],
                "delivered": counts["delivered"],
                "reads": counts["reads"],
            }
        )
    return {"bucket": bucket, "rows": rows}


def _money(amount, currency: str) -> str:
    return money(Decimal(amount or 0), currency or "")


def _amount(amount) -> str:
    """A sum as a string with two decimals (SQLite may hand back 350 for 350.00)."""
    return f"{Decimal(amount or 0):.2f}"


def _orders(campaign_id: int) -> dict:
    orders = selectors.campaign_orders(campaign_id)
    return {
        "products": [
            {
                "retailer_id": p["retailer_id"],
                "name": p["name"] or "",
                "orders": p["orders"],
                "units": p["units"] or 0,
                "revenue": _amount(p["revenue"]),
                "revenue_text": _money(p["revenue"], p["currency"]),
                "currency": p["currency"] or "",
            }
            for p in orders["products"]
        ],
        "totals": [
            {
                "currency": t["currency"] or "",
                "orders": t["orders"],
                "revenue": _amount(t["revenue"]),
                "revenue_text": _money(t["revenue"], t["currency"]),
            }
            for t in orders["totals"]
        ],
        "count": sum(t["orders"] for t in orders["totals"]),
    }


def campaign_dashboard(campaign_id: int, *, progress: dict | None = None) -> dict:
    """Everything the dashboard shows, JSON-ready; raises Campaign.DoesNotExist. Ten queries
    (nine when the caller passes `selectors.campaign_progress`, which holds the state), none
    of them growing with the number of messages, events or orders."""
    if progress is None:
        campaign = Campaign.objects.values("state", "paused_reason").get(pk=campaign_id)
    else:
        campaign = progress
    funnel = selectors.campaign_funnel(campaign_id)
    return {
        "state": campaign["state"],
        "paused_reason": campaign["paused_reason"],
        "updated_at": timezone.now().isoformat(),
        "funnel": {**funnel.as_dict(), "steps": funnel.steps()},
        "outcomes": [
            {
                "name": name,
                "label": label,
                "help": help_text,
                "count": getattr(funnel, name),
                "of_total": _percent(getattr(funnel, name), funnel.total),
            }
            for name, label, help_text in OUTCOMES
        ],
        "failures": selectors.campaign_failures(campaign_id),
        "skip_reasons": [
            {"reason": row["detail"] or "No reason recorded", "count": row["count"]}
            for row in selectors.campaign_skip_reasons(campaign_id)
        ],
        "timeline": chart_timeline(campaign_id),
        "orders": _orders(campaign_id),
    }
