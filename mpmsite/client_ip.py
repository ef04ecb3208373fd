"""The address a request came from, for login throttling (django-axes' AXES_CLIENT_IP_CALLABLE).

Behind the documented reverse proxy (DJANGO_BEHIND_PROXY), nginx appends the address it saw to
X-Forwarded-For: the last entry is the one nobody but the proxy wrote. Anything before it is the
client's own claim, so it is never used (a forged entry could lock someone else out).
"""

from django.conf import settings


def client_ip(request) -> str:
    if settings.BEHIND_PROXY:
        last = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR", "")
