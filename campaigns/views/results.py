"""Results: every campaign's rates and orders side by side, and one campaign's per-recipient
results as a CSV."""

import csv
import io
from datetime import datetime, time, timedelta

from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from campaigns import selectors
from campaigns.forms import ResultsDateForm, ResultsFilterForm, SenderFilterForm
from campaigns.models import Campaign
from campaigns.roles import VIEW
from campaigns.selectors import dashboard
from campaigns.spreadsheets import spreadsheet_safe
from campaigns.views.common import LIST_PER_PAGE, need, without_page

# The results table's columns, by sort key, in the order shown; texts align left, numbers right.
RESULT_COLUMNS = {
    "name": "Campaign",
    "created_at": "Created",
    "sent_to": "Sent to",
    "delivered": "Delivered",
    "read": "Read",
    "failed": "Failed",
    "delivery_rate": "Delivery rate",
    "read_rate": "Read rate",
    "orders": "Orders",
    "revenue": "Revenue",
}
TEXT_COLUMNS = frozenset({"name", "created_at"})


def sorted_by(key: str, descending: bool) -> str:
    """The order in words, for the table's caption: "delivery rate, highest first"."""
    if key == "created_at":
        return f"date created, {'newest' if descending else 'oldest'} first"
    if key == "name":
        return f"campaign name, {'Z to A' if descending else 'A to Z'}"
    return f"{RESULT_COLUMNS[key].lower()}, {'highest' if descending else 'lowest'} first"


def day_start(day):
    """The first moment of `day` in the current time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


@require_GET
def campaign_results(request):
    """Every campaign's counts, rates and orders, sorted on any column and paginated in SQL
    over the counters, optionally for campaigns created in a date range; an unknown sort falls
    back to the newest first, a bad date is reported and not applied."""
    need(request, VIEW)
    sort = dashboard.result_sort(request.GET.get("sort"))
    key, descending = sort.lstrip("-"), sort.startswith("-")
    dates = ResultsDateForm(request.GET)
    created_from = created_to = None
    if dates.is_valid():
        if dates.cleaned_data["created_from"]:
            created_from = day_start(dates.cleaned_data["created_from"])
        if dates.cleaned_data["created_to"]:
            created_to = day_start(dates.cleaned_data["created_to"] + timedelta(days=1))
    keep = without_page(request.GET, drop=("sort",))
    columns = []
    for name, label in RESULT_COLUMNS.items():
        current = name == key
        # A click on the current column flips it; on another, numbers start highest first.
        if current:
            next_sort = name if descending else f"-{name}"
        else:
            next_sort = name if name == "name" else f"-{name}"
        columns.append(
            {
                "label": label,
                "align": "text-start" if name in TEXT_COLUMNS else "text-end",
                "query": f"sort={next_sort}" + (f"&{keep}" if keep else ""),
                "aria_sort": ("descending" if descending else "ascending") if current else "",
            }
        )
    by_sender = SenderFilterForm(request.GET)
    results = selectors.campaign_results(
        order_by=sort, created_from=created_from, created_to=created_to, sender=by_sender.chosen()
    )
    page = Paginator(results, LIST_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "results": page.object_list,
        "page": page,
        "dates": dates,
        "by_sender": by_sender,
        "filter_query": without_page(request.GET),
        "columns": columns,
        "sort": sort,
        "sorted_by": sorted_by(key, descending),
    }
    return render(request, "campaigns/results.html", context)


CSV_BLOCK = 1000  # rows per chunk of the streamed CSV


class Echo:
    """A file-like object whose write returns the line: csv.writer output for streaming."""

    def write(self, value):
        return value


@require_GET
def campaign_results_csv(request, pk: int):
    """Every result (or the filtered ones), streamed: rows are read in chunks, never all at once."""
    need(request, VIEW)
    if not Campaign.objects.filter(pk=pk).exists():
        raise Http404("There is no campaign with this ID.")
    filters = ResultsFilterForm(request.GET)
    state = code = ""
    if filters.is_valid():
        state, code = filters.cleaned_data["state"], filters.cleaned_data["code"]
    rows = selectors.campaign_recipients_export(pk, state=state, code=code)

    def lines():
        # Rows go out in blocks: one chunk per row costs more in the response than the row.
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(selectors.EXPORT_COLUMNS)
        for n, (to, state_, code_, message_id, detail, attempts, updated) in enumerate(rows, 1):
            writer.writerow(
                (
                    to,
                    state_,
                    spreadsheet_safe(code_),
                    spreadsheet_safe(message_id),
                    spreadsheet_safe(detail),
                    attempts,
                    updated,
                )
            )
            if n % CSV_BLOCK == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="campaign-{pk}-results.csv"'
    return response
