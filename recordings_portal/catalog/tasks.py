"""Celery tasks: thin wrappers that take ids, call one service and hold the retry policy."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

from .services import maintenance, retention_watch
from .services.download import RetryLater, recording_download
from .services.sync import SyncRetry, sync_count_download, sync_request, sync_step, syncs_due

log = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=None)
def sync_account(self, run_id: int, download: bool = True) -> None:
    try:
        step = sync_step(run_id, download=download)
    except SyncRetry as exc:
        raise self.retry(countdown=exc.countdown) from exc
    for recording_id in step.new_ids:
        download_recording.delay(recording_id, run_id)
    if step.more:
        # One page per task: a crash or redelivery costs one page, and other accounts interleave.
        sync_account.delay(run_id, download)


@shared_task(bind=True, max_retries=None)
def download_recording(self, recording_id: int, run_id: int | None = None) -> str:
    try:
        outcome = recording_download(recording_id)
    except RetryLater as exc:
        # The row's own attempt counter, not Celery's, decides when to give up.
        raise self.retry(countdown=exc.countdown) from exc
    if run_id is not None:
        sync_count_download(run_id, outcome.status)
    return outcome.status


@shared_task
def sync_due_accounts() -> int:
    started = 0
    for account in syncs_due():
        with transaction.atomic():
            started += sync_request(account, trigger="schedule") is not None
    return started


@shared_task
def recover_stalled_work() -> dict:
    """Requeue syncs and downloads whose worker died (lapsed claims, silent runs)."""
    recovered = maintenance.recover_stalled()
    for recording_id in recovered["downloads"]:
        download_recording.delay(recording_id)
    for run_id in recovered["syncs"]:
        sync_account.delay(run_id)
    return {name: len(ids) for name, ids in recovered.items()}


@shared_task
def watch_vendor_retention() -> dict:
    """Flag accounts whose vendor will soon delete recordings not downloaded yet."""
    return retention_watch.retention_check_all()
