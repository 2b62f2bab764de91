"""Masking requests: asked for by one person, approved by another, carried out by a task.

The task works on a copy of the stored file: the engine (audio/masking.py) writes a masked
file and checks it against the copy. Only a verified file is committed under a new key; the
row is then pointed to it (state MASKED), and only after that is the unmasked original
destroyed, so at every moment the row points to a complete file and a crash never leaves the
original behind unnoticed: the request remembers both keys and the recovery finishes the job.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from recordings_portal.audio.analysis import analyse
from recordings_portal.audio.decode import AudioError
from recordings_portal.audio.masking import MaskRequestError, mask_file
from recordings_portal.audio.verify_mask import verify_masked
from recordings_portal.audit.log import record
from recordings_portal.audit.models import Outcome
from recordings_portal.catalog import storage
from recordings_portal.catalog.models import PLAYABLE_STATES, Recording, RecordingState
from recordings_portal.vendors.connectors.base import Gone
from recordings_portal.vendors.connectors.registry import supports
from recordings_portal.vendors.kinds import DELETE, REMOTE_MASK

from ..models import MaskRequest, MaskState, VendorAction, VendorState
from . import Refused
from .deletion import hold_description
from .spans import as_mask_spans, describe, on_masked_timeline, spans_normalise, trim_validate
from .vendor import Attempt, pending_fields, vendor_attempt, vendor_due

log = logging.getLogger(__name__)

REQUEST_PERMISSION = "compliance.request_masking"
APPROVE_PERMISSION = "compliance.approve_masking"
LEASE = timedelta(minutes=15)
# Workers that died masking the same request before it is failed, visibly.
MAX_ATTEMPTS = 3
# An approved request whose task message was lost is queued again after this long.
REQUEUE_AFTER = timedelta(minutes=10)


class MaskFailed(Exception):
    pass


def _details(mask: MaskRequest, **extra) -> dict:
    return {"mask_request": mask.id, **extra}


# --- asking, approving, rejecting ---------------------------------------------------------


def why_not_maskable(recording: Recording) -> str:
    """Why this recording cannot be masked now, or "" when it can."""
    if recording.state == RecordingState.DELETED:
        return "It is deleted."
    if recording.legal_hold:
        return (
            f"{hold_description(recording)} Masking destroys the original, so it must wait "
            "until the hold is lifted."
        )
    if recording.state not in PLAYABLE_STATES or not storage.exists(recording.storage_key):
        return "The portal has no stored file of it to mask (it is not downloaded)."
    processing = MaskRequest.objects.filter(recording=recording, state=MaskState.PROCESSING)
    if processing.exists():
        return "It is being masked right now; ask again once that has finished."
    return ""


def mask_request_create(
    *,
    recording: Recording,
    user,
    reason: str,
    spans: list,
    trim=None,
    delete_vendor_copy: bool = False,
    request=None,
) -> MaskRequest:
    if not user.has_perm(REQUEST_PERMISSION):
        raise Refused("You may not request masking.")
    reason = reason.strip()
    if not reason:
        raise Refused("Say why the recording must be masked.")
    recording = Recording.objects.select_related("account").get(id=recording.id)  # fresh
    problem = why_not_maskable(recording)
    if problem:
        raise Refused(problem)
    duration, channels = recording.duration or 0.0, recording.channels or 1
    spans = spans_normalise(spans or [], duration=duration, channels=channels)
    trim = trim_validate(trim, duration=duration)
    if not spans and trim is None:
        raise Refused("Mark at least one span to mask, or a part of the call to keep.")
    if delete_vendor_copy and not supports(recording.account.kind, DELETE):
        raise Refused(f"{recording.account.kind_label} cannot delete its copy through its API.")
    with transaction.atomic():
        mask = MaskRequest.objects.create(
            recording=recording,
            requested_by=user,
            reason=reason,
            spans=spans,
            trim=trim,
            delete_vendor_copy=delete_vendor_copy,
            source_sha256=recording.sha256,
        )
        record(
            "mask.request",
            request=request,
            actor=user,
            obj=recording,
            details=_details(
                mask,
                reason=reason,
                spans=describe(spans),
                trim=trim,
                delete_vendor_copy=delete_vendor_copy,
            ),
        )
    return mask


def _decision_guard(mask_request_id: int, user) -> MaskRequest:
    if not user.has_perm(APPROVE_PERMISSION):
        raise Refused("Only compliance may approve or reject masking requests.")
    mask = (
        MaskRequest.objects.select_related("recording", "requested_by")
        .filter(id=mask_request_id)
        .first()
    )
    if mask is None:
        raise Refused(f"There is no masking request {mask_request_id}.")
    if mask.requested_by_id == user.id:
        raise Refused(
            "Four eyes: you asked for this masking, so someone else in compliance decides on it."
        )
    if mask.state != MaskState.REQUESTED:
        raise Refused(f"It was already decided: {mask.get_state_display().lower()}.")
    return mask


def _decide(mask: MaskRequest, user, state: str, note: str) -> None:
    # Conditional: a second decision, or one by the requester, changes nothing whatever races.
    decided = (
        MaskRequest.objects.filter(id=mask.id, state=MaskState.REQUESTED)
        .exclude(requested_by=user)
        .update(state=state, decided_by=user, decided_at=timezone.now(), decision_note=note)
    )
    if not decided:
        mask.refresh_from_db()
        raise Refused(f"It was already decided: {mask.get_state_display().lower()}.")


def mask_request_approve(
    *, mask_request_id: int, user, note: str = "", request=None
) -> MaskRequest:
    mask = _decision_guard(mask_request_id, user)
    problem = why_not_maskable(mask.recording)
    if problem:
        raise Refused(f"It cannot be masked now. {problem}")
    note = note.strip()
    with transaction.atomic():
        _decide(mask, user, MaskState.APPROVED, note)
        record(
            "mask.approve",
            request=request,
            actor=user,
            obj=mask.recording,
            details=_details(mask, note=note, requested_by=mask.requested_by.get_username()),
        )
        from ..tasks import enqueue, mask_recording

        transaction.on_commit(lambda: enqueue(mask_recording, mask.id))
    mask.refresh_from_db()
    return mask


def mask_request_reject(*, mask_request_id: int, user, note: str, request=None) -> MaskRequest:
    note = note.strip()
    if not note:
        raise Refused("Say why you reject it: the requester sees your note.")
    mask = _decision_guard(mask_request_id, user)
    with transaction.atomic():
        _decide(mask, user, MaskState.REJECTED, note)
        MaskRequest.objects.filter(id=mask.id).update(finished_at=timezone.now())
        record(
            "mask.reject",
            request=request,
            actor=user,
            obj=mask.recording,
            details=_details(mask, note=note, requested_by=mask.requested_by.get_username()),
        )
    mask.refresh_from_db()
    return mask


# --- the masking itself -------------------------------------------------------------------


def _claim(mask_request_id: int) -> MaskRequest | None:
    now = timezone.now()
    try:
        # In a savepoint: a refused UPDATE must not break a transaction around us.
        with transaction.atomic():
            claimed = MaskRequest.objects.filter(
                id=mask_request_id, state=MaskState.APPROVED, attempts__lt=MAX_ATTEMPTS
            ).update(
                state=MaskState.PROCESSING,
                started_at=now,
                claimed_until=now + LEASE,
                attempts=F("attempts") + 1,
            )
    except IntegrityError:
        return None  # another request of the same recording is being masked
    if not claimed:
        return None
    return MaskRequest.objects.select_related("recording__account").get(id=mask_request_id)


def _fail(mask: MaskRequest, reason: str, *, from_state: str = MaskState.PROCESSING) -> str:
    with transaction.atomic():
        failed = MaskRequest.objects.filter(id=mask.id, state=from_state).update(
            state=MaskState.FAILED,
            failure_reason=reason[:4000],
            claimed_until=None,
            finished_at=timezone.now(),
        )
        if failed:
            record(
                "mask.failed",
                obj=mask.recording,
                outcome=Outcome.FAILURE,
                details=_details(mask, reason=reason),
            )
    return "failed"


def _audio_changed(mask: MaskRequest, recording: Recording) -> str:
    """Why the request's spans no longer fit the stored audio, or ""."""
    if recording.sha256 == mask.source_sha256:
        return ""
    trimmed_since = MaskRequest.objects.filter(
        recording=recording, state=MaskState.DONE, finished_at__gt=mask.created_at
    ).exclude(trim=None)
    if trimmed_since.exists():
        return (
            "The recording was trimmed by another masking since this request was made, so its "
            "spans no longer point at the same audio: request it again on the current audio."
        )
    if not MaskRequest.objects.filter(
        recording=recording, state=MaskState.DONE, finished_at__gt=mask.created_at
    ).exists():
        return "The stored audio changed since the request was made: request it again."
    return ""  # masked since, timeline unchanged: the spans still fit


