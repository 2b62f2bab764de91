"""Writes on vendor accounts."""

from __future__ import annotations

from django.db import transaction

from recordings_portal.lib.http import vendor_client
from recordings_portal.lib.safe_urls import UnsafeURL, validate_base_url

from . import crypto
from .connectors.base import AuthFailed, ConnectorError, RateLimited
from .connectors.registry import connector_for
from .health import account_flag_auth_failed, account_mark_failing, account_mark_healthy
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
    try:
        current = account.get_secrets()
    except crypto.CredentialsUnreadable:
        # The key is lost: entering every credential again is the way out, so allow it.
        current = {}
    merged = {**current, **{k: v for k, v in (secrets or {}).items() if v}}
    account.base_url = _validated(account.kind, account.base_url, account.config, merged)
    if merged != current:
        account.set_secrets(merged)
        changed.append("secrets")
    if changed:
        account.save()
    return changed


def account_test_connection(account: VendorAccount) -> tuple[bool, str]:
    """Ask the vendor to prove the credentials work; (ok, what to tell the admin).

    The account's health records the outcome, as a sync would.
    """
    try:
        with vendor_client() as client:
            message = connector_for(account, client).check()
    except crypto.CredentialsUnreadable as exc:
        account_mark_failing(account, str(exc))
        return False, str(exc)
    except AuthFailed as exc:
        account_flag_auth_failed(account, exc.message)
        return False, account.last_error
    except RateLimited as exc:
        message = f"{exc.message} Try again in {max(1, round(exc.retry_after))} seconds."
        account_mark_failing(account, message)
        return False, message
    except ConnectorError as exc:
        hint = "" if exc.permanent else " Check the base URL and that the vendor is reachable."
        account_mark_failing(account, exc.message + hint)
        return False, exc.message + hint
    account_mark_healthy(account)
    return True, message


class QueueUnavailable(Exception):
    """The task queue refused a sync; the run was cancelled rather than left queued."""


def account_sync_start(
    account: VendorAccount, *, trigger: str, user=None, request=None, enqueue: bool = True
):
    """Queue a sync and log who asked for it; None when one is already queued or running.

    The task is sent after the run is committed. If the broker refuses it, the run is cancelled
    and QueueUnavailable raised: a queued run whose message was lost would block every later
    sync of the account.
    """
    from recordings_portal.audit.log import record
    from recordings_portal.catalog.models import SyncRun
    from recordings_portal.catalog.services.sync import sync_cancel, sync_request

    run = None
    try:
        with transaction.atomic():
            run = sync_request(account, trigger=trigger, user=user, enqueue=enqueue)
            if run is not None:
                details = {"run": run.pk, "trigger": trigger}
                record("vendor_account.sync", request=request, obj=account, details=details)
    except Exception as exc:
        if run is None or not SyncRun.objects.filter(pk=run.pk).exists():
            raise  # not the queue: nothing was committed
        sync_cancel(run)
        raise QueueUnavailable(
            f"The task queue cannot be reached ({exc}), so the sync was not started. "
            "Check that the broker and the workers are running, then try again."
        ) from exc
    return run
