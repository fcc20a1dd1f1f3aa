"""What every page shares: who may see it, where to go back to, and how a refused action is shown."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from core import roles
from core.errors import DomainError, InvalidInput


def viewer_required(view):
    """Logged in and in a role (viewer or above); any DomainError the view raises becomes its page."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            roles.require(request.user, "read")
            return view(request, *args, **kwargs)
        except DomainError as error:
            return error_response(request, error)

    return wrapper


def error_response(request, error: DomainError):
    """The error's sentence with its status: a small fragment for htmx, a page otherwise."""
    context = {"error": error, "back": next_url(request, default="")}
    if request.htmx:
        return render(request, "error.html#message", context, status=error.status)
    return render(request, "error.html", context, status=error.status)


def next_url(request, *, default: str) -> str:
    """Where to go after a POST: the form's `next` if it is on this site, else `default`."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def form_error(form) -> InvalidInput:
    """The first problem of an invalid form, as a sentence naming the field."""
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        message = " ".join(str(error) for error in errors)
        return InvalidInput(f"{label}: {message}" if label else message)
    return InvalidInput("The form is not valid.")


def permissions(user) -> dict:
    return {
        action: roles.can(user, action)
        for action in ("tick", "run", "waive", "signoff", "reopen", "manage", "assign", "comment")
    }
