"""The marketer's composer at /campaigns/: list, compose with live checks and a preview, test,
send with a confirmation, follow the progress and read the results.

Thin: checks, previews, saves and sends are calls into `composer`, `services`, `recipients` and
`selectors`. Looking needs campaigns.view_campaign, editing add_ or change_campaign, sending
(tests, pause, resume and cancel included) send_campaign; every write is a POST with CSRF.
"""

import csv
import json

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns import limits, recipients, selectors, services, validation
from campaigns.forms import (
    LAST_TEST_NUMBER,
    CampaignFilterForm,
    ComposerForm,
    RecipientsForm,
    ResultsFilterForm,
    SendTestForm,
)
from campaigns.kaleyra.answers import describe_test_send
from campaigns.models import Campaign, MessageTemplate
from campaigns.selectors import dashboard
from campaigns.services import background, composer

VIEW, ADD, CHANGE, SEND = (f"campaigns.{p}_campaign" for p in ("view", "add", "change", "send"))
LIST_PER_PAGE = 25
RESULTS_PER_PAGE = 50
UPLOADS = "campaigns_uploads"  # session key: {token: campaign id} of this user's CSV uploads


def need(request, *perms):
    """403 unless the user has every one of `perms`."""
    if not request.user.has_perms(perms):
        raise PermissionDenied


def need_any(request, *perms):
    if not any(request.user.has_perm(perm) for perm in perms):
        raise PermissionDenied


def load_campaign(pk: int) -> Campaign:
    try:
        return selectors.campaign_for_sending(pk)
    except Campaign.DoesNotExist:
        raise Http404("There is no campaign with this ID.") from None


def wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def problems_data(problems: list[validation.Problem]) -> list[dict]:
    return [{"field": p.field, "message": p.message, "level": p.level} for p in problems]


def without_page(query) -> str:
    """The query string of a filtered list, without its page number."""
    query = query.copy()
    query.pop("page", None)
    return query.urlencode()


def unique(problems: list[validation.Problem]) -> list[validation.Problem]:
    """Problems without repeats (the form and the rules may say the same thing)."""
    return list(dict.fromkeys(problems))


# --- the list -------------------------------------------------------------------------------------


@require_GET
def campaign_list(request):
    """Campaigns with their counts: three queries, whatever the number of campaigns or messages."""
    need(request, VIEW)
    filters = CampaignFilterForm(request.GET)
    search = state = ""
    if filters.is_valid():
        search, state = filters.cleaned_data["q"].strip(), filters.cleaned_data["state"]
    ids = selectors.campaign_list(search=search, state=state).values_list("pk", flat=True)
    page = Paginator(ids, LIST_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "filters": filters,
        "page": page,
        "campaigns": selectors.campaigns_with_counts(list(page.object_list)),
        "filter_query": without_page(request.GET),
    }
    if request.htmx:
        return render(request, "campaigns/_list_results.html", context)
    return render(request, "campaigns/list.html", context)


RESULT_COLUMNS = (
    ("name", "Campaign", "text-start"),
    ("created_at", "Created", "text-start"),
    ("delivery_rate", "Delivery rate", "text-end"),
    ("read_rate", "Read rate", "text-end"),
    ("orders", "Orders", "text-end"),
)


@require_GET
def campaign_results(request):
    """Every campaign's funnel rates and orders, sortable; an unknown sort falls back to the
    newest first. Two queries, whatever the number of campaigns or messages."""
    need(request, VIEW)
    sort = dashboard.result_sort(request.GET.get("sort"))
    key, descending = sort.lstrip("-"), sort.startswith("-")
    columns = []
    for name, label, align in RESULT_COLUMNS:
        current = name == key
        # A click on the current column flips it; on another, rates and orders start highest first.
        if current:
            next_sort = name if descending else f"-{name}"
        else:
            next_sort = name if name == "name" else f"-{name}"
        columns.append(
            {
                "label": label,
                "align": align,
                "sort": next_sort,
                "aria_sort": ("descending" if descending else "ascending") if current else "",
            }
        )
    page = Paginator(selectors.campaign_results(order_by=sort), LIST_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "results": page.object_list,
        "page": page,
        "filter_query": without_page(request.GET),
        "columns": columns,
        "sort": sort,
    }
    return render(request, "campaigns/results.html", context)


