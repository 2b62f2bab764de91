"""Warning before a vendor deletes recordings the portal has not stored yet.

Some vendors delete recordings by themselves (Audian after 30 days; each kind's retention_days
in vendors/kinds.py). A recording still waiting for its download on that day is lost, so its
account is flagged degraded WARNING_DAYS before, naming the recordings, and the flag clears
once none remain. Any kind with retention_days set is watched; nothing here is vendor-specific.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from recordings_portal.catalog.models import Recording, RecordingState
from recordings_portal.vendors.health import account_mark_degraded, account_mark_healthy
from recordings_portal.vendors.kinds import KINDS
from recordings_portal.vendors.models import Health, VendorAccount

log = logging.getLogger(__name__)

WARNING_DAYS = 5
NAMED = 5  # recordings named in the message; the rest are counted
# A failed row whose vendor copy is gone ("gone": the download found none; "failed": the vendor
# never produced one) cannot be saved by anyone: it is no reason to warn.
UNSAVEABLE_VENDOR_STATES = ("gone", "failed")
# How the account's own message is recognised when it is time to clear it.
MARKERS = ("not downloaded yet", "never downloaded")
# Worse states say why nothing downloads (refused credentials): the warning must not hide them.
OVERRIDABLE = (Health.UNKNOWN, Health.OK, Health.DEGRADED)


def not_stored(account: VendorAccount) -> QuerySet[Recording]:
    """The account's recordings with no stored file that a download could still fetch."""
    waiting = Q(state__in=[RecordingState.DISCOVERED, RecordingState.DOWNLOADING])
    retryable = Q(state=RecordingState.FAILED) & ~Q(vendor_state__in=UNSAVEABLE_VENDOR_STATES)
    return Recording.objects.filter(waiting | retryable, account=account, storage_key="")


def older_than(moment: datetime) -> Q:
    # The vendor's own time (started_at, a little before the vendor's created_at: warning a
    # call's length early is harmless); rows without one count from when the portal found them.
    return Q(started_at__lt=moment) | Q(started_at__isnull=True, created_at__lt=moment)


def retention_check(account: VendorAccount, now: datetime | None = None) -> int:
    """Flag or clear the account's warning; the number of recordings about to be lost."""
    spec = KINDS.get(account.kind)
    if spec is None or not spec.retention_days:
        return 0
    now = now or timezone.now()
    expiry = now - timedelta(days=spec.retention_days)
    warn_from = expiry + timedelta(days=WARNING_DAYS)
    pending = not_stored(account).order_by("started_at", "id")
    soon = At(pending.filter(older_than(warn_from)).exclude(older_than(expiry)))
    lost = At(pending.filter(older_than(expiry)))
    account.refresh_from_db(fields=["health", "last_error"])
    if not soon.count and not lost.count:
        if account.health == Health.DEGRADED and any(m in account.last_error for m in MARKERS):
            account_mark_healthy(account)
            log.info(
                "%s: no recordings are at risk of %s's retention any more", account, spec.label
            )
        return 0
    message = _message(spec.label, spec.retention_days, soon, lost)
    log.warning("%s: %s", account.name, message)
    if account.health in OVERRIDABLE:
        account_mark_degraded(account, message)
    return soon.count + lost.count


def retention_check_all(now: datetime | None = None) -> dict[str, int]:
    """Every enabled account of a kind with a retention period: its name -> recordings at risk."""
    kinds = [kind for kind, spec in KINDS.items() if spec.retention_days]
    accounts = VendorAccount.objects.filter(enabled=True, kind__in=kinds)
    return {account.name: retention_check(account, now) for account in accounts}


class At:
    """How many recordings a query finds, and the first few of them by name."""

    def __init__(self, rows: QuerySet[Recording]):
        self.count = rows.count()
        self.names = list(rows.values_list("external_id", flat=True)[:NAMED]) if self.count else []

    def __str__(self) -> str:
        named = ", ".join(self.names)
        return named + (f" and {self.count - NAMED} more" if self.count > NAMED else "")


def _message(vendor: str, days: int, soon: At, lost: At) -> str:
    parts = []
    if soon.count:
        verb = "are" if soon.count > 1 else "is"
        parts.append(
            f"{_plural(soon.count)} will be deleted by {vendor} within {WARNING_DAYS} days "
            f"and {verb} not downloaded yet: {soon}."
        )
    if lost.count:
        verb = "were" if lost.count > 1 else "was"
        parts.append(
            f"{_plural(lost.count)} older than {days} days {verb} never downloaded and may "
            f"already be deleted by {vendor}: {lost}."
        )
    return " ".join(parts) + " Check the account's downloads and retry the failed ones."


def _plural(count: int) -> str:
    return f"{count} recording{'s' if count > 1 else ''}"
