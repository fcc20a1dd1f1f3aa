"""A person's own account: their API tokens (made, shown once, revoked)."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import DomainError
from core.models import ApiToken
from core.tokens import MAX_EXPIRY_DAYS, api_token_create, api_token_expiry, api_token_revoke, api_tokens_of


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
