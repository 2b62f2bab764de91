"""Legal hold: set and lifted with a reason, one recording or many, the history kept.

While a recording is held no deletion path (manual, bulk, retention, the vendor's copy) and no
masking (which destroys the original) touches it. `Recording.legal_hold` is the flag those paths
check in their conditional updates; LegalHold rows are the history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from recordings_portal.audit.log import record
from recordings_portal.catalog.models import Recording

from ..models import DeletionRecord, LegalHold, MaskRequest, VendorState
from . import Refused

PERMISSION = "compliance.hold_recordings"


@dataclass
class HoldResult:
    changed: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)  # already held (or not held, to lift)
    missing: list[int] = field(default_factory=list)


def _check(user, reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise Refused("Say why: the reason is kept in the hold's history.")
    if not user.has_perm(PERMISSION):
        raise Refused("You may not set or lift legal holds.")
    return reason


def holds_set(*, recording_ids, user, reason: str, request=None) -> HoldResult:
    reason = _check(user, reason)
    result = HoldResult()
    for recording_id in dict.fromkeys(recording_ids):
        with transaction.atomic():
            recording = Recording.objects.filter(id=recording_id).first()
            if recording is None:
                result.missing.append(recording_id)
                continue
            if not Recording.objects.filter(id=recording_id, legal_hold=False).update(
                legal_hold=True
            ):
                result.unchanged.append(recording_id)
                continue
            hold = LegalHold.objects.create(recording=recording, set_by=user, reason=reason)
            record(
                "hold.set",
                request=request,
                actor=user,
                obj=recording,
                details={"hold": hold.id, "reason": reason},
            )
            result.changed.append(recording_id)
    return result


def holds_lift(*, recording_ids, user, reason: str, request=None) -> HoldResult:
    reason = _check(user, reason)
    result = HoldResult()
    for recording_id in dict.fromkeys(recording_ids):
        with transaction.atomic():
            recording = Recording.objects.filter(id=recording_id).first()
            if recording is None:
                result.missing.append(recording_id)
                continue
            if not Recording.objects.filter(id=recording_id, legal_hold=True).update(
                legal_hold=False
            ):
                result.unchanged.append(recording_id)
                continue
            lifted = LegalHold.objects.filter(recording=recording, lifted_at__isnull=True)
            hold_ids = list(lifted.values_list("id", flat=True))
            lifted.update(lifted_by=user, lifted_at=timezone.now(), lift_reason=reason)
            record(
                "hold.lift",
                request=request,
                actor=user,
                obj=recording,
                details={"holds": hold_ids, "reason": reason},
            )
            transaction.on_commit(lambda rid=recording_id: _resume_vendor_changes(rid))
            result.changed.append(recording_id)
    return result


def _resume_vendor_changes(recording_id: int) -> None:
    """Vendor changes the hold paused go ahead now."""
    from ..tasks import delete_at_vendor, enqueue, mask_at_vendor

    for deletion_id in DeletionRecord.objects.filter(
        recording_id=recording_id, vendor_state=VendorState.PENDING
    ).values_list("id", flat=True):
        enqueue(delete_at_vendor, deletion_id)
    for mask_id in MaskRequest.objects.filter(
        recording_id=recording_id, vendor_state=VendorState.PENDING
    ).values_list("id", flat=True):
        enqueue(mask_at_vendor, mask_id)
