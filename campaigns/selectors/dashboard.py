"""The results dashboard's data: one campaign's funnel, failures, timeline and orders as one
JSON-ready dict (the page renders it, the live endpoint serves it), and the across-campaigns
sort keys. Reads only, through `selectors`; a bounded number of queries whatever the size."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from campaigns import selectors
from campaigns.selectors.tallies import Tallies
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


def timeline_bucket(minutes) -> str:
    """The chart's bucket for a campaign whose activity spans these minutes."""
    if not minutes or max(minutes) - min(minutes) <= MINUTE_SPAN:
        return "minute"
    if max(minutes) - min(minutes) <= HOUR_SPAN:
        return "hour"
    return "day"


def chart_timeline(campaign_id: int, *, tallies: Tallies | None = None) -> dict:
    """Sends, deliveries and reads per bucket, oldest first, with the empty buckets between
    filled in (a line chart over category labels would otherwise hide the gaps). From the
    per-minute counters."""
    minutes = selectors.campaign_minutes(campaign_id, tallies=tallies)
    bucket = timeline_bucket(minutes)
    points: dict = {}
    for moment, counts in minutes.items():
        at = selectors.truncate(moment, bucket)
        point = points.setdefault(at, {"sends": 0, "delivered": 0, "reads": 0})
        for name, n in counts.items():
            point[name] += n
    times = set(points)
    if minutes:
        moment, end = (selectors.truncate(m, bucket) for m in (min(minutes), max(minutes)))
        while moment <= end and len(times) < MAX_POINTS:
            times.add(moment)
            moment = selectors.truncate(moment + STEP[bucket], bucket)
    rows = []
    for moment in sorted(times)[-MAX_POINTS:]:
        counts = points.get(moment, {"sends": 0, "delivered": 0, "reads": 0})
        rows.append(
            {
                "time": moment.isoformat(),
                "label": moment.strftime(LABEL_FORMAT[bucket]),
                **counts,
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
        "units": orders["units"],
        "units_shown": orders["units_shown"],
    }


def campaign_dashboard(
    campaign_id: int, *, progress: dict | None = None, tallies: Tallies | None = None
) -> dict:
    """Everything the dashboard shows, JSON-ready; raises Campaign.DoesNotExist. A handful of
    queries over the campaign's counters and orders, none over its messages or events; pass
    the `progress` and `tallies` already read to read them once."""
    tallies = tallies or selectors.campaign_tallies(campaign_id)
    progress = progress or selectors.campaign_progress(campaign_id, tallies=tallies)
    funnel = selectors.funnel_of(tallies)
    return {
        "state": progress["state"],
        "paused_reason": progress["paused_reason"],
        "version": tallies.version,
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
        "failures": selectors.campaign_failures(campaign_id, tallies=tallies),
        "skip_reasons": [
            {"reason": row["detail"] or "No reason recorded", "count": row["count"]}
            for row in selectors.campaign_skip_reasons(campaign_id, tallies=tallies)
        ],
        "timeline": chart_timeline(campaign_id, tallies=tallies),
        "orders": _orders(campaign_id),
    }
