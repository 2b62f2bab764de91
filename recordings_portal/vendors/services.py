"""Writes on vendor accounts."""

from __future__ import annotations

from django.db import transaction

from recordings_portal.lib.safe_urls import UnsafeURL, validate_base_url

from . import crypto
from .kinds import KINDS, validate_config, validate_secrets
from .models import VendorAccount


def accounts_rotate_encryption() -> tuple[int, list[str]]:
    """Re-encrypt every account's credentials under the newest key.

    Returns (rotated count, names that could not be decrypted with any key); each row is its
    own transaction, so one unreadable account does not block the others.
    """
    rotated, unreadable = 0, []
    for account_id in VendorAccount.objects.values_list("id", flat=True):
        with transaction.atomic():
            account = VendorAccount.objects.select_for_update().get(id=account_id)
            try:
                account.secrets_encrypted = crypto.rotate(account.secrets_encrypted)
            except crypto.CredentialsUnreadable:
                unreadable.append(account.name)
                continue
            account.save(update_fields=["secrets_encrypted", "updated_at"])
            rotated += 1
    return rotated, unreadable


class AccountInvalid(ValueError):
    """What is wrong with an account's settings, field by field."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))


def _validated(kind: str, base_url: str, config: dict, secrets: dict) -> str:
    errors = {**validate_config(kind, config)}
    if kind in KINDS:
        errors.update(validate_secrets(kind, secrets))
    try:
        base_url = validate_base_url(base_url)
    except UnsafeURL as exc:
        errors["base_url"] = str(exc)
    if errors:
        raise AccountInvalid(errors)
    return base_url


@transaction.atomic
def account_create(
    *,
    name: str,
    kind: str,
    base_url: str,
    config: dict | None = None,
    secrets: dict | None = None,
    sync_interval_minutes: int = 60,
    enabled: bool = True,
) -> VendorAccount:
    config, secrets = config or {}, {k: v for k, v in (secrets or {}).items() if v}
    base_url = _validated(kind, base_url, config, secrets)
    if VendorAccount.objects.filter(name=name).exists():
        raise AccountInvalid({"name": f"An account named {name!r} exists already."})
    account = VendorAccount(
        name=name,
        kind=kind,
        base_url=base_url,
        config=config,
        sync_interval_minutes=sync_interval_minutes,
        enabled=enabled,
    )
    account.set_secrets(secrets)
    account.save()
    return account


@transaction.atomic
def account_update(account: VendorAccount, *, secrets: dict | None = None, **fields) -> list[str]:
    """Change settings; secrets given blank keep their stored value. Returns the changed names."""
    changed = []
    for name, value in fields.items():
        if getattr(account, name) != value:
            setattr(account, name, value)
            changed.append(name)
    current = account.get_secrets()
    merged = {**current, **{k: v for k, v in (secrets or {}).items() if v}}
    account.base_url = _validated(account.kind, account.base_url, account.config, merged)
    if merged != current:
        account.set_secrets(merged)
        changed.append("secrets")
    if changed:
        account.save()
    return changed
