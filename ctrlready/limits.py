"""Refuse a request body that is too large before anything reads it.

Django reads a body only when a view (or the CSRF check) asks for it, and its own limit,
DATA_UPLOAD_MAX_MEMORY_SIZE, leaves files out: a 300 MB multipart upload is streamed to disk
first and refused after. This middleware comes first and looks only at `Content-Length`, so such a
request — signed in or not — is answered 413 at once and its body is never read (gunicorn then drops
the connection rather than drain the rest). A body sent without `Content-Length` (chunked) is never
read by Django at all. Put the same limit in the proxy in front (nginx's
`client_max_body_size`), so the body does not even reach the application server.
"""

from django.conf import settings
from django.http import HttpResponse, JsonResponse

API_PREFIX = "/api/"
MB = 1024 * 1024


def _too_large(request, limit: int) -> HttpResponse:
    size = f"{limit / MB:g} MB" if limit >= MB else f"{limit:,} bytes"
    message = (
        f"The request body is larger than {size}, so it was not read: a checklist may be at most 2 MB; "
        "split it, or send less at once."
    )
    if request.path.startswith(API_PREFIX):
        response = JsonResponse({"error": message}, status=413)
    else:
        response = HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
    return response


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.CTRLREADY_MAX_REQUEST_BYTES
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            length = limit + 1  # not a number: nothing sane to read
        if length > limit:
            return _too_large(request, limit)
        return self.get_response(request)