# --- composing ------------------------------------------------------------------------------------


def composer_templates(campaign: Campaign | None = None):
    """Templates a marketer may pick: the approved ones, and the campaign's own."""
    allowed = Q(status=MessageTemplate.Status.APPROVED)
    if campaign is not None:
        allowed |= Q(pk=campaign.template_id)
    return MessageTemplate.objects.filter(allowed).order_by("name", "language")


@require_http_methods(["GET", "POST"])
def campaign_create(request):
    need(request, ADD)
    return composer_page(request, None)


@require_http_methods(["GET", "POST"])
def campaign_edit(request, pk: int):
    need(request, VIEW, CHANGE)
    campaign = load_campaign(pk)
    if not composer.campaign_is_editable(campaign):
        messages.info(
            request,
            f"“{campaign}” is {campaign.get_state_display().lower()}, so its content is kept as "
            "it was sent. Clone it to make a changed copy.",
        )
        return redirect("campaigns:detail", pk=campaign.pk)
    return composer_page(request, campaign)


def composer_page(request, campaign: Campaign | None):
    """The composer: GET shows it; a POST saves the draft, then tests it or goes on to send."""
    templates = composer_templates(campaign)
    test_form = SendTestForm(
        initial={"to": request.session.get(LAST_TEST_NUMBER, "")}, auto_id="test_%s"
    )
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "save")
        if action in ("test", "send"):
            need(request, SEND)
        form = ComposerForm(request.POST, templates=templates)
        if action == "test":
            test_form = SendTestForm(request.POST, auto_id="test_%s")
        ready = form.is_valid() and (action != "test" or test_form.is_valid())
        if ready:
            try:
                campaign, notes = composer.draft_save(
                    state=form.state(), campaign=campaign, user=request.user
                )
            except composer.CampaignNotEditable as exc:
                messages.error(request, str(exc))
                return redirect("campaigns:detail", pk=campaign.pk)
            return after_save(request, campaign, action, notes, test_form)
        if wants_json(request):
            problems = form.problems() + [
                validation.Problem("to", str(error)) for error in test_form.errors.get("to", [])
            ]
            html = render_to_string(
                "campaigns/_test_outcome.html",
                {"accepted": False, "text": "Nothing was sent.", "problems": problems},
                request,
            )
            return JsonResponse({"problems": problems_data(problems), "html": html}, status=400)
        status = 400
        state = form.state()
    else:
        form = ComposerForm(templates=templates)
        state = composer.state_from_campaign(campaign) if campaign else composer.ComposerState()
        form.initial = {
            "name": state.name,
            "template": state.template.pk if state.template else None,
            "header_value": state.header_value,
            "thumbnail": state.thumbnail,
            "ref": state.ref,
            "ref1": state.ref1,
            "ref2": state.ref2,
            "wa_source": state.wa_source,
        }
    catalog = (
        composer.catalog_of_campaign(campaign)
        if campaign is not None and not form.is_bound
        else composer.catalog_for(state)
    )
    problems = (form.problems() if form.is_bound else []) + composer.composer_problems(
        state, catalog
    )
    context = {
        "campaign": campaign,
        "form": form,
        "test_form": test_form,
        "state": state,
        "sections_json": json.dumps(state.sections_data(), ensure_ascii=False),
        "body_fields": body_fields(state),
        "problems": unique(problems),
        "error_count": len(validation.errors_only(unique(problems))),
        "preview": composer.message_preview(state, catalog),
        "json": composer.composer_preview_json(state),
        "templates_info": {
            str(t.pk): {
                "header_text": t.header_text,
                "body_text": t.body_text,
                "footer_text": t.footer_text,
                "header_variables": t.header_variable_count,
                "body_variables": t.body_variable_count,
            }
            for t in templates
        },
        "products_info": {rid: composer.product_info(p) for rid, p in catalog.items()},
        "limits": {
            "sections": limits.MAX_SECTIONS,
            "products": limits.MAX_PRODUCTS,
            "title": limits.MAX_SECTION_TITLE_LENGTH,
            "header_value": limits.MAX_HEADER_VALUE_LENGTH,
            "body": limits.MAX_BODY_TEXT_LENGTH,
            "ref": limits.MAX_REF_LENGTH,
        },
        "form_action": reverse("campaigns:edit", args=[campaign.pk])
        if campaign
        else reverse("campaigns:create"),
        "can_send": request.user.has_perm(SEND),
    }
    return render(request, "campaigns/composer.html", context, status=status)


