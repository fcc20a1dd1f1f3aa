"""Signing in, and a person's own account.

- Password sign-in (Django's), throttled by django-axes: `CTRLREADY_LOGIN_ATTEMPTS` failures within 15
  minutes lock that username from that address, and the page says until when. Only password sign-ins
  count and are refused: API tokens never pass through here, and single sign-on is exempt.
- `CTRLREADY_PASSWORD_LOGIN` off leaves single sign-on alone: no form, and a password POST is refused.
- The person's API tokens: made (shown once), listed, revoked.
"""

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django import forms
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Max
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import DomainError
from core.models import ApiToken
from core.tokens import MAX_EXPIRY_DAYS, api_token_create, api_token_expiry, api_token_revoke, api_tokens_of
from ctrlready.sso import configured

PASSWORD_LOGIN_OFF = "Password sign-in is switched off here; use “Sign in with single sign-on”."


def client_ip(request) -> str | None:
    """The client's address: the connection's, or with `CTRLREADY_PROXY_HOPS` = N the N-th address from the
    right of X-Forwarded-For (each trusted proxy appends the address it was connected from)."""
    hops = settings.CTRLREADY_PROXY_HOPS
    if hops > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-hops] if len(forwarded) >= hops else forwarded[0]
    return request.META.get("REMOTE_ADDR")


def not_a_password_sign_in(request, credentials) -> bool:
    """Throttling counts and refuses password sign-ins only (single sign-on's callback sends no password)."""
    return not (credentials or {}).get("password")


class LoginThrottleBackend(AxesStandaloneBackend):
    """Refuses a password sign-in while its username is locked out from the client's address."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None or password is None:
            return None  # not a password sign-in from a browser: nothing to throttle
        return super().authenticate(request, username=username, password=password, **kwargs)


class PasswordBackend(ModelBackend):
    """Django's username and password, unless `CTRLREADY_PASSWORD_LOGIN` is off."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not settings.CTRLREADY_PASSWORD_LOGIN:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_sentence(request, credentials) -> str:
    username = get_client_username(request, credentials) or ""
    last = AccessAttempt.objects.filter(username=username, ip_address=client_ip(request)).aggregate(
        last=Max("attempt_time")
    )["last"]
    until = (last or timezone.now()) + settings.AXES_COOLOFF_TIME
    minutes = max(1, round((until - timezone.now()).total_seconds() / 60))
    return (
        f"Too many failed sign-ins as {username} from your address: try again after {until:%H:%M} UTC "
        f"(in about {minutes} minute{'s' if minutes != 1 else ''}), or ask an admin to lift the lock."
    )


def locked_out(request, original_response=None, credentials=None):
    """What django-axes answers a locked-out password sign-in: the sign-in page with the sentence, 429."""
    context = {
        "form": AuthenticationForm(request, initial={"username": get_client_username(request, credentials)}),
        "lockout": lockout_sentence(request, credentials),
        "sso": configured(),
        "password_login": settings.CTRLREADY_PASSWORD_LOGIN,
        "next": request.POST.get("next", ""),
    }
    return render(request, "registration/login.html", context, status=429)


class LoginView(auth_views.LoginView):
    """Django's sign-in page, with the single sign-on link when configured and without the password form
    when password sign-in is off."""

    def post(self, request, *args, **kwargs):
        if not settings.CTRLREADY_PASSWORD_LOGIN:
            context = self.get_context_data(form=self.get_form(), refused=PASSWORD_LOGIN_OFF)
            return self.render_to_response(context, status=403)
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            sso=configured(), password_login=settings.CTRLREADY_PASSWORD_LOGIN, **kwargs
        )


class TokenForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, help_text="What it is for, e.g. ci-pipeline.")
    scope = forms.ChoiceField(label="Scope", choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ)
    expires_days = forms.IntegerField(label="Expires after (days)", required=False, min_value=1, max_value=MAX_EXPIRY_DAYS)


def _page(request, *, form, new_token: str = "", error: str = "", status: int = 200):
    context = {"tokens": api_tokens_of(request.user), "form": form, "new_token": new_token, "error": error}
    return render(request, "accounts/tokens.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    """The person's API tokens; a POST makes one and shows it this once."""
    if request.method == "GET":
        return _page(request, form=TokenForm())
    form = TokenForm(request.POST)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        label = form.fields[field].label if field in form.fields else ""
        return _page(request, form=form, error=f"{label}: {' '.join(errors)}", status=400)
    try:
        raw = api_token_create(
            user=request.user,
            name=form.cleaned_data["name"],
            scope=form.cleaned_data["scope"],
            expires_at=api_token_expiry(form.cleaned_data["expires_days"]),
        )
    except DomainError as error:
        return _page(request, form=form, error=error.message, status=error.status)
    return _page(request, form=TokenForm(), new_token=raw, status=201)


@login_required
@require_POST
def token_revoke(request, pk: int):
    try:
        api_token_revoke(user=request.user, token_id=pk)
    except DomainError as error:
        return _page(request, form=TokenForm(), error=error.message, status=error.status)
    return redirect("tokens")
