"""The campaigns list and one campaign's page: its live progress, dashboard and results, and
pause, resume and cancel."""

import hashlib

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseNotModified, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import parse_etags
from django.views.decorators.http import require_GET, require_POST

from campaigns import selectors, services, validation
from campaigns.forms import CampaignFilterForm, ResultsFilterForm, SenderFilterForm
from campaigns.models import Campaign
from campaigns.roles import SEND, VIEW
from campaigns.selectors import dashboard
from campaigns.selectors.senders import default_sender
from campaigns.services import background, composer
from campaigns.services.scheduling import TIME_ZONES
from campaigns.views.common import LIST_PER_PAGE, load_campaign, need, without_page

RESULTS_PER_PAGE = 50


@require_GET
def campaign_list(request):
    """Campaigns with their counts: three queries, whatever the number of campaigns or messages."""
    need(request, VIEW)
    filters = CampaignFilterForm(request.GET)
    by_sender = SenderFilterForm(request.GET)
    search = state = ""
    if filters.is_valid():
        search, state = filters.cleaned_data["q"].strip(), filters.cleaned_data["state"]
    ids = selectors.campaign_list(
        search=search, state=state, sender=by_sender.chosen()
    ).values_list("pk", flat=True)
    page = Paginator(ids, LIST_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "filters": filters,
        "by_sender": by_sender,
        "page": page,
        "campaigns": selectors.campaigns_with_counts(list(page.object_list)),
        "filter_query": without_page(request.GET),
    }
    if request.htmx:
        return render(request, "campaigns/_list_results.html", context)
    return render(request, "campaigns/list.html", context)


@require_GET
def campaign_detail(request, pk: int):
    """The campaign, its live progress and its per-recipient results (one page at a time)."""
    need(request, VIEW)
    campaign = load_campaign(pk)
    background.campaign_watch(campaign)
    tallies = selectors.campaign_tallies(pk)
    progress = selectors.campaign_progress(pk, tallies=tallies)
    results = results_page(request, campaign, progress)
    if request.htmx and request.htmx.target == "results":
        return render(request, "campaigns/_results.html", results)
    catalog = composer.catalog_of_campaign(campaign)
    problems = services.campaign_check(campaign)
    return render(
        request,
        "campaigns/detail.html",
        {
            **results,
            "progress": progress,
            "dashboard": dashboard.campaign_dashboard(pk, progress=progress, tallies=tallies)
            if progress["total"]
            else None,
            "problems": problems,
            "error_count": len(validation.errors_only(problems)),
            "preview": composer.message_preview(composer.state_from_campaign(campaign), catalog),
            "default_sender": None if campaign.sender_id else default_sender(),
            "json": services.campaign_preview(campaign),
            "editable": campaign.is_editable,
            "can_send": request.user.has_perm(SEND),
            "time_zones": TIME_ZONES if campaign.state == Campaign.State.SCHEDULED else (),
            "sendable": campaign.state
            in (Campaign.State.DRAFT, Campaign.State.SENDING, Campaign.State.COMPLETED),
        },
    )


def results_page(request, campaign: Campaign, progress: dict) -> dict:
    """One page of results in a single query, by keyset on the messages' ids (`after` or
    `before` an id: page 20,000 of a million costs what page 1 does): a row past the page says
    whether another follows, and the total comes from `progress` (no COUNT over a large table).
    `row` only numbers the rows shown."""
    filters = ResultsFilterForm(request.GET)
    state = code = ""
    if filters.is_valid():
        state, code = filters.cleaned_data["state"], filters.cleaned_data["code"]
    after, before = (id_param(request.GET, name) for name in ("after", "before"))
    first_row = max(1, id_param(request.GET, "row") or 1)
    # campaign_recipients matches a code against Meta's as well as Kaleyra's, so the
    # dashboard's failure groups link straight to their recipients.
    personalised = selectors.campaign_content(campaign).is_personalised
    columns = ["to", "state", "last_code", "meta_code", "message_id", "detail", "updated_at"]
    messages = selectors.campaign_recipients(
        campaign.pk, state=state, code=code, after=after or 0, before=before
    ).only(*columns, *(["overrides"] if personalised else []))
    rows = list(messages[: RESULTS_PER_PAGE + 1])  # newest first when paging back
    more, rows = len(rows) > RESULTS_PER_PAGE, rows[:RESULTS_PER_PAGE]
    if before:
        rows.reverse()
        more_before, more_after = more, True
    else:
        more_before, more_after = bool(after), more
    if code:
        total = None  # not known without a count; pages still say whether another follows
    elif state:
        total = progress["counts"].get(state, 0)
    else:
        total = progress["total"]
    keep = without_page(request.GET, drop=("after", "before", "row"))
    return {
        "campaign": campaign,
        "filters": filters,
        "rows": rows,
        "personalised": personalised,
        "has_previous": more_before and bool(rows),
        "has_next": more_after and bool(rows),
        "previous_query": rows
        and f"before={rows[0].pk}&row={max(1, first_row - RESULTS_PER_PAGE)}",
        "next_query": rows and f"after={rows[-1].pk}&row={first_row + len(rows)}",
        "first_row": first_row,
        "last_row": first_row + len(rows) - 1,
        "total": total,
        "filter_query": keep,
    }


def id_param(query, name: str) -> int | None:
    """A positive integer query parameter, or None (anything else is ignored)."""
    value = query.get(name, "")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


def campaign_etag(pk: int) -> str:
    """What the live panels' answers depend on: the campaign row and its counters' version.
    Two indexed lookups, no count: an unchanged campaign answers 304 for the cost of these."""
    try:
        state, reason, updated_at = Campaign.objects.values_list(
            "state", "paused_reason", "updated_at"
        ).get(pk=pk)
    except Campaign.DoesNotExist:
        raise Http404("There is no campaign with this ID.") from None
    mark = hashlib.blake2s(f"{state}|{reason}|{updated_at.isoformat()}".encode(), digest_size=6)
    return f'"{selectors.campaign_version(pk)}-{mark.hexdigest()}"'


def live_json(request, pk: int, build) -> HttpResponse:
    """`build(pk)` as JSON with its ETag, or 304 when the poller already has it."""
    need(request, VIEW)
    etag = campaign_etag(pk)
    if etag in parse_etags(request.headers.get("If-None-Match", "")):
        response = HttpResponseNotModified()
    else:
        try:
            response = JsonResponse(build(pk))  # private, no-store: campaigns.middleware
        except Campaign.DoesNotExist:
            raise Http404("There is no campaign with this ID.") from None
    response["ETag"] = etag
    return response


@require_GET
def campaign_progress(request, pk: int):
    """Where the campaign's messages stand, as JSON, for the live progress panel."""
    return live_json(request, pk, selectors.campaign_progress)


@require_GET
def campaign_dashboard(request, pk: int):
    """The dashboard's numbers as JSON, polled by dashboard.js while callbacks arrive."""
    return live_json(request, pk, dashboard.campaign_dashboard)


@require_POST
def campaign_control(request, pk: int, action: str):
    """Pause, resume, cancel or give up retries: POST only, with the send permission."""
    need(request, VIEW, SEND)
    if action not in ("pause", "resume", "cancel", "give-up"):
        raise Http404("Unknown action.")
    campaign = load_campaign(pk)
    done, text = background.campaign_control(campaign, action=action)
    messages.add_message(request, messages.SUCCESS if done else messages.WARNING, text)
    return redirect("campaigns:detail", pk=campaign.pk)
