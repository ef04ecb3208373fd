"""Sending: choose recipients, see what a send would do, and only a confirmation queues it.

Typed numbers are checked in the request; an uploaded file becomes a `RecipientUpload` with its
own page, which shows the check's progress (polled by htmx) and then the confirmation.
"""

import csv

from django.conf import settings
from django.contrib import messages
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from campaigns import recipients, services, validation
from campaigns.audiences.segments import SegmentRulesError
from campaigns.forms import RecipientsForm
from campaigns.models import Campaign, RecipientUpload
from campaigns.roles import SEND, VIEW
from campaigns.services import background, composer, uploads
from campaigns.services.scheduling import (
    EARLIEST_ZONE,
    TIME_ZONES,
    ScheduleProblem,
    local_start_time,
    send_time,
)
from campaigns.services.senders import campaign_rate
from campaigns.views.common import load_campaign, need
from campaigns.views.results import Echo, spreadsheet_safe


def send_blocked_reason(campaign: Campaign) -> str:
    if campaign.state == Campaign.State.CANCELLED:
        return "This campaign was cancelled. Clone it to send the same message again."
    if campaign.state == Campaign.State.PAUSED:
        return "This campaign is paused. Resume it on its page, or cancel it."
    if campaign.state == Campaign.State.SCHEDULED:
        return (
            "This campaign is scheduled. Reschedule or cancel the schedule on its page; to add "
            "recipients, cancel the schedule and send or schedule it again."
        )
    return ""


def send_context(request, pk: int) -> dict:
    """The campaign and why it cannot be sent now, if it cannot (problems, its state)."""
    need(request, VIEW, SEND)
    campaign = load_campaign(pk)
    errors = validation.errors_only(services.campaign_check(campaign))
    return {"campaign": campaign, "problems": errors, "blocked": send_blocked_reason(campaign)}


@require_http_methods(["GET", "POST"])
def campaign_send(request, pk: int):
    """Choose recipients → a confirmation of what would happen → only a confirm sends."""
    context = send_context(request, pk)
    campaign = context["campaign"]
    if context["problems"] or context["blocked"]:
        return render(request, "campaigns/send.html", context)
    if request.method == "GET":
        return render(request, "campaigns/send.html", {**context, "form": RecipientsForm()})
    if "confirm" in request.POST and audience_chosen(request.POST):
        return audience_confirmed(request, campaign, context)
    if "confirm" in request.POST:
        return send_confirmed(request, campaign, context)
    if "schedule" in request.POST and audience_chosen(request.POST):
        return audience_confirmed(request, campaign, context, scheduled=True)
    if "schedule" in request.POST:
        return send_confirmed(request, campaign, context, scheduled=True)
    if "download_invalid" in request.POST:
        rows = recipients.recipients_from_numbers(request.POST.get("numbers", ""))
        return invalid_csv(campaign, rows, name=f"campaign-{campaign.pk}-invalid.csv")
    form = RecipientsForm(request.POST, request.FILES)
    if form.is_valid() and form.cleaned_data["csv_file"]:
        try:
            upload = background.upload_receive(
                campaign=campaign, owner=request.user, uploaded=form.cleaned_data["csv_file"]
            )
        except recipients.RecipientFileError as exc:
            form.add_error("csv_file", str(exc))
        else:
            return redirect("campaigns:upload", pk=campaign.pk, upload_id=upload.pk)
    if not form.is_valid():
        return render(request, "campaigns/send.html", {**context, "form": form}, status=400)
    if audience_chosen(form.cleaned_data):
        return audience_confirm_page(request, context, form)
    numbers = form.cleaned_data["numbers"]
    plan = recipients.recipients_plan(campaign, recipients.recipients_from_numbers(numbers))
    return confirm_page(request, context, plan, numbers=numbers)


