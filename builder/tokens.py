"""Personal API tokens: ``Authorization: Bearer wfb_…`` acts as the token's owner on ``/api/``.

A token is ``wfb_`` and 43 random URL-safe characters (``secrets.token_urlsafe(32)``: 256
bits); it is shown once, when it is made, and only its sha256 is stored, so a token is found
by the hash of what a request sends (one indexed lookup, no comparison of secrets in Python).
A revoked or expired token, or one whose owner is inactive, is no token. Tokens are never
logged: only their name and first characters (``prefix``) are shown anywhere.

``last_used_at`` is written at most once a minute per token (``USE_EVERY``): a script that
polls a run every second costs one UPDATE a minute, not one a request. So "last used" is
exact to a minute.

Bearer requests need no CSRF token (no browser sends the header by itself); the API's
session auth still checks CSRF on writes (builder/api.py: the bearer check comes first, and
a request with no bearer header is the session's). A bad bearer token answers 401, whatever
session cookie comes with it. Tokens cannot make or revoke tokens (builder/tokens_api.py).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from .models import ApiToken, Origin

PREFIX = "wfb_"
SHOWN = 12  # characters kept in ``prefix``: "wfb_" and 8 random ones
MAX_LENGTH = 200  # a longer value is refused before it is hashed
USE_EVERY = timedelta(minutes=1)
MAX_TOKENS = 100  # a user's tokens that are not revoked
MAX_DAYS = 3650


class TokenError(ValueError):
    """A token cannot be made (its name is taken, too many tokens, a bad expiry)."""


def digest(plain: str) -> str:
    """The stored form of a token: its sha256, hex."""
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


def make(owner, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token of ``owner``: the row and the plain token, which nothing keeps (show it once).
    A revoked token's name may be used again (the revoked row goes)."""
    name = (name or "").strip()
    if not name or len(name) > 100 or "\x00" in name:
        raise TokenError("a token's name is 1 to 100 characters")
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenError("the expiry must be in the future")
    plain = PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            mine = ApiToken.objects.filter(owner=owner)
            if mine.filter(name=name, revoked_at__isnull=True).exists():
                raise TokenError(f"you already have a token named '{name}'")
            if mine.filter(revoked_at__isnull=True).count() >= MAX_TOKENS:
                raise TokenError(f"you have {MAX_TOKENS} tokens already: revoke one first")
            mine.filter(name=name).delete()  # a revoked one of that name
            row = ApiToken.objects.create(owner=owner, name=name, token_hash=digest(plain), prefix=plain[:SHOWN],
                                          expires_at=expires_at)
    except IntegrityError:  # the same name, made at the same moment
        raise TokenError(f"you already have a token named '{name}'") from None
    return row, plain


def expiry(days: int | None, now: datetime | None = None) -> datetime | None:
    """The expiry of a token made now that lasts ``days`` (None: it never expires)."""
    if days is None:
        return None
    if not 1 <= days <= MAX_DAYS:
        raise TokenError(f"a token lasts 1 to {MAX_DAYS} days")
    return (now or timezone.now()) + timedelta(days=days)


def revoke(token: ApiToken) -> ApiToken:
    """Revoke a token (at once, for every request after this one); revoking twice keeps the first time."""
    if token.revoked_at is None:
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        token.refresh_from_db(fields=["revoked_at"])
    return token


def check(plain: str | None, now: datetime | None = None) -> ApiToken | None:
    """The live token (its owner loaded) that ``plain`` is, or None; marks it used."""
    if not plain or len(plain) > MAX_LENGTH or not plain.startswith(PREFIX) or not plain.isascii():
        return None  # malformed: no query
    token = ApiToken.objects.select_related("owner").filter(token_hash=digest(plain)).first()
    now = now or timezone.now()
    if (token is None or token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now)
            or not token.owner.is_active):
        return None
    if token.last_used_at is None or now - token.last_used_at >= USE_EVERY:
        # conditional: of the requests of one minute, across processes, only one writes
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - USE_EVERY)).update(last_used_at=now)
        token.last_used_at = now
    return token


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` value; None for another scheme or none."""
    scheme, _, value = (header or "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def authenticate(header: str | None) -> object | None:
    """The user an ``Authorization`` header's bearer token acts for, or None."""
    token = check(bearer(header))
    return token.owner if token is not None else None


class TokenAuth(HttpBearer):
    """django-ninja auth: a bearer token acts as its owner (``request.user``; ``request.auth``
    is the ApiToken). No bearer header: None, the next auth's turn (the session's); a bearer
    header with a bad token: 401, never the session's turn."""

    def __call__(self, request):
        plain = bearer(request.headers.get("Authorization"))
        if plain is None:
            return None
        token = check(plain)
        if token is None:
            raise AuthenticationError()
        request.user = token.owner
        request._cached_user = token.owner

        async def auser():
            return token.owner
        request.auser = auser
        return token

    def authenticate(self, request, token):  # the base class's hook; __call__ does the work
        return check(token)


def by_token(request) -> ApiToken | None:
    """The token a request came with (None: a session)."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiToken) else None


def origin(request) -> dict:
    """``create_run`` arguments for a run a request starts: origin "api" with the token's name
    when it came with a token, else nothing (the default origin)."""
    token = by_token(request)
    return {"origin": Origin.API, "origin_detail": {"token": token.name}} if token is not None else {}
