"""API tokens: made once, shown once, stored only as their sha256.

A token carries no roles of its own: it acts with its owner's roles of the moment, so a person who
loses a role takes their tokens' rights with them. Its scope (`read` or `write`) can only narrow that.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from core.errors import InvalidInput, NotFound
from core.models import ApiToken

PREFIX = "cr_"
#: `last_used_at` is written at most this often per token, so reads do not become writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_EXPIRY_DAYS = 3650


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def api_token_expiry(days: int | None) -> datetime | None:
    """When a token made now for `days` days expires; None (never) when no days are given."""
    if days is None:
        return None
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise InvalidInput(f"A token expires after 1 to {MAX_EXPIRY_DAYS} days; leave it empty for no expiry.")
    return timezone.now() + timedelta(days=days)


def api_token_create(
    *, user, name: str = "", scope: str = ApiToken.Scope.WRITE, expires_at: datetime | None = None
) -> str:
    """Create a token for `user` and return it; this is the only time it can be read."""
    if scope not in ApiToken.Scope.values:
        raise InvalidInput(f"A token's scope is `read` or `write`, not {scope!r}.")
    raw = PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(
        user=user, name=name[:100], prefix=raw[:12], key_hash=_hash(raw), scope=scope, expires_at=expires_at
    )
    return raw


def api_token_find(raw: str) -> ApiToken | None:
    """The token `raw` is, with its user (one query), whatever its state; None if there is no such token.

    Marks it used, at most once a minute. The caller decides what an expired token or inactive user means.
    """
    raw = (raw or "").strip()
    if not raw or len(raw) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=_hash(raw)).first()
    if token is None:
        return None
    now = timezone.now()
    if token.usable_at(now) and (token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION):
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
    return token


def api_token_user(raw: str):
    """The active user a token that has not expired belongs to, or None."""
    token = api_token_find(raw)
    return token.user if token is not None and token.usable_at(timezone.now()) else None


def api_tokens_of(user) -> list[ApiToken]:
    """A person's own tokens, newest first."""
    return list(ApiToken.objects.filter(user=user).order_by("-created_at", "-id"))


def api_token_revoke(*, user, token_id: int) -> None:
    """Delete one of `user`'s own tokens; another person's is as good as missing."""
    deleted, _ = ApiToken.objects.filter(pk=token_id, user=user).delete()
    if not deleted:
        raise NotFound("You have no API token with this id; see your tokens at /tokens/.")