def confirm_page(request, context, plan, *, numbers="", upload=None, status=200, schedule_error=""):
    return render(
        request,
        "campaigns/confirm.html",
        {
            **context,
            **schedule_fields(request, schedule_error),
            "plan": plan,
            "first_messages": composer.recipient_previews(
                context["campaign"], plan.first_recipients
            ),
            "numbers": numbers,
            "upload": upload,
            "duration": composer.estimated_duration(
                plan.total_to_send, campaign_rate(context["campaign"])
            ),
            "rate": campaign_rate(context["campaign"]),
        },
        status=status,
    )


def audience_chosen(data) -> bool:
    return bool(data.get("audience_list") or data.get("audience_segment"))


def audience_confirm_page(request, context, form, status=200, schedule_error=""):
    """A list or segment: how many it holds now, how many consent and the frequency cap leave
    out; the send evaluates it again as it starts."""
    chosen = form.cleaned_data
    audience = {"contact_list": chosen["audience_list"], "segment": chosen["audience_segment"]}
    contacts = recipients.audience_contacts(**audience)
    try:
        summary = recipients.audience_summary(context["campaign"], contacts)
    except SegmentRulesError as exc:
        form.add_error("audience_segment", f"This segment cannot be evaluated: {exc}.")
        return render(request, "campaigns/send.html", {**context, "form": form}, status=400)
    return render(
        request,
        "campaigns/confirm_audience.html",
        {
            **context,
            "form": form,
            "audience": chosen["audience_list"] or chosen["audience_segment"],
            "summary": summary,
            "duration": composer.estimated_duration(
                summary.to_send, campaign_rate(context["campaign"])
            ),
            **schedule_fields(request, schedule_error),
        },
        status=status,
    )


def chosen_time(request) -> tuple:
    """(start in UTC, its zone, the local time each recipient waits for or "") from a schedule
    form; ScheduleProblem naming the field."""
    local = request.POST.get("send_at", "")
    if request.POST.get("local_to_each") == "yes":
        # It starts when that local time comes first anywhere; each message waits for its own.
        return local_start_time(local), EARLIEST_ZONE, local.strip()[:16]
    zone = request.POST.get("time_zone", "")
    return send_time(local, zone), zone, ""


def scheduled_when(campaign) -> str:
    if campaign.send_local_time:
        return f"{campaign.send_local_time_shown} in each recipient's own time zone"
    return f"{campaign.send_at_local:%Y-%m-%d %H:%M} ({campaign.send_time_zone})"


def schedule_fields(request, schedule_error="") -> dict:
    """What the confirmations' "schedule it for later" form shows."""
    return {
        "time_zones": TIME_ZONES,
        "default_zone": request.POST.get("time_zone") or settings.TIME_ZONE,
        "send_at_value": request.POST.get("send_at", ""),
        "schedule_error": schedule_error,
    }


def audience_confirmed(request, campaign, context, *, scheduled: bool = False):
    """Store the list or segment on the campaign and start the send now (it queues them), or
    book its start: the segment is evaluated as the send starts."""
    form = RecipientsForm(request.POST)
    if not form.is_valid():
        return render(request, "campaigns/send.html", {**context, "form": form}, status=400)
    chosen = form.cleaned_data
    audience = {"contact_list": chosen["audience_list"], "segment": chosen["audience_segment"]}
    verb = "scheduled" if scheduled else "sent"
    try:
        if scheduled:
            try:
                send_at, zone, local_time = chosen_time(request)
            except ScheduleProblem as exc:
                return audience_confirm_page(request, context, form, status=400, schedule_error=exc)
            background.campaign_schedule_audience(
                campaign, **audience, send_at=send_at, time_zone=zone, local_time=local_time
            )
        else:
            background.campaign_send_to_audience(campaign, **audience)
    except services.CampaignNotRunnable as exc:
        messages.error(request, f"Nothing was {verb}: {exc}")
        return redirect("campaigns:detail", pk=campaign.pk)
    name = chosen["audience_list"] or chosen["audience_segment"]
    if scheduled:
        shown = f"Scheduled “{campaign}” to “{name}” for {scheduled_when(campaign)}: its "
        shown += "contacts are read as it starts."
    else:
        shown = f"Sending “{campaign}” to “{name}” in the background: its contacts are queued "
        shown += "as the send starts; follow its progress below."
    messages.success(request, shown)
    return redirect("campaigns:detail", pk=campaign.pk)


