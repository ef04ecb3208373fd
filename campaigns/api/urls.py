"""The API's URLs, at /api/v1/: the endpoints, the OpenAPI schema (openapi.json) and its docs
page (docs, Swagger UI from ninja's own static files, served by WhiteNoise).

None of them takes a session login (LoginRequiredMiddleware would send callers to the login
page): the endpoints authenticate each call with a token, and the schema and its docs page are
public, since they describe the API and hold no data, and the developers of a shop's backend
who read them need no account in the app.
"""

from django.contrib.auth.decorators import login_not_required

from campaigns.api.views import api

patterns, app_name, namespace = api.urls
for pattern in patterns:
    pattern.callback = login_not_required(pattern.callback)

urls = (patterns, app_name, namespace)
