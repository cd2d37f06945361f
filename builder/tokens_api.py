"""``/api/tokens``: my personal API tokens (builder/tokens.py): list, make, revoke.

A token is shown once, in the answer that makes it; the list shows its name, first
characters and times, never the token or its hash. Making and revoking take a logged-in
session (with CSRF): a request with a token answers 403, so a leaked token cannot make
itself more tokens nor revoke its owner's others. Another user's token is a 404.
"""

from __future__ import annotations

from datetime import datetime

from django.shortcuts import get_object_or_404
from ninja import Field, Path, Router, Schema, Status
from ninja.errors import HttpError

from . import tokens
from .models import ApiToken
from .schemas import MAX_INT, NO_NUL, ErrorsOut

router = Router(tags=["tokens"])
ERRORS = {400: ErrorsOut, 401: ErrorsOut, 403: ErrorsOut, 404: ErrorsOut, 413: ErrorsOut, 422: ErrorsOut}
TOKEN_ID = Path(..., ge=1, le=MAX_INT)
SESSION_ONLY = "tokens are made and revoked from a logged-in session (the Tokens page), not with a token"


class ApiTokenIn(Schema):
    name: str = Field(min_length=1, max_length=100, pattern=NO_NUL, description="unique among your tokens")
    expires_in_days: int | None = Field(default=None, ge=1, le=tokens.MAX_DAYS,
                                        description="it stops working after that many days (none: never)")


class ApiTokenOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="the token's first characters, to recognise it")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="exact to a minute")
    revoked_at: datetime | None
    active: bool


class NewApiTokenOut(ApiTokenOut):
    token: str = Field(description="the token itself: shown this once, never again")


def out(token: ApiToken, now: datetime | None = None) -> dict:
    """A token as the API and the page show it (never its hash)."""
    from django.utils import timezone

    now = now or timezone.now()
    active = token.revoked_at is None and (token.expires_at is None or token.expires_at > now)
    return {"id": token.pk, "name": token.name, "prefix": token.prefix, "created_at": token.created_at,
            "expires_at": token.expires_at, "last_used_at": token.last_used_at, "revoked_at": token.revoked_at,
            "active": active}


def _session_only(request) -> None:
    if tokens.by_token(request) is not None:
        raise HttpError(403, SESSION_ONLY)


@router.get("", response={200: list[ApiTokenOut], **ERRORS})
def list_tokens(request):
    """My tokens, newest first, revoked and expired ones too."""
    return [out(t) for t in ApiToken.objects.filter(owner=request.user)[:500]]


@router.post("", response={201: NewApiTokenOut, 409: ErrorsOut, **ERRORS})
def make_token(request, body: ApiTokenIn):
    """Make a token (session only): the answer holds it, the only time it is shown."""
    _session_only(request)
    try:
        row, plain = tokens.make(request.user, body.name, tokens.expiry(body.expires_in_days))
    except tokens.TokenError as exc:
        return Status(409, {"detail": str(exc)})
    return Status(201, {**out(row), "token": plain})


@router.delete("/{int:token_id}", response={200: ApiTokenOut, **ERRORS})
def revoke_token(request, token_id: int = TOKEN_ID):
    """Revoke one of my tokens (session only); it stops working at once."""
    _session_only(request)
    return out(tokens.revoke(get_object_or_404(ApiToken, owner=request.user, pk=token_id)))
