"""The API's URLs, at /api/v1/: the endpoints, the OpenAPI schema (openapi.json) and its docs
page (docs, Swagger UI from ninja's own static files, served by WhiteNoise).

None of them takes a session login (LoginRequiredMiddleware would send callers to the login
page): the endpoints authenticate each call with a token, and the schema and its docs page are
public, since they describe the API and hold no data, and the developers of a shop's backend
who read them need no account in the app. A wrong method or an unknown path under /api/v1/
answers in the API's error shape too, not with the site's HTML pages.
"""

import functools

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponseNotAllowed, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from campaigns.api.views import api


def problem(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "problems": []}, status=status)


def json_405(view):
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            response = problem(405, f"{request.method} is not allowed here; use {allowed}.")
            response["Allow"] = allowed
        return response

    return login_not_required(wrapped)


@csrf_exempt
@login_not_required
def unknown(request, rest: str):
    return problem(404, f"There is no /api/v1/{rest}: see /api/v1/docs for the endpoints.")


patterns, app_name, namespace = api.urls
for pattern in patterns:
    pattern.callback = json_405(pattern.callback)
patterns.append(path("<path:rest>", unknown, name="unknown"))

urls = (patterns, app_name, namespace)
