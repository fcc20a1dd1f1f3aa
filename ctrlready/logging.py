"""Log lines: every one carries the request id and the user, and none carries a secret."""

import contextvars
import logging
import re
import uuid

from probes.runners.redaction import held_redactor

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_user: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="-")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(record, "request_id", None) or _request_id.get()
        record.user = getattr(record, "user", None) or _user.get()
        if not isinstance(record.user, str):
            record.user = str(record.user)
        return True


#: Attributes of a record that are never a secret (they name the code that logged).
_FIXED_FIELDS = frozenset(
    {"name", "levelname", "pathname", "filename", "module", "funcName", "processName", "threadName", "taskName"}
)


class SecretRedactionFilter(logging.Filter):
    """Masks the secrets of the probe batches in flight in every record, whichever path it came by.

    The message is formatted and redacted here (its arguments dropped), and so is a traceback, which
    is formatted now so no formatter can print the raw exception later.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = held_redactor()
        if not redactor:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it for the handler to report
            return True
        record.msg, record.args = redactor.text(message), None
        if record.exc_info:
            record.exc_text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redactor.text(record.exc_text)
        if record.stack_info:
            record.stack_info = redactor.text(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _FIXED_FIELDS and key not in ("msg", "exc_text", "stack_info"):
                if isinstance(value, (str, dict, list, tuple)):
                    setattr(record, key, redactor(value))
        return True


class RequestIdMiddleware:
    """Takes `X-Request-ID` from the proxy (or makes one) and echoes it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        # Set, not reset afterwards: Django logs a 4xx/5xx (django.request) after the middleware
        # chain has returned, and that line must still carry this request's id and user.
        _request_id.set(request_id)
        user = getattr(request, "user", None)
        _user.set(user.get_username() if user is not None and user.is_authenticated else "-")
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def bind_user(username: str) -> None:
    """Called once the user is known (session or API token)."""
    _user.set(username or "-")
