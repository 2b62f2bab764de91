"""Syncing a vendor account's catalog, one page per step, resumable from its cursor.

A SyncRun holds the cursor, so a retried or redelivered step continues where the last
committed page ended. The database allows one queued or running sync per account.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from recordings_portal.catalog.models import ACTIVE_SYNC_STATES, SyncRun, SyncState
from recordings_portal.lib.retry import backoff
from recordings_portal.vendors.connectors.base import AuthFailed, ConnectorError
from recordings_portal.vendors.connectors.registry import connector_for, supports
from recordings_portal.vendors.crypto import CredentialsUnreadable
from recordings_portal.vendors.health import (
    account_flag_auth_failed,
    account_mark_degraded,
    account_mark_failing,
    account_mark_healthy,
)
from recordings_portal.vendors.kinds import DISCOVER
from recordings_portal.vendors.models import VendorAccount

from .upsert import recordings_upsert

log = logging.getLogger(__name__)
MAX_ERRORS_KEPT = 20


class SyncRetry(Exception):
    def __init__(self, message: str, countdown: float):
        super().__init__(message)
        self.countdown = countdown


@dataclass(frozen=True)
class Step:
    more: bool  # another page follows
    new_ids: list[int]  # rows to download


def sync_request(
    account: VendorAccount, *, trigger: str = "manual", user=None, enqueue: bool = True
) -> SyncRun | None:
    """Queue a sync; None when one is already queued or running for the account.

    enqueue=False leaves the steps to the caller (a command running them in-process), so no
    worker races it for the same run.
    """
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                account=account,
                trigger=trigger,
                requested_by=user,
                cursor=dict(account.sync_state),
            )
    except IntegrityError:
        return None
    if enqueue:
        from recordings_portal.catalog.tasks import sync_account

        transaction.on_commit(lambda: sync_account.delay(run.id))
    return run


def active_sync(account: VendorAccount) -> SyncRun | None:
    return SyncRun.objects.filter(account=account, state__in=ACTIVE_SYNC_STATES).first()


def sync_step(run_id: int, *, download: bool = True) -> Step:
    """Fetch and store one page; raises SyncRetry when the step should run again later."""
    now = timezone.now()
    claimed = SyncRun.objects.filter(id=run_id, state__in=ACTIVE_SYNC_STATES).update(
        state=SyncState.RUNNING, heartbeat_at=now
    )
    if not claimed:
        return Step(False, [])
    run = SyncRun.objects.select_related("account").get(id=run_id)
    if run.started_at is None:
        SyncRun.objects.filter(id=run_id, started_at=None).update(started_at=now)
    account = run.account
    try:
        page = connector_for(account).discover(dict(run.cursor))
    except CredentialsUnreadable as exc:
        _fail(run, str(exc))
        account_mark_failing(account, str(exc))
        return Step(False, [])
    except AuthFailed as exc:
        _fail(run, exc.message)
        account_flag_auth_failed(account, exc.message)
        return Step(False, [])
    except ConnectorError as exc:
        attempts = run.attempts + 1
        if exc.permanent or attempts >= settings.SYNC_MAX_ATTEMPTS:
            message = exc.message if exc.permanent else f"Gave up after {attempts} tries: {exc}"
            _fail(run, message)
            account_mark_failing(account, message)
            return Step(False, [])
        _note_error(run, exc.message, attempts=attempts)
        account_mark_degraded(account, exc.message)
        raise SyncRetry(exc.message, backoff(attempts, exc.retry_after)) from exc

    with transaction.atomic():
        result = recordings_upsert(account, page.recordings)
        done = page.next_cursor is None
        fields = {
            "cursor": page.next_cursor or {},
            "pages": F("pages") + 1,
            "seen": F("seen") + len(page.recordings),
            "new": F("new") + result.new,
            "updated": F("updated") + result.updated,
            "attempts": 0,
            "heartbeat_at": timezone.now(),
        }
        if page.total is not None:
            fields["total_expected"] = page.total
        if done:
            fields.update(state=SyncState.SUCCEEDED, finished_at=timezone.now())
        still_ours = SyncRun.objects.filter(id=run.id, state=SyncState.RUNNING).update(**fields)
        if not still_ours:
            transaction.set_rollback(True)  # cancelled meanwhile: keep nothing of this page
            return Step(False, [])
        if done:
            VendorAccount.objects.filter(id=account.id).update(
                last_synced_at=timezone.now(), sync_state=page.watermark or account.sync_state
            )
    if done:
        account_mark_healthy(account)
    new_ids = _downloadable_ids(account, page.recordings) if download else []
    return Step(not done, new_ids)


def _downloadable_ids(account, remotes) -> list[int]:
    from recordings_portal.catalog.models import Recording, RecordingState

    ready = [remote.external_id for remote in remotes if remote.ready and not remote.gone]
    return list(
        Recording.objects.filter(
            account=account, external_id__in=ready, state=RecordingState.DISCOVERED
        ).values_list("id", flat=True)
    )


def _note_error(run: SyncRun, message: str, **fields) -> None:
    entry = {"at": timezone.now().isoformat(timespec="seconds"), "message": message[:500]}
    errors = ([*run.errors, entry])[-MAX_ERRORS_KEPT:]
    SyncRun.objects.filter(id=run.id).update(errors=errors, **fields)
    run.errors = errors


def _fail(run: SyncRun, message: str) -> None:
    _note_error(run, message)
    SyncRun.objects.filter(id=run.id, state__in=ACTIVE_SYNC_STATES).update(
        state=SyncState.FAILED, finished_at=timezone.now()
    )


def sync_count_download(run_id: int, status: str) -> None:
    """Count a download queued by a sync on that sync's progress (stored or failed)."""
    field = {"stored": "downloaded", "failed": "failed"}.get(status)
    if field:
        SyncRun.objects.filter(id=run_id).update(**{field: F(field) + 1})


def sync_cancel(run: SyncRun) -> bool:
    return bool(
        SyncRun.objects.filter(id=run.id, state__in=ACTIVE_SYNC_STATES).update(
            state=SyncState.CANCELLED, finished_at=timezone.now()
        )
    )


def syncs_due() -> list[VendorAccount]:
    """Enabled accounts that list their catalog and whose interval has passed since a sync."""
    now = timezone.now()
    due = []
    for account in VendorAccount.objects.filter(enabled=True):
        if not supports(account.kind, DISCOVER):
            continue  # their recordings arrive by import or webhook
        interval = timezone.timedelta(minutes=account.sync_interval_minutes)
        if account.last_synced_at is None or account.last_synced_at + interval <= now:
            due.append(account)
    return due
