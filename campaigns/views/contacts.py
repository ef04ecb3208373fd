"""Contacts: a list to search (by number or name) and filter by consent, and each contact's page
with its consent ledger, the campaign messages it received, its orders and its replies."""

from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from campaigns import roles
from campaigns.models import Consent, Contact, Message, Order, Reply
from campaigns.views.common import need

PER_PAGE = 50
SHOWN = 100  # messages and orders on a contact's page, newest first


@require_GET
def contact_list(request):
    """Contacts in phone order, by keyset (`after` a phone: fast at any depth of a million)."""
    need(request, roles.VIEW_CONTACTS)
    # A NUL could never be stored, nor searched for on PostgreSQL: it is dropped.
    query = request.GET.get("q", "").replace("\x00", "").strip()[:100]
    consent = request.GET.get("consent", "")
    contacts = Contact.objects.order_by("phone")
    if query:
        digits = query.lstrip("+")
        if digits.isdigit():
            contacts = contacts.filter(phone__startswith=f"+{digits}")
        else:
            contacts = contacts.filter(name__icontains=query)
    if consent in Consent.values:
        contacts = contacts.filter(consent=consent)
    after = request.GET.get("after", "").replace("\x00", "")[:16]
    if after:
        contacts = contacts.filter(phone__gt=after)
    page = list(contacts[: PER_PAGE + 1])
    return render(
        request,
        "campaigns/contacts.html",
        {
            "contacts": page[:PER_PAGE],
            "next_after": page[PER_PAGE - 1].phone if len(page) > PER_PAGE else "",
            "q": query,
            "consent": consent,
            "consents": Consent.choices,
        },
    )


@require_GET
def contact_detail(request, pk: int):
    need(request, roles.VIEW_CONTACTS)
    contact = get_object_or_404(Contact, pk=pk)
    messages = (
        Message.objects.real()
        .filter(to=contact.phone)
        .select_related("campaign")
        .order_by("-id")[:SHOWN]
    )
    return render(
        request,
        "campaigns/contact_detail.html",
        {
            "contact": contact,
            "ledger": contact.consent_events.select_related("actor").order_by(
                "-recorded_at", "-id"
            ),
            "messages": messages,
            "orders": Order.objects.filter(from_phone=contact.phone).order_by("-received_at")[
                :SHOWN
            ],
            "replies": Reply.objects.filter(from_phone=contact.phone).order_by("-received_at")[
                :SHOWN
            ],
        },
    )
