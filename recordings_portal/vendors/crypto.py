"""Vendor credentials encrypted at rest with Fernet, rotatable with MultiFernet.

FERNET_KEYS lists keys newest first: the first encrypts, all of them decrypt. Rotation is
"put a new key in front, run rotate_encryption_keys, then drop the old key".
"""

from __future__ import annotations

import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver


class CredentialsUnreadable(Exception):
    """Stored credentials cannot be decrypted with any configured key."""

    def __init__(self):
        super().__init__(
            "The stored credentials cannot be decrypted with the configured FERNET_KEYS. "
            "Restore the key they were encrypted with, or enter the credentials again."
        )


class EncryptionNotConfigured(Exception):
    pass


@cache
def _multifernet() -> MultiFernet:
    keys = settings.FERNET_KEYS
    if not keys:
        raise EncryptionNotConfigured("FERNET_KEYS is empty: no key to encrypt credentials with.")
    return MultiFernet([Fernet(key) for key in keys])


@receiver(setting_changed)
def _forget_keys(*, setting, **kwargs):
    if setting == "FERNET_KEYS":
        _multifernet.cache_clear()


def encrypt(values: dict[str, str]) -> str:
    payload = json.dumps(values, sort_keys=True).encode()
    return _multifernet().encrypt(payload).decode()


def decrypt(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(_multifernet().decrypt(token.encode()))
    except InvalidToken:
        raise CredentialsUnreadable() from None


def rotate(token: str) -> str:
    """The same plaintext, encrypted under the newest key."""
    if not token:
        return token
    try:
        return _multifernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise CredentialsUnreadable() from None


def mask(secret: str) -> str:
    """Enough to recognise a secret, never enough to use it: ••••3aex."""
    if not secret:
        return ""
    return "••••" + (secret[-4:] if len(secret) >= 12 else "")
