"""Middleware of the project: requests beyond Django's size limits answer a 400 that names the part."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse

FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class RequestLimitsMiddleware:
    """Parse the query string (and a form body) first, so that a request beyond
    ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` or ``DATA_UPLOAD_MAX_MEMORY_SIZE`` gets a JSON 400 naming
    ``query`` or ``body``.

    Without it the limit is raised wherever the request is first read: DRF passes the error on,
    and with DEBUG on Django's error page reads ``request.GET`` again to show it, raises again, and
    the client gets a 500 (1,500 query parameters did that under ``runserver``).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            request.GET  # noqa: B018 - parsed here for its error, cached for the view
        except TooManyFieldsSent:
            return too_large("query", f"More than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} parameters.")
        if request.method not in ("GET", "HEAD", "OPTIONS") and request.content_type in FORM_CONTENT_TYPES:
            try:
                request.POST  # noqa: B018 - what CSRF's check reads next, and the error page after it
            except TooManyFieldsSent:
                return too_large("body", f"More than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields.")
            except TooManyFilesSent:
                return too_large("body", f"More than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files.")
            except RequestDataTooBig:
                return too_large("body", f"More than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
        return self.get_response(request)


def too_large(part: str, message: str) -> JsonResponse:
    return JsonResponse({part: [message]}, status=400)
