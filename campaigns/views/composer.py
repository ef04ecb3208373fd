"""The composer: create and edit a draft with live checks and a preview, search products,
clone a campaign and send it as a test."""

import json

from django.contrib import messages
from django.db.models import Q
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns import limits, selectors, services, validation
from campaigns.forms import (
    LAST_TEST_NUMBER,
    ComposerForm,
    ProductPasteForm,
    ProductSearchForm,
    SendTestForm,
    form_problems,
)
from campaigns.kaleyra.answers import describe_test_send
from campaigns.models import Campaign, MessageTemplate
from campaigns.roles import ADD, CHANGE, SEND, VIEW
from campaigns.services import composer
from campaigns.views.common import (
    load_campaign,
    need,
    need_any,
    problems_data,
    unique,
    wants_json,
)


def composer_templates(campaign: Campaign | None = None):
    """Templates a marketer may pick: the approved ones with an MPM button that are still in
    Kaleyra's list, and the campaign's own (validation then says why it cannot be sent)."""
    allowed = Q(status=MessageTemplate.Status.APPROVED, has_mpm_button=True, vanished_at=None)
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
    if not campaign.is_editable:
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
        if state.sender is not None and not state.sender.active:
            messages.warning(
                request,
                f"{state.sender.display_name} ({state.sender.business_number}) no longer sends: "
                "choose who this campaign goes out from, then save.",
            )
            state.sender = None  # the default, as the select and the preview now show
            form.choose_sender_again()
        form.initial = {
            "name": state.name,
            "template": state.template.pk if state.template else None,
            "header_value": state.header_value,
            "thumbnail": state.thumbnail,
            "ref": state.ref,
            "ref1": state.ref1,
            "ref2": state.ref2,
            "wa_source": state.wa_source,
            **({"sender": state.sender.pk} if state.sender else {}),
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
        "preview": composer.message_preview(state, catalog, default=form.default_sender),
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
        accepted, text, problems = send_test(campaign, to, test_form.cleaned_data["skus"])
        if wants_json(request):
            html = render_to_string(
                "campaigns/_test_outcome.html",
                {"accepted": accepted, "text": text, "problems": problems, "notes": notes},
                request,
            )
            return JsonResponse({"accepted": accepted, "html": html, "saved_url": edit_url})
        if text:
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


def send_test(campaign, to, skus="") -> tuple[bool, str, list[validation.Problem]]:
    """Send the saved campaign to one number: (accepted, what happened, problems)."""
    try:
        result = services.campaign_send_test(campaign, to=to, skus=skus)
    except services.CampaignNotSendable as exc:
        return False, exc.headline, exc.problems
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
    preview = composer.message_preview(state, catalog, default=form.default_sender)
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
    """Active products by retailer ID prefix, item group, brand or name, for search-as-you-type;
    as many as one message holds, so a group or brand can be added at once."""
    need_any(request, ADD, CHANGE)
    form = ProductSearchForm(request.GET)
    if not form.is_valid():
        return JsonResponse(
            {"problems": problems_data(form_problems(form)), "results": []}, status=400
        )
    products = selectors.product_search(form.cleaned_data["q"], limit=limits.MAX_PRODUCTS)
    return JsonResponse({"results": [composer.product_info(p) for p in products]})


@require_POST
def product_paste(request):
    """SKUs pasted into a section → the products added, in order, and those left out with why."""
    need_any(request, ADD, CHANGE)
    form = ProductPasteForm(request.POST)
    if not form.is_valid():
        return JsonResponse(
            {"problems": problems_data(form_problems(form)), "added": [], "refused": []},
            status=400,
        )
    pasted = composer.products_pasted(
        form.cleaned_data["skus"], taken=form.cleaned_data["taken"], room=form.cleaned_data["room"]
    )
    return JsonResponse(
        {
            "added": [composer.product_info(product) for product in pasted.added],
            "refused": [{"retailer_id": sku, "reason": why} for sku, why in pasted.refused],
            "summary": pasted.summary(),
        }
    )


@require_POST
def campaign_clone(request, pk: int):
    need(request, VIEW, ADD)
    original = load_campaign(pk)
    clone = composer.campaign_clone(campaign=original, user=request.user)
    messages.success(request, f"“{original}” copied as the draft “{clone}”: change what you like.")
    return redirect("campaigns:edit", pk=clone.pk)