def wants_valid_only(request) -> bool:
    """The confirmation's "Send to the N valid recipients" (else any invalid row sends nothing)."""
    return request.POST.get("valid_only") == "yes"


def send_confirmed(request, campaign, context, *, scheduled: bool = False):
    """Queue and start now, or queue now and start at the chosen time (entered in the
    marketer's zone, stored in UTC): checked again, all or nothing (or the valid ones only,
    when that was the button pressed); then follow it on the campaign page."""
    numbers = request.POST.get("numbers", "")
    if not numbers.strip():
        return redirect("campaigns:send", pk=campaign.pk)

    def again(**problems):
        plan = recipients.recipients_plan(campaign, recipients.recipients_from_numbers(numbers))
        return confirm_page(request, context, plan, numbers=numbers, status=400, **problems)

    verb = "scheduled" if scheduled else "sent"
    inputs = recipients.recipients_from_numbers(numbers)
    try:
        if scheduled:
            try:
                send_at, zone, local_time = chosen_time(request)
            except ScheduleProblem as exc:
                return again(schedule_error=exc)
            report = background.campaign_queue_and_schedule(
                campaign,
                inputs,
                send_at=send_at,
                time_zone=zone,
                local_time=local_time,
                valid_only=wants_valid_only(request),
            )
        else:
            report = background.campaign_queue_and_send(
                campaign, inputs, valid_only=wants_valid_only(request)
            )
    except services.CampaignNotRunnable as exc:
        messages.error(request, f"Nothing was {verb}: {exc}")
        return redirect("campaigns:detail", pk=campaign.pk)
    if report.refused:
        messages.error(request, f"Nothing was {verb}: some recipients are not valid any more.")
        return again()
    if scheduled:
        shown = f"Scheduled “{campaign}” for {scheduled_when(campaign)}: {report.queued} "
        shown += "recipient(s) wait in the queue and go out then."
    else:
        shown = f"Sending “{campaign}” to {report.queued} recipient(s) in the background; "
        shown += "follow its progress below."
    messages.success(request, shown)
    notes = report.notes()
    if notes:
        messages.info(request, " ".join(notes))
    return redirect("campaigns:detail", pk=campaign.pk)


@require_POST
def campaign_schedule(request, pk: int):
    """Move a scheduled campaign to another time, or cancel its schedule (a draft again)."""
    need(request, VIEW, SEND)
    campaign = load_campaign(pk)
    if campaign.state != Campaign.State.SCHEDULED:
        messages.error(request, "The campaign is not scheduled (any more).")
    elif request.POST.get("action") == "unschedule":
        skipped = services.campaign_unschedule(campaign)
        messages.success(
            request,
            f"The schedule is cancelled: a draft again; {skipped} queued message(s) "
            "will not be sent.",
        )
    else:
        zone = request.POST.get("time_zone", "")
        try:
            send_at = send_time(request.POST.get("send_at", ""), zone)
        except ScheduleProblem as exc:
            messages.error(request, f"Not rescheduled: {exc}")
        else:
            background.campaign_reschedule(campaign, send_at=send_at, time_zone=zone)
            messages.success(
                request, f"Rescheduled for {campaign.send_at_local:%Y-%m-%d %H:%M} ({zone})."
            )
    return redirect("campaigns:detail", pk=campaign.pk)


