"""What every page at /campaigns/ shares: permissions, loading a campaign, JSON answers.

Looking needs campaigns.view_campaign, editing add_ or change_campaign, sending (tests, pause,
resume and cancel included) send_campaign (`campaigns.roles`); every write is a POST with CSRF.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from campaigns import roles, selectors, validation
from campaigns.models import Campaign

LIST_PER_PAGE = 25


class Refused(PermissionDenied):
    """A 403 that knows which group would have allowed it, so the page can say what to ask for."""

    def __init__(self, perms):
        super().__init__()
        self.role = roles.role_for(perms)


def need(request, *perms):
    """403 unless the user has every one of `perms`."""
    if not request.user.has_perms(perms):
        raise Refused(perms)


def need_any(request, *perms):
    if not any(request.user.has_perm(perm) for perm in perms):
        raise Refused(perms)


def load_campaign(pk: int) -> Campaign:
    try:
        return selectors.campaign_for_sending(pk)
    except Campaign.DoesNotExist:
        raise Http404("There is no campaign with this ID.") from None


def wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def problems_data(problems: list[validation.Problem]) -> list[dict]:
    return [{"field": p.field, "message": p.message, "level": p.level} for p in problems]


def without_page(query, *, drop: tuple[str, ...] = ()) -> str:
    """The query string of a filtered list, without its page number (nor `drop`)."""
    query = query.copy()
    for name in ("page", *drop):
        query.pop(name, None)
    return query.urlencode()


def unique(problems: list[validation.Problem]) -> list[validation.Problem]:
    """Problems without repeats (the form and the rules may say the same thing)."""
    return list(dict.fromkeys(problems))
