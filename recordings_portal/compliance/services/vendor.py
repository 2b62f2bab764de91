"""Carrying a deletion or a masking to the vendor's copy: claimed, retried, visible.

Deletion records and mask requests share the fields (models.VendorPropagation). One attempt
claims the row with a token and a lease, calls the connector, and writes the outcome: done with
the vendor's receipt, pending again after a backoff, or failed and shown until someone retries
or gives up with a reason. A recording under legal hold is not touched at the vendor: its
attempts pause until the hold is lifted.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from recordings_portal.audit.log import record
from recordings_portal.audit.models import Outcome
from recordings_portal.lib.retry import backoff
from recordings_portal.vendors.connectors.base import (
    AuthFailed,
    Connector,
    ConnectorError,
    RecordingRef,
)
from recordings_portal.vendors.connectors.registry import connector_for
from recordings_portal.vendors.crypto import CredentialsUnreadable
from recordings_portal.vendors.health import account_flag_auth_failed

from ..models import VendorAction, VendorState
from . import Refused

log = logging.getLogger(__name__)

# Long enough for iotcomms' remote masking, which waits for the bucket's new copy.
LEASE = timedelta(minutes=5)
EVENTS = {VendorAction.DELETE: "recording.vendor_delete", VendorAction.REMOTE_MASK: "mask.remote"}

# (state, receipt) from what the connector did; raises ConnectorError when it failed.
Perform = Callable[[object, Connector, RecordingRef], tuple[str, str]]


@dataclass(frozen=True)
class Attempt:
    status: str  # "done", "retry", "failed", "held", "skipped"
    message: str = ""
    countdown: float = 0.0


def max_attempts() -> int:
    return settings.VENDOR_CHANGE_MAX_ATTEMPTS


def ref_for(recording) -> RecordingRef:
    return RecordingRef(
        external_id=recording.external_id,
        vendor_call_id=recording.vendor_call_id,
        metadata=recording.metadata,
        sha256=recording.vendor_sha256,
    )


def pending_fields(action: str) -> dict:
    """What a row is given when a change must now reach the vendor."""
    return {
        "vendor_action": action,
        "vendor_state": VendorState.PENDING,
        "vendor_attempt_limit": max_attempts(),
        "vendor_next_attempt_at": timezone.now(),
    }


def _claim(model, record_id: int):
    now, token = timezone.now(), uuid.uuid4()
    free = Q(vendor_claimed_until__isnull=True) | Q(vendor_claimed_until__lt=now)
    claimed = (
        model.objects.filter(free, id=record_id, vendor_state=VendorState.PENDING)
        .exclude(recording__legal_hold=True)
        .update(
            vendor_claim_token=token,
            vendor_claimed_until=now + LEASE,
            vendor_attempts=F("vendor_attempts") + 1,
        )
    )
    if not claimed:
        return None, token
    return model.objects.select_related("recording__account").get(id=record_id), token


def _explain_unclaimed(model, record_id: int) -> Attempt:
    row = model.objects.filter(id=record_id).select_related("recording").first()
    if row is None:
        return Attempt("skipped", "The record no longer exists.")
    if row.vendor_state == VendorState.PENDING and row.recording.legal_hold:
        message = (
            "Paused: the recording is under legal hold, so the vendor's copy is kept until the "
            "hold is lifted."
        )
        model.objects.filter(id=record_id, vendor_state=VendorState.PENDING).update(
            vendor_error=message, vendor_next_attempt_at=None
        )
        return Attempt("held", message)
    if row.vendor_state == VendorState.PENDING:
        return Attempt("skipped", "Another worker is at it.")
    return Attempt("skipped", f"Nothing to do: {row.get_vendor_state_display().lower()}.")


def vendor_attempt(model, record_id: int, perform: Perform) -> Attempt:
    """One try at the vendor for a DeletionRecord or MaskRequest; see the module's docstring."""
    row, token = _claim(model, record_id)
    if row is None:
        return _explain_unclaimed(model, record_id)
    recording = row.recording
    try:
        state, receipt = perform(row, connector_for(recording.account), ref_for(recording))
    except CredentialsUnreadable as exc:
        return _fail(row, token, str(exc))
    except AuthFailed as exc:
        account_flag_auth_failed(recording.account, exc.message)
        return _fail(row, token, exc.message)
    except ConnectorError as exc:
        if exc.permanent:
            return _fail(row, token, exc.message)
        return _again(row, token, exc.message, exc.retry_after)
    except Exception as exc:
        log.exception("vendor change of %s %s failed unexpectedly", model.__name__, record_id)
        return _again(row, token, f"Unexpected: {exc}", 0)
    return _finish(row, token, state, receipt)