def body_fields(state: composer.ComposerState) -> list[tuple[int, str]]:
    """(number, value) for each body value input: as many as the template has variables."""
    count = state.template.body_variable_count if state.template else 0
    values = list(state.body_values) + [""] * max(0, count - len(state.body_values))
    return list(enumerate(values[: max(count, len(state.body_values))], start=1))


def after_save(request, campaign, action, notes, test_form):
    edit_url = reverse("campaigns:edit", args=[campaign.pk])
    if action == "test":
        to = test_form.cleaned_data["to"]
        request.session[LAST_TEST_NUMBER] = to
        accepted, text, problems = send_test(campaign, to)
        if wants_json(request):
            html = render_to_string(
                "campaigns/_test_outcome.html",
                {"accepted": accepted, "text": text, "problems": problems, "notes": notes},
                request,
            )
            return JsonResponse({"accepted": accepted, "html": html, "saved_url": edit_url})
        messages.add_message(request, messages.SUCCESS if accepted else messages.ERROR, text)
        for problem in problems:
            messages.error(request, problem.message)
        return redirect(edit_url)
    for note in notes:
        messages.warning(request, note)
    if action == "send":
        return redirect("campaigns:send", pk=campaign.pk)
    messages.success(request, f"Draft “{campaign}” saved.")
    return redirect(edit_url)


def send_test(campaign, to) -> tuple[bool, str, list[validation.Problem]]:
    """Send the saved campaign to one number: (accepted, what happened, problems)."""
    try:
        result = services.campaign_send_test(campaign, to=to)
    except services.CampaignNotSendable as exc:
        return False, "Nothing was sent. Fix these first:", exc.problems
    accepted, text = describe_test_send(to, result)
    return accepted, text, []


@require_POST
def composer_check(request):
    """The composer's content, saved or not → its problems, the preview and the request body."""
    need_any(request, ADD, CHANGE)
    form = ComposerForm(request.POST, templates=MessageTemplate.objects.all())
    state = form.state()
    catalog = composer.catalog_for(state)
    problems = unique(form.problems() + composer.composer_problems(state, catalog))
    errors = validation.errors_only(problems)
    preview = composer.message_preview(state, catalog)
    return JsonResponse(
        {
            "problems": problems_data(problems),
            "errors": len(errors),
            "warnings": len(problems) - len(errors),
            "preview": render_to_string("campaigns/_preview.html", {"preview": preview}, request),
            "json": composer.composer_preview_json(state),
            "products": {rid: composer.product_info(p) for rid, p in catalog.items()},
        }
    )


@require_GET
def product_search(request):
    """Active products by retailer ID prefix or name, for search-as-you-type (two queries)."""
    need_any(request, ADD, CHANGE)
    query = request.GET.get("q", "")[:100]
    products = selectors.product_search(query, limit=20)
    return JsonResponse({"results": [composer.product_info(p) for p in products]})


@require_POST
def campaign_clone(request, pk: int):
    need(request, VIEW, ADD)
    original = load_campaign(pk)
    clone = composer.campaign_clone(campaign=original, user=request.user)
    messages.success(request, f"“{original}” copied as the draft “{clone}”: change what you like.")
    return redirect("campaigns:edit", pk=clone.pk)


# --- one campaign: progress and results -----------------------------------------------------------


@require_GET
def campaign_detail(request, pk: int):
    """The campaign, its live progress and its per-recipient results (one page at a time)."""
    need(request, VIEW)
    campaign = load_campaign(pk)
    progress = selectors.campaign_progress(pk)
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
            "dashboard": dashboard.campaign_dashboard(pk, progress=progress)
            if progress["total"]
            else None,
            "problems": problems,
            "error_count": len(validation.errors_only(problems)),
            "preview": composer.message_preview(composer.state_from_campaign(campaign), catalog),
            "json": services.campaign_preview(campaign),
            "editable": composer.campaign_is_editable(campaign),
            "can_send": request.user.has_perm(SEND),
            "sendable": campaign.state
            in (Campaign.State.DRAFT, Campaign.State.SENDING, Campaign.State.COMPLETED),
        },
    )


