"""Sending: choose recipients, see what a send would do, and only a confirmation queues it."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from campaigns import conf, recipients, services, validation
from campaigns.forms import RecipientsForm
from campaigns.models import Campaign
from campaigns.roles import SEND, VIEW
from campaigns.services import background, composer
from campaigns.views.common import load_campaign, need

UPLOADS = "campaigns_uploads"  # session key: {token: campaign id} of this user's CSV uploads


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
                plan.total_to_send, conf.KALEYRA_RATE_PER_SECOND
            ),
            "rate": conf.KALEYRA_RATE_PER_SECOND,
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