def _details(row, **extra) -> dict:
    return {row._meta.model_name: row.id, "vendor": row.recording.account.kind, **extra}


def _finish(row, token, state: str, receipt: str) -> Attempt:
    now = timezone.now()
    with transaction.atomic():
        # Not conditional on the state: if someone gave up meanwhile, the vendor still did it.
        done = (
            type(row)
            .objects.filter(id=row.id, vendor_claim_token=token)
            .update(
                vendor_state=state,
                vendor_receipt=receipt[:4000],
                vendor_error="",
                vendor_claim_token=None,
                vendor_claimed_until=None,
                vendor_next_attempt_at=None,
                vendor_done_at=now,
            )
        )
        if done:
            outcome = Outcome.SUCCESS if state == VendorState.DONE else Outcome.FAILURE
            record(
                EVENTS[row.vendor_action],
                obj=row.recording,
                outcome=outcome,
                details=_details(row, receipt=receipt, attempts=row.vendor_attempts),
            )
    return Attempt("done" if done else "skipped", receipt)


def _fail(row, token, message: str) -> Attempt:
    with transaction.atomic():
        failed = (
            type(row)
            .objects.filter(id=row.id, vendor_claim_token=token, vendor_state=VendorState.PENDING)
            .update(
                vendor_state=VendorState.FAILED,
                vendor_error=message[:4000],
                vendor_claim_token=None,
                vendor_claimed_until=None,
                vendor_next_attempt_at=None,
            )
        )
        if failed:
            record(
                EVENTS[row.vendor_action],
                obj=row.recording,
                outcome=Outcome.FAILURE,
                details=_details(row, error=message, attempts=row.vendor_attempts),
            )
    return Attempt("failed", message)


def _again(row, token, message: str, retry_after: float) -> Attempt:
    if row.vendor_attempts >= row.vendor_attempt_limit:
        return _fail(row, token, f"Gave up after {row.vendor_attempts} attempts: {message}")
    countdown = backoff(row.vendor_attempts, retry_after)
    type(row).objects.filter(
        id=row.id, vendor_claim_token=token, vendor_state=VendorState.PENDING
    ).update(
        vendor_error=message[:4000],
        vendor_claim_token=None,
        vendor_claimed_until=None,
        vendor_next_attempt_at=timezone.now() + timedelta(seconds=countdown),
    )
    return Attempt("retry", message, countdown)


# --- what people do about a failure -------------------------------------------------------


def vendor_retry(row, *, user, request=None) -> None:
    """Another round of attempts for a failed change (after fixing credentials, say)."""
    with transaction.atomic():
        retried = (
            type(row)
            .objects.filter(id=row.id, vendor_state=VendorState.FAILED)
            .update(
                vendor_state=VendorState.PENDING,
                vendor_attempt_limit=F("vendor_attempts") + max_attempts(),
                vendor_next_attempt_at=timezone.now(),
            )
        )
        if not retried:
            raise Refused("Only a failed vendor change can be retried.")
        record(
            "recording.vendor_retry",
            request=request,
            actor=user,
            obj=row.recording,
            details=_details(row, action=row.vendor_action),
        )


def vendor_give_up(row, *, user, reason: str, request=None) -> None:
    """Stop trying, on purpose and on the record: the vendor's copy may remain."""
    reason = reason.strip()
    if not reason:
        raise Refused("Say why you give up: the reason is kept with the record.")
    open_states = (VendorState.PENDING, VendorState.FAILED)
    with transaction.atomic():
        stopped = (
            type(row)
            .objects.filter(id=row.id, vendor_state__in=open_states)
            .update(
                vendor_state=VendorState.GAVE_UP,
                gave_up_by=user,
                gave_up_at=timezone.now(),
                gave_up_reason=reason,
                vendor_next_attempt_at=None,
            )
        )
        if not stopped:
            raise Refused("There is nothing left to give up: the vendor change is not open.")
        record(
            "recording.vendor_give_up",
            request=request,
            actor=user,
            obj=row.recording,
            details=_details(row, action=row.vendor_action, reason=reason),
        )


def vendor_due(model, now=None) -> list[int]:
    """Pending changes whose retry is overdue (its message lost) and free to claim."""
    now = now or timezone.now()
    grace = now - timedelta(minutes=2)
    return list(
        model.objects.filter(vendor_state=VendorState.PENDING, recording__legal_hold=False)
        .filter(Q(vendor_next_attempt_at__isnull=True) | Q(vendor_next_attempt_at__lt=grace))
        .filter(Q(vendor_claimed_until__isnull=True) | Q(vendor_claimed_until__lt=now))
        .values_list("id", flat=True)[:1000]
    )