def results_page(request, campaign: Campaign, progress: dict) -> dict:
    """One page of results in a single query: a row past the page says whether another
    follows, and the total comes from `progress` (no COUNT over a large table)."""
    filters = ResultsFilterForm(request.GET)
    state = code = ""
    if filters.is_valid():
        state, code = filters.cleaned_data["state"], filters.cleaned_data["code"]
    try:
        number = max(1, int(request.GET.get("page", 1)))
    except ValueError:
        number = 1
    start = (number - 1) * RESULTS_PER_PAGE
    # campaign_recipients matches a code against Meta's as well as Kaleyra's, so the
    # dashboard's failure groups link straight to their recipients.
    rows = list(
        selectors.campaign_recipients(campaign.pk, state=state, code=code).only(
            "to", "state", "last_code", "meta_code", "message_id", "detail", "updated_at"
        )[start : start + RESULTS_PER_PAGE + 1]
    )
    if code:
        total = None  # not known without a count; pages still say whether another follows
    elif state:
        total = progress["counts"].get(state, 0)
    else:
        total = progress["total"]
    return {
        "campaign": campaign,
        "filters": filters,
        "rows": rows[:RESULTS_PER_PAGE],
        "page_number": number,
        "has_previous": number > 1,
        "has_next": len(rows) > RESULTS_PER_PAGE,
        "first_row": start + 1,
        "last_row": start + len(rows[:RESULTS_PER_PAGE]),
        "total": total,
        "filter_query": without_page(request.GET),
    }


@require_GET
def campaign_progress(request, pk: int):
    """Where the campaign's messages stand, as JSON, for the live progress panel."""
    need(request, VIEW)
    try:
        return JsonResponse(selectors.campaign_progress(pk))
    except Campaign.DoesNotExist:
        raise Http404("There is no campaign with this ID.") from None


@require_GET
def campaign_dashboard(request, pk: int):
    """The dashboard's numbers as JSON, polled by dashboard.js while callbacks arrive."""
    need(request, VIEW)
    try:
        data = dashboard.campaign_dashboard(pk)
    except Campaign.DoesNotExist:
        raise Http404("There is no campaign with this ID.") from None
    response = JsonResponse(data)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def campaign_control(request, pk: int, action: str):
    """Pause, resume or cancel: POST only, with the send permission."""
    need(request, VIEW, SEND)
    if action not in ("pause", "resume", "cancel"):
        raise Http404("Unknown action.")
    campaign = load_campaign(pk)
    done, text = background.campaign_control(campaign, action=action)
    messages.add_message(request, messages.SUCCESS if done else messages.WARNING, text)
    return redirect("campaigns:detail", pk=campaign.pk)


class Echo:
    """A file-like object whose write returns the line: csv.writer output for streaming."""

    def write(self, value):
        return value


