"""The permission page (the project's 403 handler): which group to ask for, and a way out that
never leads back to the page that refused."""

from django.shortcuts import render

from campaigns import roles


def permission_denied(request, exception):
    return render(
        request,
        "403.html",
        {"role": getattr(exception, "role", None), "roles": roles.ROLES},
        status=403,
    )
