"""Legal hold: set and lifted with a reason, history kept; while held, no deletion path and no
masking touches the recording, and each refusal says why."""

from datetime import timedelta

import pytest
from django.utils import timezone

from recordings_portal.catalog.models import Recording, RecordingState
from recordings_portal.compliance.models import (
    DeletionRecord,
    LegalHold,
    MaskRequest,
    MaskState,
    RetentionPolicy,
    VendorState,
)
from recordings_portal.compliance.services import Refused
from recordings_portal.compliance.services.deletion import (
    deletion_vendor_attempt,
    recording_delete,
    recordings_delete,
)
from recordings_portal.compliance.services.holds import holds_lift, holds_set
from recordings_portal.compliance.services.masking import (
    mask_request_approve,
    mask_request_create,
    mask_request_run,
)
from recordings_portal.compliance.services.retention import retention_apply

from .conftest import events

SPANS = [{"start": 1, "end": 2, "channel": "both"}]


def hold(recording, user, reason="litigation hold, case 2024-17"):
    return holds_set(recording_ids=[recording.id], user=user, reason=reason)


def test_it_sets_and_lifts_a_hold_keeping_the_history(people, flyflow):
    recording = flyflow()
    assert hold(recording, people.alice).changed == [recording.id]
    assert hold(recording, people.bob).unchanged == [recording.id]  # already held
    recording.refresh_from_db()
    assert recording.legal_hold

    result = holds_lift(recording_ids=[recording.id], user=people.bob, reason="case closed")
    assert result.changed == [recording.id]
    recording.refresh_from_db()
    assert not recording.legal_hold
    hold(recording, people.alice, reason="second case")

    first, second = LegalHold.objects.filter(recording=recording).order_by("id")
    assert (first.set_by, first.reason, first.lifted_by, first.lift_reason) == (
        people.alice,
        "litigation hold, case 2024-17",
        people.bob,
        "case closed",
    )
    assert second.active and not first.active
    assert [e.actor for e in events("hold.set")] == [people.alice, people.alice]
    (lifted,) = events("hold.lift")
    assert lifted.details == {"holds": [first.id], "reason": "case closed"}


def test_only_compliance_holds_and_always_with_a_reason(people, flyflow):
    recording = flyflow()
    with pytest.raises(Refused, match="may not"):
        hold(recording, people.admin)
    with pytest.raises(Refused, match="Say why"):
        hold(recording, people.alice, reason=" ")


def test_it_holds_in_bulk(people, flyflow):
    recordings = [flyflow() for _ in range(3)]
    hold(recordings[0], people.alice)
    result = holds_set(
        recording_ids=[r.id for r in recordings] + [424242], user=people.alice, reason="audit"
    )
    assert result.changed == [recordings[1].id, recordings[2].id]
    assert result.unchanged == [recordings[0].id] and result.missing == [424242]
    assert Recording.objects.filter(legal_hold=True).count() == 3


def test_a_held_recording_is_not_deleted_by_hand_or_in_bulk(people, flyflow):
    recording = flyflow()
    hold(recording, people.alice)
    with pytest.raises(Refused, match=r"under legal hold since .* \(alice: litigation hold"):
        recording_delete(recording_id=recording.id, user=people.admin, reason="tidy up")
    result = recordings_delete(recording_ids=[recording.id], user=people.admin, reason="tidy")
    assert "Lift the hold before deleting it" in result.refused[recording.id]
    recording.refresh_from_db()
    assert recording.state == RecordingState.AVAILABLE and recording.storage_key


def test_retention_skips_a_held_recording(people, flyflow):
    old = timezone.now() - timedelta(days=400)
    held, free = flyflow(started_at=old), flyflow(started_at=old)
    RetentionPolicy.objects.create(account=held.account, keep_days=30)
    hold(held, people.alice)
    summary = retention_apply()
    assert summary["deleted"] == 1 and summary["accounts"][0]["held_skipped"] == 1
    assert Recording.objects.get(id=held.id).state == RecordingState.AVAILABLE
    assert Recording.objects.get(id=free.id).state == RecordingState.DELETED


def test_a_hold_pauses_the_vendor_deletion_until_it_is_lifted(
    people, audian, django_capture_on_commit_callbacks, monkeypatch
):
    recording = audian()
    deletion = recording_delete(recording_id=recording.id, user=people.alice, reason="gdpr")
    hold(recording, people.bob)  # litigation starts before the vendor was reached

    attempt = deletion_vendor_attempt(deletion.id)

    assert attempt.status == "held"
    deletion.refresh_from_db()
    assert deletion.vendor_state == VendorState.PENDING and deletion.vendor_attempts == 0
    assert "legal hold" in deletion.vendor_error
    assert recording.external_id in audian.sim.recordings_by_id  # the vendor's copy is kept

    queued = []
    monkeypatch.setattr(
        "recordings_portal.compliance.tasks.delete_at_vendor.delay", lambda *a: queued.append(a)
    )
    with django_capture_on_commit_callbacks(execute=True):
        holds_lift(recording_ids=[recording.id], user=people.bob, reason="settled")
    assert queued == [(deletion.id,)]
    assert deletion_vendor_attempt(deletion.id).status == "done"
    assert recording.external_id not in audian.sim.recordings_by_id


def test_a_held_recording_is_not_masked(people, flyflow):
    recording = flyflow()
    hold(recording, people.alice)
    with pytest.raises(Refused, match="Masking destroys the original"):
        mask_request_create(recording=recording, user=people.supervisor, reason="pan", spans=SPANS)


def test_a_hold_set_after_the_request_stops_its_approval_and_its_masking(people, flyflow):
    recording = flyflow()
    mask = mask_request_create(
        recording=recording, user=people.supervisor, reason="pan", spans=SPANS
    )
    hold(recording, people.alice)
    with pytest.raises(Refused, match="legal hold"):
        mask_request_approve(mask_request_id=mask.id, user=people.bob)

    # Approved before the hold: the task refuses, and the original stays.
    holds_lift(recording_ids=[recording.id], user=people.alice, reason="mistake")
    mask_request_approve(mask_request_id=mask.id, user=people.bob)
    hold(recording, people.alice)
    assert mask_request_run(mask.id) == "failed"
    mask.refresh_from_db()
    recording.refresh_from_db()
    assert mask.state == MaskState.FAILED and "legal hold" in mask.failure_reason
    assert recording.state == RecordingState.AVAILABLE
    assert not DeletionRecord.objects.exists() and MaskRequest.objects.count() == 1
