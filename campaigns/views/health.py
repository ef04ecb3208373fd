"""GET /healthz for load balancers and monitors: no login, no secret, 503 when unhealthy."""

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from campaigns.services.health import health


@never_cache
@login_not_required
@require_GET
def healthz(request):
    report = health()
    return JsonResponse(report, status=200 if report["ok"] else 503)