@require_http_methods(["GET", "POST"])
def campaign_upload(request, pk: int, upload_id: int):
    """An uploaded file: its check's progress, then what a send would do; a POST confirms."""
    context = send_context(request, pk)
    campaign = context["campaign"]
    upload = RecipientUpload.objects.filter(
        pk=upload_id, campaign=campaign, owner=request.user
    ).first()
    if upload is None:
        raise Http404("This upload is not here: it may have expired. Upload the file again.")
    if request.htmx:  # the progress panel polling: the whole page again once the work is done
        background.upload_heal(upload)
        if upload.in_progress:
            return render(request, "campaigns/_upload_progress.html", {**context, "upload": upload})
        return HttpResponseClientRefresh()
    if request.method == "POST" and not (context["problems"] or context["blocked"]):
        return upload_confirmed(request, campaign, upload, context)
    if upload.state == RecipientUpload.State.CHECKED and not context["blocked"]:
        return confirm_page(request, context, uploads.upload_plan(upload), upload=upload)
    return render(request, "campaigns/upload.html", {**context, "upload": upload})


@require_GET
def campaign_upload_invalid_csv(request, pk: int, upload_id: int):
    """Every invalid line of a checked upload (not only the ones the page lists), as CSV."""
    need(request, VIEW, SEND)
    campaign = load_campaign(pk)
    upload = RecipientUpload.objects.filter(
        pk=upload_id, campaign=campaign, owner=request.user, state=RecipientUpload.State.CHECKED
    ).first()
    if upload is None:
        raise Http404("This upload is not here any more: it was sent or has expired.")
    name = f"{upload.original_name.removesuffix('.csv')}-invalid.csv"
    try:
        rows = uploads.csv_of(upload)
    except recipients.RecipientFileError:
        raise Http404("The uploaded file is not here any more: upload it again.") from None
    return invalid_csv(campaign, rows, name=name)


def invalid_csv(campaign, rows, *, name: str) -> StreamingHttpResponse:
    """The invalid rows streamed as CSV (line, value as given, reason), read lazily."""
    writer = csv.writer(Echo())

    def lines():
        yield writer.writerow(["line", "value", "reason"])
        for line, value, reason in recipients.invalid_rows(campaign, rows):
            yield writer.writerow([line, spreadsheet_safe(value), spreadsheet_safe(reason)])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    safe_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    response["Content-Disposition"] = f'attachment; filename="{safe_name}"'
    return response


def upload_confirmed(request, campaign, upload, context):
    """Send a checked file now, or (its "schedule" button) book the start and queue it now."""
    schedule = {}
    if "schedule" in request.POST:
        try:
            send_at, zone, local_time = chosen_time(request)
        except ScheduleProblem as exc:
            plan = uploads.upload_plan(upload)
            return confirm_page(
                request, context, plan, upload=upload, status=400, schedule_error=exc
            )
        schedule = {"send_at": send_at, "time_zone": zone, "local_time": local_time}
    verb = "scheduled" if schedule else "sent"
    try:
        confirmed = background.upload_confirm(
            upload, valid_only=wants_valid_only(request), **schedule
        )
    except services.CampaignNotRunnable as exc:
        messages.error(request, f"Nothing was {verb}: {exc}")
        return redirect("campaigns:detail", pk=campaign.pk)
    if not confirmed:
        messages.warning(request, f"This file was confirmed already; nothing more was {verb}.")
    elif upload.state == RecipientUpload.State.QUEUED and schedule:
        campaign.refresh_from_db()
        shown = f"Scheduled “{campaign}” for {scheduled_when(campaign)}: {upload.detail}"
        messages.success(request, shown)
        return redirect("campaigns:detail", pk=campaign.pk)
    elif upload.state == RecipientUpload.State.QUEUED:
        messages.success(request, f"Sending “{campaign}” in the background: {upload.detail}")
        return redirect("campaigns:detail", pk=campaign.pk)
    return redirect("campaigns:upload", pk=campaign.pk, upload_id=upload.pk)