def mask_request_run(mask_request_id: int) -> str:
    """Carry out an approved request: "done", "failed" or "skipped"."""
    mask = _claim(mask_request_id)
    if mask is None:
        return _explain_unclaimed(mask_request_id)
    recording = mask.recording
    problem = why_not_maskable_now(recording) or _audio_changed(mask, recording)
    if problem:
        return _fail(mask, f"Not masked: {problem}")
    MaskRequest.objects.filter(id=mask.id).update(
        original_key=recording.storage_key, original_peaks_key=recording.peaks_key
    )
    mask.original_key, mask.original_peaks_key = recording.storage_key, recording.peaks_key
    try:
        produced = _produce(mask, recording)
    except MaskFailed as exc:
        return _fail(mask, str(exc))
    except Exception as exc:
        log.exception("masking request %s failed unexpectedly", mask.id)
        return _fail(mask, f"Masking failed unexpectedly: {exc}. The original is unchanged.")
    if not _point_row(mask, recording, produced):
        storage.delete(produced["storage_key"])
        storage.delete(produced["peaks_key"])
        recording.refresh_from_db()
        why = why_not_maskable_now(recording) or "the recording changed meanwhile"
        return _fail(mask, f"Not masked: {why} The original is unchanged.")
    return _complete(mask)


