"""Deleting recordings: the local file destroyed, the vendor's copy where its API allows, and a
tombstone kept.

The Recording row stays (state DELETED, storage keys emptied) with a DeletionRecord saying who,
when, why and what the vendor answered, so the catalog and the access log stay whole. The row
stops pointing to the files in the same transaction that writes the tombstone; the files are
destroyed only after it commits. Nothing here touches a recording under legal hold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from recordings_portal.audit.log import record
from recordings_portal.catalog import storage
from recordings_portal.catalog.models import Recording, RecordingState
from recordings_portal.vendors.connectors.base import Gone
from recordings_portal.vendors.connectors.registry import supports
from recordings_portal.vendors.kinds import DELETE

from ..models import (
    DeletionRecord,
    DeletionSource,
    LegalHold,
    MaskRequest,
    MaskState,
    VendorAction,
    VendorState,
)
from . import Refused
from .vendor import Attempt, pending_fields, vendor_attempt, vendor_due

log = logging.getLogger(__name__)

PERMISSION = "compliance.delete_recordings"


@dataclass
class BulkResult:
    deleted: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def hold_description(recording: Recording) -> str:
    hold = LegalHold.objects.filter(recording=recording, lifted_at__isnull=True).first()
    if hold is None:
        return "It is under legal hold."
    return (
        f"It is under legal hold since {timezone.localtime(hold.set_at):%Y-%m-%d %H:%M} "
        f"({hold.set_by.get_username()}: {hold.reason})."
    )


def why_not_deletable(recording: Recording) -> str:
    """Why this recording cannot be deleted now, or "" when it can."""
    if recording.state == RecordingState.DELETED:
        deletion = DeletionRecord.objects.filter(recording=recording).first()
        if deletion is None:
            return "It is already deleted."
        who = deletion.deleted_by.get_username() if deletion.deleted_by else "retention"
        when = timezone.localtime(deletion.created_at)
        return f"It was already deleted on {when:%Y-%m-%d} by {who}."
    if recording.legal_hold:
        return f"{hold_description(recording)} Lift the hold before deleting it."
    if MaskRequest.objects.filter(recording=recording, state=MaskState.PROCESSING).exists():
        return "It is being masked right now; delete it once the masking has finished."
    return ""


def no_api_receipt(account) -> str:
    label = account.kind_label
    return (
        f"No vendor API: {label} offers no way to delete its copy through its API. "
        f"Delete it at {label} by hand if it must go."
    )


def recording_delete(
    *, recording_id: int, user, reason: str, source: str = DeletionSource.MANUAL, request=None
) -> DeletionRecord:
    """Delete one recording (raises Refused saying why not). `user` None: a retention run."""
    reason = reason.strip()
    if not reason:
        raise Refused("Say why the recording is deleted: the reason is kept with its tombstone.")
    if user is not None and not user.has_perm(PERMISSION):
        raise Refused("You may not delete recordings.")
    with transaction.atomic():
        recording = Recording.objects.select_related("account").filter(id=recording_id).first()
        if recording is None:
            raise Refused(f"There is no recording {recording_id}.")
        problem = why_not_deletable(recording)
        if problem:
            raise Refused(problem)
        keys = [key for key in (recording.storage_key, recording.peaks_key) if key]
        # Conditional: a hold set, or a deletion done, since the checks above wins.
        emptied = (
            Recording.objects.filter(id=recording.id, legal_hold=False)
            .exclude(state=RecordingState.DELETED)
            .update(
                state=RecordingState.DELETED,
                storage_key="",
                peaks_key="",
                # A download in progress loses its claim and throws its file away.
                claim_token=None,
                claimed_until=None,
                last_error="",
            )
        )
        if not emptied:
            recording.refresh_from_db()
            raise Refused(why_not_deletable(recording) or "It changed meanwhile; try again.")
        at_vendor = supports(recording.account.kind, DELETE)
        if at_vendor:
            vendor = pending_fields(VendorAction.DELETE)
        else:
            vendor = {
                "vendor_state": VendorState.NO_API,
                "vendor_receipt": no_api_receipt(recording.account),
            }
        deletion = DeletionRecord.objects.create(
            recording=recording,
            deleted_by=user,
            reason=reason,
            source=source,
            local_keys=keys,
            sha256=recording.sha256 if keys else "",
            size=recording.size if keys else None,
            **vendor,
        )
        _close_mask_requests(recording)
        record(
            "recording.delete",
            request=request,
            actor=user,
            obj=recording,
            details={
                "deletion": deletion.id,
                "reason": reason,
                "source": source,
                "vendor": recording.account.kind,
                "vendor_delete": at_vendor,
                "had_file": bool(keys),
            },
        )
        transaction.on_commit(lambda: _after_commit(deletion.id, at_vendor))
    return deletion


def _close_mask_requests(recording: Recording) -> None:
    now = timezone.now()
    MaskRequest.objects.filter(
        recording=recording, state__in=(MaskState.REQUESTED, MaskState.APPROVED)
    ).update(
        state=MaskState.FAILED,
        failure_reason="The recording was deleted before it was masked.",
        finished_at=now,
    )
    MaskRequest.objects.filter(
        recording=recording, vendor_state__in=(VendorState.PENDING, VendorState.FAILED)
    ).update(
        vendor_state=VendorState.GAVE_UP,
        gave_up_at=now,
        gave_up_reason="Superseded by the deletion of the recording.",
        vendor_next_attempt_at=None,
    )


def _after_commit(deletion_id: int, at_vendor: bool) -> None:
    deletion_destroy_local(deletion_id)
    if at_vendor:
        from ..tasks import delete_at_vendor, enqueue

        enqueue(delete_at_vendor, deletion_id)


def recordings_delete(*, recording_ids, user, reason: str, request=None) -> BulkResult:
    """Delete each recording on its own; the ones refused say why, the others go ahead."""
    result = BulkResult()
    for recording_id in dict.fromkeys(recording_ids):
        try:
            recording_delete(
                recording_id=recording_id,
                user=user,
                reason=reason,
                source=DeletionSource.BULK,
                request=request,
            )
        except Refused as exc:
            result.refused[recording_id] = exc.message
        else:
            result.deleted.append(recording_id)
    return result


def deletion_destroy_local(deletion_id: int) -> bool:
    """Destroy the files a tombstone names (idempotent; the row no longer points to them)."""
    deletion = DeletionRecord.objects.select_related("recording").get(id=deletion_id)
    if deletion.local_destroyed_at is not None:
        return False
    current = {deletion.recording.storage_key, deletion.recording.peaks_key}
    for key in deletion.local_keys:
        if key not in current:
            storage.delete(key)
    DeletionRecord.objects.filter(id=deletion_id).update(local_destroyed_at=timezone.now())
    return True


def _delete_at_vendor(row, connector, ref) -> tuple[str, str]:
    try:
        return VendorState.DONE, connector.delete(ref)
    except Gone as exc:
        return VendorState.DONE, f"Already gone at the vendor: {exc.message}"


def deletion_vendor_attempt(deletion_id: int) -> Attempt:
    return vendor_attempt(DeletionRecord, deletion_id, _delete_at_vendor)


def deletion_recover() -> dict[str, list[int]]:
    """Files a crash left undestroyed, and vendor deletions whose retry message was lost."""
    settled = timezone.now() - timedelta(minutes=1)
    leftovers = list(
        DeletionRecord.objects.filter(
            local_destroyed_at__isnull=True, created_at__lt=settled
        ).values_list("id", flat=True)[:1000]
    )
    for deletion_id in leftovers:
        try:
            deletion_destroy_local(deletion_id)
        except Exception:
            log.exception("could not destroy the files of deletion %s", deletion_id)
    return {"destroyed": leftovers, "vendor": vendor_due(DeletionRecord)}
