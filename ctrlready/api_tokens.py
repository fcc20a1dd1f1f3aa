"""JSON API for one's own API tokens: list them, revoke one. Tokens are made on the /tokens/ page or with
`manage.py create_api_token`; the API never shows a token's secret."""

from datetime import datetime

from ninja import Router, Schema, Status

from core.tokens import api_token_revoke, api_tokens_of

router = Router()


class ErrorOut(Schema):
    error: str


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


class TokenListOut(Schema):
    tokens: list[TokenOut]


@router.get("tokens", response={200: TokenListOut, 401: ErrorOut})
def tokens_list(request):
    """The caller's own API tokens, newest first: name, prefix, scope, created, last used, expires."""
    return {"tokens": api_tokens_of(request.auth)}


@router.delete("tokens/{int:token_id}", response={204: None, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut})
def token_revoke(request, token_id: int):
    """Revoke one of the caller's own tokens at once; another person's token answers 404."""
    api_token_revoke(user=request.auth, token_id=token_id)
    return Status(204, None)
