"""A request body larger than an upload may be is refused before anything reads it: otherwise
CSRF's check would stream the whole body to a temporary file before any view could say no."""

from django.shortcuts import render

from campaigns import conf
from campaigns.services.uploads import size_refusal

FORM_ALLOWANCE = 64 * 1024  # the form's other fields and the multipart boundaries around a file


class UploadLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = conf.MPM_UPLOAD_MAX_BYTES
        if length > limit + FORM_ALLOWANCE:
            return render(
                request,
                "413.html",
                {"reason": size_refusal(length, limit, what="The upload")},
                status=413,
            )
        return self.get_response(request)
