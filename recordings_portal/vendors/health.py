"""What the account list shows about each vendor connection, written as things happen."""

from __future__ import annotations

from django.utils import timezone

from .models import Health, VendorAccount


def _set(account: VendorAccount, health: str, error: str = "") -> None:
    now = timezone.now()
    VendorAccount.objects.filter(id=account.id).update(
        health=health, last_error=error[:2000], health_checked_at=now
    )
    account.health, account.last_error, account.health_checked_at = health, error, now


def account_flag_auth_failed(account: VendorAccount, message: str) -> None:
    _set(account, Health.AUTH_FAILED, f"{message} Update the credentials, then test again.")


def account_mark_healthy(account: VendorAccount) -> None:
    _set(account, Health.OK)


def account_mark_failing(account: VendorAccount, message: str) -> None:
    _set(account, Health.FAILING, message)


def account_mark_degraded(account: VendorAccount, message: str) -> None:
    _set(account, Health.DEGRADED, message)