def spreadsheet_safe(value: str) -> str:
    """Provider text could start a formula in a spreadsheet: such a cell starts with a quote."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


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
    rows = (
        selectors.campaign_recipients(pk, state=state, code=code)
        .values_list("to", "state", "last_code", "message_id", "detail", "attempts", "updated_at")
        .iterator(chunk_size=2000)
    )
    writer = csv.writer(Echo())

    def lines():
        yield writer.writerow(
            ["phone", "state", "code", "message_id", "reason", "attempts", "updated_at"]
        )
        for to, state_, code_, message_id, detail, attempts, updated_at in rows:
            yield writer.writerow(
                [
                    to,
                    state_,
                    spreadsheet_safe(code_),
                    spreadsheet_safe(message_id),
                    spreadsheet_safe(detail),
                    attempts,
                    updated_at.isoformat(),
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="campaign-{pk}-results.csv"'
    return response


# --- sending --------------------------------------------------------------------------------------


def send_blocked_reason(campaign: Campaign) -> str:
    if campaign.state == Campaign.State.CANCELLED:
        return "This campaign was cancelled. Clone it to send the same message again."
    if campaign.state == Campaign.State.PAUSED:
        return "This campaign is paused. Resume it on its page, or cancel it."
    return ""


@require_http_methods(["GET", "POST"])
def campaign_send(request, pk: int):
    """Choose recipients → a confirmation of what would happen → only a confirm sends."""
    need(request, VIEW, SEND)
    campaign = load_campaign(pk)
    errors = validation.errors_only(services.campaign_check(campaign))
    context = {"campaign": campaign, "problems": errors, "blocked": send_blocked_reason(campaign)}
    if errors or context["blocked"]:
        return render(request, "campaigns/send.html", context)
    if request.method == "GET":
        return render(request, "campaigns/send.html", {**context, "form": RecipientsForm()})
    if "confirm" in request.POST:
        return send_confirmed(request, campaign, context)
    form = RecipientsForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "campaigns/send.html", {**context, "form": form}, status=400)
    numbers, token, filename = form.cleaned_data["numbers"], "", ""
    upload = form.cleaned_data["csv_file"]
    if upload:
        token, filename = composer.upload_store(upload), upload.name
        request.session[UPLOADS] = {**request.session.get(UPLOADS, {}), token: campaign.pk}
    try:
        plan = recipients.recipients_plan(campaign, recipient_inputs(numbers, token))
    except recipients.RecipientFileError as exc:
        composer.upload_discard(token)
        form.add_error("csv_file", file_error_text(exc, token, filename))
        return render(request, "campaigns/send.html", {**context, "form": form}, status=400)
    return confirm_page(request, context, plan, numbers, token, filename)


def recipient_inputs(numbers: str, token: str):
    if token:
        return recipients.CsvRecipients(composer.upload_path(token))
    return recipients.recipients_from_numbers(numbers)


def file_error_text(exc: Exception, token: str, filename: str) -> str:
    """A file error names the file as the user knows it, never our storage path."""
    return str(exc).replace(str(composer.upload_dir() / f"{token}.csv"), filename or "The file")


def confirm_page(request, context, plan, numbers, token, filename, status=200):
    return render(
        request,
        "campaigns/confirm.html",
        {
            **context,
            "plan": plan,
            "numbers": numbers,
            "upload": token,
            "filename": filename,
            "duration": composer.estimated_duration(
                plan.total_to_send, settings.KALEYRA_RATE_PER_SECOND
            ),
            "rate": settings.KALEYRA_RATE_PER_SECOND,
        },
        status=status,
    )


def send_confirmed(request, campaign, context):
    """Queue and start: checked again, all or nothing; then follow it on the campaign page."""
    numbers = request.POST.get("numbers", "")
    token = request.POST.get("upload", "")
    filename = request.POST.get("filename", "")
    if token and (
        request.session.get(UPLOADS, {}).get(token) != campaign.pk
        or composer.upload_path(token) is None
    ):
        messages.error(
            request,
            "The uploaded file is no longer here (it is kept until you confirm once). "
            "Upload it again.",
        )
        return redirect("campaigns:send", pk=campaign.pk)
    if not token and not numbers.strip():
        return redirect("campaigns:send", pk=campaign.pk)
    try:
        report = background.campaign_queue_and_send(campaign, recipient_inputs(numbers, token))
    except services.CampaignNotRunnable as exc:
        messages.error(request, f"Nothing was sent: {exc}")
        return redirect("campaigns:detail", pk=campaign.pk)
    except recipients.RecipientFileError as exc:
        messages.error(request, f"Nothing was sent: {file_error_text(exc, token, filename)}")
        return redirect("campaigns:send", pk=campaign.pk)
    if report.invalid_count:
        messages.error(request, "Nothing was sent: some recipients are not valid any more.")
        plan = recipients.recipients_plan(campaign, recipient_inputs(numbers, token))
        return confirm_page(request, context, plan, numbers, token, filename, status=400)
    if token:
        composer.upload_discard(token)
        uploads = request.session.get(UPLOADS, {})
        uploads.pop(token, None)
        request.session[UPLOADS] = uploads
    messages.success(
        request,
        f"Sending “{campaign}” to {report.queued} recipient(s) in the background; "
        "follow its progress below.",
    )
    notes = report.notes()
    if notes:
        messages.info(request, " ".join(notes))
    return redirect("campaigns:detail", pk=campaign.pk)
