"""The signed-in user's API tokens: create one (its secret is shown once, on the answer to the
POST, and never stored), see each one's scopes and last use, revoke it."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from campaigns import roles
from campaigns.forms import ApiTokenForm
from campaigns.models import ApiToken
from campaigns.services.api import api_token_create, api_token_revoke


@require_http_methods(["GET", "POST"])
def token_list(request):
    form = ApiTokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        _, created = api_token_create(user=request.user, **form.cleaned_data)
        form = ApiTokenForm()
    return render(
        request,
        "campaigns/tokens.html",
        {
            "form": form,
            "created": created,
            "tokens": ApiToken.objects.filter(user=request.user),
            "may_read": request.user.has_perm(roles.VIEW),
            "may_send": request.user.has_perm(roles.SEND),
        },
        status=201 if created else 400 if request.method == "POST" else 200,
    )


@require_POST
def token_revoke(request, token_id: int):
    if api_token_revoke(user=request.user, token_id=token_id):
        messages.success(request, "Revoked: calls with that token are refused from now on.")
    else:
        messages.warning(request, "That token was revoked already (or is not yours).")
    return redirect("campaigns:tokens")