def why_not_maskable_now(recording: Recording) -> str:
    """why_not_maskable() for the task, which itself holds the PROCESSING claim."""
    if recording.state == RecordingState.DELETED:
        return "It was deleted."
    if recording.legal_hold:
        return f"{hold_description(recording)} Masking would destroy the original."
    if recording.state not in PLAYABLE_STATES or not storage.exists(recording.storage_key):
        return "The portal has no stored file of it."
    return ""


def _explain_unclaimed(mask_request_id: int) -> str:
    mask = MaskRequest.objects.filter(id=mask_request_id).first()
    if mask is None:
        return "skipped"
    if mask.state == MaskState.APPROVED and mask.attempts >= MAX_ATTEMPTS:
        return _fail(
            mask,
            f"The masking stopped {mask.attempts} times without finishing (a worker died each "
            "time); the original is unchanged. Request it again or ask an administrator.",
            from_state=MaskState.APPROVED,
        )
    return "skipped"


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _produce(mask: MaskRequest, recording: Recording) -> dict:
    """Mask a copy, verify it, and commit it under its own key (the row is not touched)."""
    spans = as_mask_spans(mask.spans)
    trim = tuple(mask.trim) if mask.trim else None
    suffix = "." + (recording.format or storage.path(recording.storage_key).suffix.lstrip("."))
    with storage.incoming(suffix=suffix) as (copy, source):
        with storage.path(recording.storage_key).open("rb") as original:
            shutil.copyfileobj(original, copy, 1 << 20)
        copy.flush()
        with storage.incoming(suffix=suffix) as (_, target):
            try:
                mask_file(source, target, spans, trim)
                verification = verify_masked(source, target, spans, trim)
            except (MaskRequestError, AudioError) as exc:
                raise MaskFailed(f"{exc} The original is unchanged.") from exc
            if not verification.ok:
                reasons = "; ".join(verification.reasons) or "no reason given"
                raise MaskFailed(
                    f"The masked file did not pass verification ({reasons}). The original is "
                    "unchanged and nothing was replaced."
                )
            analysis = analyse(target)
            sha256, size = _sha256(target), target.stat().st_size
            key = (
                f"recordings/{recording.account_id}/{recording.id}/{sha256}.{analysis.info.format}"
            )
            if key == recording.storage_key:
                raise MaskFailed("The masked file is identical to the original: nothing changed.")
            # Remembered before the file exists under it: a crash from here on is recoverable.
            MaskRequest.objects.filter(id=mask.id).update(masked_key=key)
            storage.commit(target, key)
    peaks_key = f"{key}.peaks.json"
    storage.write_bytes(peaks_key, json.dumps(analysis.peaks).encode())
    return {
        "storage_key": key,
        "peaks_key": peaks_key,
        "sha256": sha256,
        "size": size,
        "format": analysis.info.format,
        "channels": analysis.info.channels,
        "sample_rate": analysis.info.sample_rate,
        "duration": round(analysis.duration, 3),
    }


def _point_row(mask: MaskRequest, recording: Recording, produced: dict) -> bool:
    """Point the recording to the masked file, if it is still the one that was masked."""
    metadata = dict(recording.metadata or {})
    earlier = metadata.get("masked_spans") or []
    if mask.trim:
        # The earlier spans move with the trim too (they are on the file's timeline).
        earlier = on_masked_timeline(
            [{**span, "channel": _side(span["channel"])} for span in earlier], mask.trim
        )
    metadata["masked_spans"] = earlier + on_masked_timeline(mask.spans, mask.trim)
    metadata["masked_by_request"] = mask.id
    with transaction.atomic():
        return bool(
            Recording.objects.filter(
                id=recording.id,
                storage_key=mask.original_key,
                legal_hold=False,
                state__in=PLAYABLE_STATES,
            ).update(state=RecordingState.MASKED, metadata=metadata, **produced)
        )


