"""Creating, revoking and checking API tokens.

A token is 256 random bits; the database keeps only its sha256. A fast hash is enough here (no
password stretching): the input is random, so there is nothing to guess from the digest.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .models import ApiToken

TOKEN_PREFIX = "rpt_"  # noqa: S105 - not a secret: recognisable in logs and by secret scanners
SHOWN_PREFIX = 12  # characters kept in clear to tell tokens apart
MAX_TOKEN_LENGTH = 128
MAX_ACTIVE_TOKENS = 10
# last_used_at is written at most this often per token, not on every call.
LAST_USED_PRECISION = timedelta(minutes=1)


class TokenLimitReached(Exception):
    pass


class TokenRefused(Exception):
    """Why a token does not authenticate; token_id names it when it is one of ours."""

    def __init__(self, reason: str, token_id: int | None = None):
        super().__init__(reason)
        self.token_id = token_id


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`: the row, and the token itself (never stored, shown once)."""
    if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_ACTIVE_TOKENS:
        raise TokenLimitReached(
            f"You already have {MAX_ACTIVE_TOKENS} active tokens. Revoke one you no longer use."
        )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name.strip(), prefix=raw[:SHOWN_PREFIX], digest=digest(raw)
    )
    return token, raw


def token_revoke(*, token: ApiToken) -> bool:
    """Revoke a token; False when it already was."""
    now = timezone.now()
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    if changed:
        token.revoked_at = now
    return bool(changed)


def token_authenticate(raw: str) -> ApiToken:
    """The active token `raw` is, with its user loaded; raises TokenRefused otherwise."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > MAX_TOKEN_LENGTH:
        raise TokenRefused("This is not an API token of this portal.")
    token = ApiToken.objects.select_related("user").filter(digest=digest(raw)).first()
    if token is None:
        raise TokenRefused("Unknown API token.")
    if token.revoked_at is not None:
        raise TokenRefused("This API token was revoked.", token.pk)
    if not token.user.is_active:
        raise TokenRefused("The user of this API token is deactivated.", token.pk)
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
