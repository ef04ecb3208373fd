"""Contact import and export, at /campaigns/contacts/import/ and /campaigns/contacts/export/.

An upload becomes a `ContactImport` with its own page: the dry run's progress (polled by htmx),
then its preview and a confirm button, then the import's progress bar, then its summary. The
work is the services' (`services.contact_imports`, started by `services.background`)."""

from django.contrib import messages
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRefresh

from campaigns.audiences.exports import contacts_csv_lines
from campaigns.audiences.imports import ContactFileError
from campaigns.forms import ContactExportForm, ContactImportForm
from campaigns.models import ContactImport
from campaigns.roles import ADD_CONTACTS, CHANGE_CONTACTS, VIEW_CONTACTS
from campaigns.services import background
from campaigns.services.contact_imports import CONTACT_IMPORTS
from campaigns.views.common import need

IMPORTING = (ADD_CONTACTS, CHANGE_CONTACTS)
RECENT_IMPORTS = 10


@require_http_methods(["GET", "POST"])
def contact_import_upload(request):
    """The upload form (and the user's last imports); a valid file goes to its own page."""
    need(request, *IMPORTING)
    posted = request.method == "POST"
    form = ContactImportForm(request.POST, request.FILES) if posted else ContactImportForm()
    if posted and form.is_valid():
        try:
            contact_import = background.file_import_receive(
                CONTACT_IMPORTS,
                owner=request.user,
                uploaded=form.cleaned_data["csv_file"],
                mode=form.cleaned_data["mode"],
            )
        except ContactFileError as exc:
            form.add_error("csv_file", str(exc))
        else:
            return redirect("campaigns:contact-import", import_id=contact_import.pk)
    recent = ContactImport.objects.filter(owner=request.user)[:RECENT_IMPORTS]
    return render(
        request,
        "contacts/import.html",
        {"form": form, "recent": recent},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
def contact_import_detail(request, import_id: int):
    """An import's dry run, preview, progress and summary; a POST confirms it."""
    need(request, *IMPORTING)
    contact_import = ContactImport.objects.filter(pk=import_id, owner=request.user).first()
    if contact_import is None:
        raise Http404("This import is not here: it may belong to someone else.")
    if request.htmx:  # the progress panel polling: the whole page again once the step is done
        background.file_import_heal(CONTACT_IMPORTS, contact_import)
        if contact_import.in_progress:
            return render(request, "contacts/_import_progress.html", {"job": contact_import})
        return HttpResponseClientRefresh()
    if request.method == "POST":
        if not background.file_import_start(CONTACT_IMPORTS, contact_import):
            messages.warning(request, "This file was confirmed already; it is imported once.")
        return redirect("campaigns:contact-import", import_id=contact_import.pk)
    return render(request, "contacts/import_detail.html", {"job": contact_import})


@require_GET
def contact_export(request):
    """Every contact (or those with one consent) as CSV, streamed in chunks."""
    need(request, VIEW_CONTACTS)
    filters = ContactExportForm(request.GET)
    consent = filters.cleaned_data["consent"] if filters.is_valid() else ""
    response = StreamingHttpResponse(
        contacts_csv_lines(consent), content_type="text/csv; charset=utf-8"
    )
    name = f"contacts-{consent}.csv" if consent else "contacts.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
