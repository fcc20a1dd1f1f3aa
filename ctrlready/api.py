"""The JSON API at /api/v1/: authentication, and one error shape for every failure.

Every call needs a person: `Authorization: Bearer <token>` or the browser session (which must
send its CSRF token on unsafe methods).  Every error answers `{"error": "<sentence>", ...}`.
"""

import logging
import re
from functools import wraps

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponseNotAllowed, JsonResponse
from django.utils import timezone
from ninja import NinjaAPI, Router
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer
from ninja.utils import check_csrf

from checklists.api import router as checklists_router
from checklists.api_environments import router as environments_router
from checklists.api_teams import router as teams_router
from core.errors import DomainError
from core.models import ApiToken
from core.text import excerpt
from core.tokens import api_token_find, api_token_user
from ctrlready.api_tokens import router as tokens_router
from ctrlready.logging import bind_user
from notify.api import router as notify_router
from probes.api import router as probes_router

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
NOT_SIGNED_IN = "Sign in, or send an API token as `Authorization: Bearer <token>` (see `manage.py create_api_token`)."
BAD_TOKEN = "This API token is not valid (revoked, or never issued) or its user is inactive; make a new one at /tokens/."
EXPIRED_TOKEN = "This API token expired on {when:%Y-%m-%d %H:%M} UTC; make a new one at /tokens/."
READ_ONLY_TOKEN = "This API token may only read (its scope is `read`); use a token with the `write` scope to change anything."
NOT_FOUND = "There is nothing at this address; check the id or key in the URL."
CSRF_FAILED = "The CSRF check failed: send the `csrftoken` cookie's value in the `X-CSRFToken` header, or use an API token."


class TokenOrSession(HttpBearer):
    """A bearer token if one is sent, else the browser session (CSRF-checked on unsafe methods)."""

    def __call__(self, request: HttpRequest):
        return authenticated_user(request)

    def authenticate(self, request: HttpRequest, token: str):  # pragma: no cover - __call__ does the work
        return api_token_user(token)


def authenticated_user(request: HttpRequest):
    """The person making the request; raises AuthenticationError (401) or HttpError (403 for CSRF)."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise AuthenticationError(message="Send the token as `Authorization: Bearer <token>`.")
        token = api_token_find(raw)
        if token is None or not token.user.is_active:
            raise AuthenticationError(message=BAD_TOKEN)
        if token.expired_at(timezone.now()):
            raise AuthenticationError(message=EXPIRED_TOKEN.format(when=token.expires_at))
        # The one place a token's scope is decided: a `read` token never reaches a write operation.
        if token.scope == ApiToken.Scope.READ and request.method not in SAFE_METHODS:
            raise HttpError(403, READ_ONLY_TOKEN)
        user = token.user
        request.user = user
    else:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            raise AuthenticationError(message=NOT_SIGNED_IN)
        if request.method not in SAFE_METHODS and not getattr(request, "_ninja_csrf_exempt", False):
            if check_csrf(request) is not None:
                raise HttpError(403, CSRF_FAILED)
    bind_user(user.get_username())
    return user


def _login_required_json(view):
    """For the schema and docs pages, which ninja serves outside the operations' auth."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            authenticated_user(request)
        except HttpError as error:
            return JsonResponse({"error": error.message}, status=error.status_code)
        return view(request, *args, **kwargs)

    return wrapper


def _json_method_not_allowed(view):
    """ninja answers a wrong method with a plain-text 405; answer it in the API's error shape."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            response = JsonResponse(
                {"error": f"{request.method} is not allowed here; this address answers {allowed}."}, status=405
            )
            response["Allow"] = allowed
        return response

    return wrapper


class CtrlreadyAPI(NinjaAPI):
    def _get_urls(self):
        patterns = super()._get_urls()
        for pattern in patterns:
            pattern.callback = _json_method_not_allowed(pattern.callback)
        return patterns


api = CtrlreadyAPI(
    title="ctrlready",
    version="1",
    description="Go-live readiness checklists: import them, track deployments against them, sign off.",
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
    docs_decorator=_login_required_json,
    auth=TokenOrSession(),
)


def error_response(request, message: str, status: int, **extra):
    return api.create_response(request, {"error": message, **extra}, status=status)


@api.exception_handler(DomainError)
def _domain_error(request, exc: DomainError):
    return error_response(request, exc.message, exc.status, **exc.extra)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc: AuthenticationError):
    message = exc.message if exc.message != "Unauthorized" else NOT_SIGNED_IN
    response = error_response(request, message, 401)
    response["WWW-Authenticate"] = 'Bearer realm="ctrlready"'
    return response


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    message = exc.message
    if exc.status_code == 400 and message.startswith("Cannot parse request body"):
        message = "The request body is not valid JSON; send a JSON object with `Content-Type: application/json`."
    return error_response(request, message, exc.status_code)


def _field_name(loc) -> str:
    # ("body", "payload", "ssh", "port") → "ssh.port"; ("query", "status") → "status"
    # A member of a union (`ssh` as one host or a list) shows in pydantic's path as its type: left out.
    parts = [str(part) for part in loc[1:] if not re.match(r"(function-\w+|list|dict|\w+-\w+)\[", str(part))]
    if loc and loc[0] == "body" and len(parts) > 1:
        parts = parts[1:]
    return excerpt(".".join(parts) or str(loc[0] if loc else "body"))


def _sentence(error: dict) -> str:
    field = _field_name(error.get("loc", ()))
    if error.get("type") == "missing":
        return f"`{field}` is required."
    message = excerpt(str(error.get("msg", "is not valid")), 200).rstrip(".")
    return f"`{field}` is not valid: {message[:1].lower() + message[1:]}."


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    errors = [{"field": _field_name(error.get("loc", ())), "message": _sentence(error)} for error in exc.errors]
    if not errors:
        return error_response(request, "The request is not valid.", 400)
    return error_response(request, errors[0]["message"], 400, errors=errors)


@api.exception_handler(Http404)
def _not_found(request, exc: Http404):
    return error_response(request, NOT_FOUND, 404)


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc: PermissionDenied):
    return error_response(request, str(exc) or "You may not do this; ask an admin for the role it needs.", 403)


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc: RequestDataTooBig):
    return error_response(request, "The request body is too large; a checklist may be at most 2 MB.", 413)


@api.exception_handler(Exception)
def _unexpected(request, exc: Exception):
    logger.exception("API call failed: %s %s", request.method, request.path)
    request_id = getattr(request, "request_id", "")
    return error_response(
        request, f"Something went wrong on our side; it is logged under request id {request_id}. Try again later.", 500
    )


api.add_router("", checklists_router, tags=["checklists and deployments"])
api.add_router("", environments_router, tags=["environments"])
api.add_router("", probes_router, tags=["probe runs"])
api.add_router("", teams_router, tags=["teams"])
api.add_router("", tokens_router, tags=["API tokens"])
api.add_router("", notify_router, tags=["notifications"])

_fallback = Router()


@_fallback.api_operation(["GET", "POST", "PUT", "PATCH", "DELETE"], "/{path:rest}", include_in_schema=False)
def unknown_endpoint(request, rest: str):
    raise Http404(rest)


api.add_router("", _fallback)
