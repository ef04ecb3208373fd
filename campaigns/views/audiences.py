"""Lists and segments at /campaigns/lists/ and /campaigns/segments/: list pages (create, rename,
delete, contacts paged, numbers pasted in, contacts taken out), the segment editor and the live
count it asks for after each change. Seeing needs view_, every write change_ (`roles`)."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, ProtectedError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns import jsonsafe, roles
from campaigns.audiences.lists import MAX_PASTED, list_add_numbers, list_remove_contacts
from campaigns.audiences.segments import OPS, segment_contacts, segment_problems
from campaigns.forms import ContactListForm, ListNumbersForm, SegmentForm
from campaigns.models import Campaign, Consent, ContactList, Segment
from campaigns.views.common import LIST_PER_PAGE, need

FIRST_SHOWN = 5  # contacts the live count shows beside the count
MAX_RULES_LENGTH = 20_000  # characters of rules JSON the count endpoint reads


@require_http_methods(["GET", "POST"])
def list_index(request):
    need(request, roles.VIEW_LIST)
    form = ContactListForm()
    if request.method == "POST":
        need(request, roles.CHANGE_LIST)
        form = ContactListForm(request.POST)
        if form.is_valid():
            contact_list = form.save()
            messages.success(request, f"List “{contact_list}” created: paste numbers into it.")
            return redirect("campaigns:list-detail", pk=contact_list.pk)
    lists = ContactList.objects.annotate(size=Count("contacts")).order_by("name")
    page = Paginator(lists, LIST_PER_PAGE).get_page(request.GET.get("page"))
    status = 400 if form.errors else 200
    return render(request, "campaigns/lists.html", {"page": page, "form": form}, status=status)


@require_http_methods(["GET", "POST"])
def list_detail(request, pk: int):
    """A list's contacts, paged; POST: rename, add pasted numbers, or take contacts out."""
    need(request, roles.VIEW_LIST)
    contact_list = get_object_or_404(ContactList, pk=pk)
    rename, numbers, report, status = (
        ContactListForm(instance=contact_list),
        ListNumbersForm(),
        None,
        200,
    )
    if request.method == "POST":
        need(request, roles.CHANGE_LIST)
        action = request.POST.get("action")
        if action == "rename":
            rename = ContactListForm(request.POST, instance=contact_list)
            if rename.is_valid():
                rename.save()
                messages.success(request, "List renamed.")
                return redirect("campaigns:list-detail", pk=pk)
        elif action == "add":
            numbers = ListNumbersForm(request.POST)
            if numbers.is_valid():
                report = list_add_numbers(contact_list, numbers.cleaned_data["numbers"])
                if report.too_many:
                    numbers.add_error(
                        "numbers",
                        f"At most {MAX_PASTED:,} numbers at a time: import a CSV for more.",
                    )
        elif action == "remove":
            ids = [
                int(v)
                for v in request.POST.getlist("contact")
                if v.isascii() and v.isdigit() and len(v) < 19
            ]
            removed = list_remove_contacts(contact_list, ids)
            messages.success(request, f"{removed} contact(s) taken out of the list.")
            return redirect("campaigns:list-detail", pk=pk)
        status = 400 if rename.errors or numbers.errors else 200
    contacts = contact_list.contacts.order_by("phone")
    page = Paginator(contacts, LIST_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "contact_list": contact_list,
        "page": page,
        "rename": rename,
        "numbers": numbers,
        "report": report,
        "may_change": request.user.has_perm(roles.CHANGE_LIST),
    }
    return render(request, "campaigns/list_detail.html", context, status=status)


@require_POST
def list_delete(request, pk: int):
    need(request, roles.VIEW_LIST, roles.CHANGE_LIST)
    return delete_audience(request, get_object_or_404(ContactList, pk=pk), "campaigns:lists")


def delete_audience(request, audience, index: str):
    """Delete a list or segment unless a campaign was sent to it (it says whom it went to)."""
    try:
        audience.delete()
    except ProtectedError:
        messages.error(
            request, f"“{audience}” is kept: a campaign was sent (or is being sent) to it."
        )
        return redirect(request.POST.get("back") or index)
    messages.success(request, f"“{audience}” deleted.")
    return redirect(index)


@require_GET
def segment_index(request):
    need(request, roles.VIEW_SEGMENT)
    segments = Segment.objects.order_by("name")
    page = Paginator(segments, LIST_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "campaigns/segments.html", {"page": page})


@require_http_methods(["GET", "POST"])
def segment_edit(request, pk: int | None = None):
    """The editor: conditions added and removed (static/campaigns/segments.js keeps the rules
    field and asks for the live count); saved only when every condition is valid."""
    need(request, roles.VIEW_SEGMENT)
    segment = get_object_or_404(Segment, pk=pk) if pk is not None else Segment(rules=[])
    form = SegmentForm(instance=segment)
    if request.method == "POST":
        need(request, roles.CHANGE_SEGMENT)
        form = SegmentForm(request.POST, instance=segment)
        if form.is_valid():
            segment = form.save()
            messages.success(request, f"Segment “{segment}” saved.")
            return redirect("campaigns:segment-edit", pk=segment.pk)
    context = {
        "segment": segment,
        "form": form,
        "may_change": request.user.has_perm(roles.CHANGE_SEGMENT),
        "ops": list(OPS),
        # The editor's choices for "in list" and the campaign conditions (the latest 500).
        "lists": list(ContactList.objects.order_by("name").values("pk", "name")[:500]),
        "campaigns": list(Campaign.objects.order_by("-created_at").values("pk", "name")[:500]),
    }
    return render(
        request, "campaigns/segment_edit.html", context, status=400 if form.errors else 200
    )


@require_POST
def segment_delete(request, pk: int):
    need(request, roles.VIEW_SEGMENT, roles.CHANGE_SEGMENT)
    return delete_audience(request, get_object_or_404(Segment, pk=pk), "campaigns:segments")


@require_GET
def segment_count(request):
    """The live count: how many contacts the rules (`?rules=<JSON>`) match and the first few,
    or the problems; one COUNT over indexes, so it answers fast on a million contacts."""
    need(request, roles.VIEW_SEGMENT)
    text = request.GET.get("rules", "[]")
    if len(text) > MAX_RULES_LENGTH:
        return problems_answer([f"rules: at most {MAX_RULES_LENGTH:,} characters"])
    try:
        rules = jsonsafe.loads(text)
    except jsonsafe.JsonRefused as exc:
        return problems_answer([f"rules: not JSON this app can read ({exc})"])
    problems = segment_problems(rules)
    if problems:
        return problems_answer(problems)
    contacts = segment_contacts(rules)
    first = contacts.order_by("phone").values("phone", "name", "consent")[:FIRST_SHOWN]
    return JsonResponse(
        {
            "count": contacts.count(),
            "opted_in": contacts.filter(consent=Consent.OPTED_IN).count(),
            "contacts": list(first),
            "problems": [],
        }
    )


def problems_answer(problems: list[str]) -> JsonResponse:
    return JsonResponse({"count": None, "contacts": [], "problems": problems}, status=400)
