"""Celery tasks: thin wrappers that take ids, call one service and hold the retry policy."""

from __future__ import annotations

import logging

from celery import shared_task

from .services import deletion, masking, retention

log = logging.getLogger(__name__)


def enqueue(task, *args) -> None:
    """Queue a task after a commit; a broker that is down is caught up by the recovery beat."""
    try:
        task.delay(*args)
    except Exception:
        log.exception("could not queue %s%s; the recovery task will", task.name, args)


@shared_task
def mask_recording(mask_request_id: int) -> str:
    return masking.mask_request_run(mask_request_id)


@shared_task(bind=True, max_retries=None)
def mask_at_vendor(self, mask_request_id: int) -> str:
    attempt = masking.mask_vendor_attempt(mask_request_id)
    if attempt.status == "retry":
        # The row's own attempt counter, not Celery's, decides when to stop.
        raise self.retry(countdown=attempt.countdown)
    return attempt.status


@shared_task(bind=True, max_retries=None)
def delete_at_vendor(self, deletion_id: int) -> str:
    attempt = deletion.deletion_vendor_attempt(deletion_id)
    if attempt.status == "retry":
        raise self.retry(countdown=attempt.countdown)
    return attempt.status


@shared_task
def apply_retention() -> dict:
    return retention.retention_apply()


@shared_task
def recover_compliance_work() -> dict:
    """Requeue what a dead worker or a lost message left behind."""
    masks = masking.mask_recover()
    deletions = deletion.deletion_recover()
    for mask_request_id in masks["masks"]:
        mask_recording.delay(mask_request_id)
    for mask_request_id in masks["vendor"]:
        mask_at_vendor.delay(mask_request_id)
    for deletion_id in deletions["vendor"]:
        delete_at_vendor.delay(deletion_id)
    return {
        "masks": len(masks["masks"]),
        "vendor": len(masks["vendor"]) + len(deletions["vendor"]),
        "destroyed": len(deletions["destroyed"]),
    }
