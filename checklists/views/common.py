"""What every page shares: who may see it, where to go back to, and how a refused action is shown."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme

from core import roles
from core.errors import DomainError, InvalidInput


def signed_in(view):
    """Logged in; any DomainError the view raises becomes its page.

    For pages of one team's thing (a deployment, an environment, a service): the view reads it through
    `selectors.*_for`, which answers 404 to someone who may not see it and 403 to someone who may only read it.
    Every answer is `Cache-Control: no-store`: the pages show state that changes, and Back must not show a
    page from before a tick.
    """

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            response = view(request, *args, **kwargs)
        except DomainError as error:
            response = error_response(request, error)
        add_never_cache_headers(response)
        return response

    return wrapper


def viewer_required(view):
    """Logged in and in a role somewhere (a team's, or site-wide): for pages every team shares (the dashboard,
    checklists), which show each person what they may read."""

    @signed_in
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        roles.require(request.user, "read", team=roles.ANY)
        return view(request, *args, **kwargs)

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


def permissions(user, *, team) -> dict:
    """What `user` may do on a thing of `team`, for templates: `can.tick`, `can.manage`…"""
    return {
        action: roles.can(user, action, team=team)
        for action in ("tick", "run", "waive", "signoff", "reopen", "manage", "assign", "comment")
    }