def _side(channel) -> str:
    return {0: "caller", 1: "callee"}.get(channel, "both")


def _complete(mask: MaskRequest) -> str:
    """The row points to the masked file: destroy the original, then close the request."""
    mask.refresh_from_db()
    for key in (mask.original_key, mask.original_peaks_key):
        if key and key not in (mask.masked_key, f"{mask.masked_key}.peaks.json"):
            storage.delete(key)
    recording = Recording.objects.select_related("account").get(id=mask.recording_id)
    vendor = _vendor_plan(mask, recording)
    with transaction.atomic():
        finished = MaskRequest.objects.filter(id=mask.id, state=MaskState.PROCESSING).update(
            state=MaskState.DONE, claimed_until=None, finished_at=timezone.now(), **vendor
        )
        if finished:
            record(
                "mask.done",
                obj=recording,
                details=_details(
                    mask,
                    spans=describe(mask.spans),
                    trim=mask.trim,
                    sha256=recording.sha256,
                    original_sha256=mask.source_sha256,
                    vendor=vendor.get("vendor_action") or vendor.get("vendor_state"),
                ),
            )
            if vendor.get("vendor_state") == VendorState.PENDING:
                from ..tasks import enqueue, mask_at_vendor

                transaction.on_commit(lambda: enqueue(mask_at_vendor, mask.id))
    return "done" if finished else "skipped"


def _vendor_plan(mask: MaskRequest, recording: Recording) -> dict:
    """What happens to the vendor's copy once ours is masked."""
    kind, label = recording.account.kind, recording.account.kind_label
    if mask.delete_vendor_copy and supports(kind, DELETE):
        return pending_fields(VendorAction.DELETE)
    if supports(kind, REMOTE_MASK):
        return pending_fields(VendorAction.REMOTE_MASK)
    if supports(kind, DELETE):
        receipt = (
            f"An unmasked copy remains at {label}: deleting it there was not chosen. "
            f"{label} can delete it: delete the recording, or request its masking again with "
            "the vendor's copy deleted."
        )
    else:
        receipt = (
            f"An unmasked copy remains at {label}: {label} offers no API to mask or delete it. "
            f"Remove it at {label} by hand if it must go."
        )
    return {"vendor_state": VendorState.UNMASKED, "vendor_receipt": receipt}


# --- at the vendor ------------------------------------------------------------------------


def _change_at_vendor(mask: MaskRequest, connector, ref) -> tuple[str, str]:
    if mask.vendor_action == VendorAction.DELETE:
        try:
            return VendorState.DONE, connector.delete(ref)
        except Gone as exc:
            return VendorState.DONE, f"Already gone at the vendor: {exc.message}"
    trim = tuple(mask.trim) if mask.trim else None
    try:
        return VendorState.DONE, connector.remote_mask(ref, as_mask_spans(mask.spans), trim)
    except Gone as exc:
        # Not worth retrying: the vendor's copy can no longer be masked (iotcomms explains why).
        label = mask.recording.account.kind_label
        return VendorState.UNMASKED, f"An unmasked copy remains at {label}. {exc.message}"


def mask_vendor_attempt(mask_request_id: int) -> Attempt:
    return vendor_attempt(MaskRequest, mask_request_id, _change_at_vendor)


# --- recovery -----------------------------------------------------------------------------


def mask_recover() -> dict[str, list[int]]:
    """Requests a dead worker left PROCESSING, approved ones whose message was lost."""
    now = timezone.now()
    resumed = []
    for mask in MaskRequest.objects.filter(state=MaskState.PROCESSING, claimed_until__lt=now):
        recording = Recording.objects.get(id=mask.recording_id)
        if mask.masked_key and recording.storage_key == mask.masked_key:
            _complete(mask)  # the row points to the masked file: only the clean-up was left
            continue
        # Not swapped: throw away a masked file that may exist, and let it run again.
        if mask.masked_key and mask.masked_key != recording.storage_key:
            storage.delete(mask.masked_key)
            storage.delete(f"{mask.masked_key}.peaks.json")
        MaskRequest.objects.filter(id=mask.id, state=MaskState.PROCESSING).update(
            state=MaskState.APPROVED, claimed_until=None, masked_key=""
        )
        resumed.append(mask.id)
    stale = now - REQUEUE_AFTER
    lost = MaskRequest.objects.filter(
        Q(state=MaskState.APPROVED), Q(decided_at__lt=stale) | Q(id__in=resumed)
    ).values_list("id", flat=True)
    return {"masks": list(lost), "vendor": vendor_due(MaskRequest)}
