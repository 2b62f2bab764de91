"""Masking requests: four eyes, each state change on the record, and the masking itself: the
verified masked file replaces the original, which is destroyed; a failure changes nothing."""

import json

import pytest
from django.utils import timezone

from recordings_portal.audit.models import Outcome
from recordings_portal.catalog import storage
from recordings_portal.catalog.models import Recording, RecordingState
from recordings_portal.compliance.models import MaskRequest, MaskState, VendorAction, VendorState
from recordings_portal.compliance.services import Refused, masking
from recordings_portal.compliance.services.masking import (
    mask_recover,
    mask_request_approve,
    mask_request_create,
    mask_request_reject,
    mask_request_run,
    mask_vendor_attempt,
)

from .conftest import events

CARD = [{"start": 3, "end": 5, "channel": "caller"}, {"start": 10, "end": 12, "channel": "both"}]


def request_mask(recording, user, spans=CARD, **options):
    return mask_request_create(
        recording=recording, user=user, reason="card number read out", spans=spans, **options
    )


def approved(recording, people, **options):
    mask = request_mask(recording, people.supervisor, **options)
    return mask_request_approve(mask_request_id=mask.id, user=people.alice)


def stored_files() -> set[str]:
    root = storage.root()
    found = {str(p.relative_to(root)) for p in (root / "recordings").rglob("*") if p.is_file()}
    leftovers = [p for p in (root / storage.TEMP_DIR).glob("*")] if root.exists() else []
    assert not leftovers, f"temporary files left behind: {leftovers}"
    return found


# --- asking ------------------------------------------------------------------------------


def test_it_records_a_request_with_normalised_spans(people, flyflow):
    recording = flyflow(duration=20)
    mask = request_mask(recording, people.supervisor, trim=[1, 18])

    assert mask.state == MaskState.REQUESTED and mask.requested_by == people.supervisor
    assert mask.spans == [
        {"start": 3.0, "end": 5.0, "channel": "caller"},
        {"start": 10.0, "end": 12.0, "channel": "both"},
    ]
    assert mask.trim == [1.0, 18.0] and mask.source_sha256 == recording.sha256
    (event,) = events("mask.request")
    assert event.actor == people.supervisor and event.object_id == str(recording.id)
    assert event.details == {
        "mask_request": mask.id,
        "reason": "card number read out",
        "spans": "0:03-0:05 caller; 0:10-0:12 both",
        "trim": [1.0, 18.0],
        "delete_vendor_copy": False,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"state": RecordingState.DELETED}, "deleted"),
        ({"state": RecordingState.DISCOVERED, "storage_key": ""}, "no stored file"),
    ],
)
def test_it_refuses_a_recording_it_cannot_mask(people, flyflow, change, message):
    recording = flyflow()
    Recording.objects.filter(id=recording.id).update(**change)
    with pytest.raises(Refused, match=message):
        request_mask(recording, people.supervisor)


def test_it_refuses_a_recording_being_masked(people, flyflow):
    recording = flyflow()
    MaskRequest.objects.create(
        recording=recording, requested_by=people.bob, reason="x", state=MaskState.PROCESSING
    )
    with pytest.raises(Refused, match="being masked right now"):
        request_mask(recording, people.supervisor)


def test_it_refuses_bad_spans_a_missing_reason_and_people_without_the_permission(people, flyflow):
    recording = flyflow(duration=20)
    with pytest.raises(Refused, match="after the recording's end"):
        request_mask(recording, people.supervisor, spans=[{"start": 5, "end": 25}])
    with pytest.raises(Refused, match="at least one span"):
        request_mask(recording, people.supervisor, spans=[])
    with pytest.raises(Refused, match="Say why"):
        mask_request_create(recording=recording, user=people.supervisor, reason="", spans=CARD)
    with pytest.raises(Refused, match="may not request"):
        request_mask(recording, people.auditor)
    with pytest.raises(Refused, match="Flyflow cannot delete"):
        request_mask(recording, people.supervisor, delete_vendor_copy=True)
    assert not MaskRequest.objects.exists()


# --- four eyes ---------------------------------------------------------------------------


def test_nobody_decides_on_their_own_request(people, flyflow):
    mask = request_mask(flyflow(), people.alice)  # compliance may ask too
    for decide in (mask_request_approve, mask_request_reject):
        with pytest.raises(Refused, match="Four eyes"):
            decide(mask_request_id=mask.id, user=people.alice, note="fine by me")
    mask.refresh_from_db()
    assert mask.state == MaskState.REQUESTED and mask.decided_by is None
    assert mask_request_approve(mask_request_id=mask.id, user=people.bob).state == "approved"


def test_only_compliance_decides(people, flyflow):
    mask = request_mask(flyflow(), people.supervisor)
    for user in (people.supervisor, people.admin, people.auditor):
        with pytest.raises(Refused, match="Only compliance"):
            mask_request_approve(mask_request_id=mask.id, user=user)


def test_approval_is_recorded_and_queues_the_masking(
    people, flyflow, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(
        "recordings_portal.compliance.tasks.mask_recording.delay", lambda *a: queued.append(a)
    )
    mask = request_mask(flyflow(), people.supervisor)
    with django_capture_on_commit_callbacks(execute=True):
        mask = mask_request_approve(mask_request_id=mask.id, user=people.alice, note="ok")

    assert (mask.state, mask.decided_by, mask.decision_note) == ("approved", people.alice, "ok")
    assert mask.decided_at is not None and queued == [(mask.id,)]
    (event,) = events("mask.approve")
    assert event.actor == people.alice and event.details["requested_by"] == "sue"


def test_a_request_is_decided_once_whatever_races(people, flyflow):
    mask = request_mask(flyflow(), people.supervisor)
    # Another officer's decision lands between our checks and our update.
    MaskRequest.objects.filter(id=mask.id).update(state=MaskState.REJECTED)
    original = masking._decision_guard

    def guard_that_saw_it_open(mask_request_id, user):
        MaskRequest.objects.filter(id=mask_request_id).update(state=MaskState.REQUESTED)
        found = original(mask_request_id, user)
        MaskRequest.objects.filter(id=mask_request_id).update(state=MaskState.REJECTED)
        return found

    masking._decision_guard = guard_that_saw_it_open
    try:
        with pytest.raises(Refused, match="already decided: rejected"):
            mask_request_approve(mask_request_id=mask.id, user=people.bob)
    finally:
        masking._decision_guard = original
    assert not events("mask.approve")
    with pytest.raises(Refused, match="already decided"):
        mask_request_approve(mask_request_id=mask.id, user=people.alice)


def test_a_rejection_needs_a_note_and_is_recorded(people, flyflow):
    mask = request_mask(flyflow(), people.supervisor)
    with pytest.raises(Refused, match="Say why you reject"):
        mask_request_reject(mask_request_id=mask.id, user=people.alice, note="")
    mask = mask_request_reject(mask_request_id=mask.id, user=people.alice, note="no PAN there")
    assert (mask.state, mask.decision_note) == (MaskState.REJECTED, "no PAN there")
    assert mask.finished_at is not None
    assert events("mask.reject")[0].details["note"] == "no PAN there"
    assert mask_request_run(mask.id) == "skipped"  # a rejected request is never masked


# --- the masking ---------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "rate"), [("mp3", 8000), ("wav", 16000), ("opus", 8000)])
def test_it_replaces_the_original_with_the_verified_masked_file(people, flyflow, fmt, rate):
    recording = flyflow(format=fmt, sample_rate=rate, duration=20)
    before = {
        "key": recording.storage_key,
        "peaks_key": recording.peaks_key,
        "sha256": recording.sha256,
        "peaks": json.loads(storage.read_bytes(recording.peaks_key)),
    }
    mask = approved(recording, people)

    assert mask_request_run(mask.id) == "done"

    recording.refresh_from_db()
    mask.refresh_from_db()
    assert recording.state == RecordingState.MASKED and mask.state == MaskState.DONE
    assert recording.sha256 != before["sha256"] and recording.storage_key != before["key"]
    assert recording.storage_key == mask.masked_key
    assert recording.storage_key.endswith(f"{recording.sha256}.{fmt}")
    assert storage.size(recording.storage_key) == recording.size
    # The unmasked original is gone for good; only the masked file and its peaks remain.
    assert not storage.exists(before["key"]) and not storage.exists(before["peaks_key"])
    assert stored_files() == {recording.storage_key, recording.peaks_key}
    peaks = json.loads(storage.read_bytes(recording.peaks_key))
    assert peaks != before["peaks"]
    assert recording.duration == pytest.approx(20, abs=0.1)
    assert recording.metadata["masked_spans"] == [
        {"start": 3.0, "end": 5.0, "channel": 0},
        {"start": 10.0, "end": 12.0, "channel": None},
    ]
    (done,) = events("mask.done")
    assert done.details["sha256"] == recording.sha256
    assert done.details["original_sha256"] == before["sha256"]
    # Flyflow can neither mask nor delete its copy: said plainly on the request.
    assert mask.vendor_state == VendorState.UNMASKED
    assert "An unmasked copy remains at Flyflow" in mask.vendor_receipt


def test_a_trim_keeps_only_the_part_asked_for_and_moves_the_spans_with_it(people, flyflow):
    recording = flyflow(format="wav", duration=20)
    mask = approved(recording, people, trim=[2, 14])
    assert mask_request_run(mask.id) == "done"
    recording.refresh_from_db()
    assert recording.duration == pytest.approx(12, abs=0.05)
    assert recording.metadata["masked_spans"] == [
        {"start": 1.0, "end": 3.0, "channel": 0},
        {"start": 8.0, "end": 10.0, "channel": None},
    ]


def test_a_second_masking_adds_its_spans(people, flyflow):
    recording = flyflow(format="wav", duration=20)
    first = approved(recording, people, spans=[{"start": 1, "end": 2, "channel": "callee"}])
    second = approved(recording, people, spans=[{"start": 15, "end": 16, "channel": "caller"}])
    assert mask_request_run(first.id) == "done"
    assert mask_request_run(second.id) == "done"  # the timeline is the same: its spans fit
    recording.refresh_from_db()
    assert recording.metadata["masked_spans"] == [
        {"start": 1.0, "end": 2.0, "channel": 1},
        {"start": 15.0, "end": 16.0, "channel": 0},
    ]


def test_a_request_made_before_a_trim_no_longer_fits_and_fails(people, flyflow):
    recording = flyflow(format="wav", duration=20)
    trimming = approved(recording, people, trim=[5, 15])
    later = approved(recording, people)
    assert mask_request_run(trimming.id) == "done"
    assert mask_request_run(later.id) == "failed"
    later.refresh_from_db()
    assert "trimmed by another masking" in later.failure_reason


def test_a_failed_verification_changes_nothing(people, flyflow, monkeypatch):
    recording = flyflow()
    files = stored_files()
    mask = approved(recording, people)

    class NotOk:
        ok, reasons = False, ["span 3.0-5.0 s on channel 0 still holds speech"]

    # The engine has its own tests of what fails verification; here only the outcome matters.
    monkeypatch.setattr(masking, "verify_masked", lambda *args: NotOk())

    assert mask_request_run(mask.id) == "failed"

    mask.refresh_from_db()
    after = Recording.objects.get(id=recording.id)
    assert mask.state == MaskState.FAILED
    assert "did not pass verification (span 3.0-5.0 s on channel 0 still holds speech)" in (
        mask.failure_reason
    )
    assert (after.state, after.storage_key, after.sha256) == (
        RecordingState.AVAILABLE,
        recording.storage_key,
        recording.sha256,
    )
    assert stored_files() == files  # the original is there, no masked file was kept
    (failed,) = events("mask.failed")
    assert failed.outcome == Outcome.FAILURE and failed.details["reason"] == mask.failure_reason
    assert not events("mask.done")


def test_a_corrupt_stored_file_fails_the_request_and_keeps_the_file(people, flyflow):
    recording = flyflow()
    storage.write_bytes(recording.storage_key, b"ID3 this is not audio at all" * 100)
    mask = approved(recording, people)
    assert mask_request_run(mask.id) == "failed"
    mask.refresh_from_db()
    assert "original is unchanged" in mask.failure_reason
    assert storage.exists(recording.storage_key)
    assert Recording.objects.get(id=recording.id).state == RecordingState.AVAILABLE


def test_it_finishes_after_a_crash_once_the_row_points_to_the_masked_file(
    people, flyflow, monkeypatch
):
    recording = flyflow(format="wav")
    original = recording.storage_key
    mask = approved(recording, people)
    monkeypatch.setattr(masking, "_complete", lambda mask: (_ for _ in ()).throw(SystemExit))
    with pytest.raises(SystemExit):  # the worker dies right after pointing the row
        mask_request_run(mask.id)
    monkeypatch.undo()
    assert storage.exists(original)  # not destroyed yet
    MaskRequest.objects.filter(id=mask.id).update(claimed_until=timezone.now())

    assert mask_recover()["masks"] == []

    mask.refresh_from_db()
    recording.refresh_from_db()
    assert mask.state == MaskState.DONE and recording.storage_key == mask.masked_key
    assert not storage.exists(original)


def test_it_runs_again_after_a_crash_before_the_row_pointed_to_the_masked_file(
    people, flyflow, monkeypatch
):
    recording = flyflow(format="wav")
    mask = approved(recording, people)
    monkeypatch.setattr(masking, "_point_row", lambda *a: (_ for _ in ()).throw(SystemExit))
    with pytest.raises(SystemExit):
        mask_request_run(mask.id)
    monkeypatch.undo()
    mask.refresh_from_db()
    orphan = mask.masked_key
    assert storage.exists(orphan) and mask.state == MaskState.PROCESSING
    MaskRequest.objects.filter(id=mask.id).update(claimed_until=timezone.now())

    assert mask_recover()["masks"] == [mask.id]

    mask.refresh_from_db()
    assert mask.state == MaskState.APPROVED and not storage.exists(orphan)
    assert mask_request_run(mask.id) == "done"
    assert stored_files() == {
        Recording.objects.get(id=recording.id).storage_key,
        Recording.objects.get(id=recording.id).peaks_key,
    }


def test_a_request_whose_worker_keeps_dying_fails_visibly(people, flyflow):
    mask = approved(flyflow(), people)
    MaskRequest.objects.filter(id=mask.id).update(attempts=masking.MAX_ATTEMPTS)
    assert mask_request_run(mask.id) == "failed"
    mask.refresh_from_db()
    assert "stopped 3 times" in mask.failure_reason


# --- at the vendor -------------------------------------------------------------------------


def test_it_deletes_audians_copy_when_asked_to(people, audian):
    recording = audian(format="wav")
    mask = approved(recording, people, delete_vendor_copy=True)
    assert mask_request_run(mask.id) == "done"
    mask.refresh_from_db()
    assert (mask.vendor_action, mask.vendor_state) == (VendorAction.DELETE, VendorState.PENDING)

    assert mask_vendor_attempt(mask.id).status == "done"

    mask.refresh_from_db()
    assert mask.vendor_state == VendorState.DONE and "Audian deleted recording" in (
        mask.vendor_receipt
    )
    assert recording.external_id not in audian.sim.recordings_by_id
    (event,) = events("recording.vendor_delete")
    assert event.details["maskrequest"] == mask.id


def test_it_says_an_unmasked_copy_remains_when_deleting_it_was_not_chosen(people, audian):
    recording = audian(format="wav")
    mask = approved(recording, people)
    assert mask_request_run(mask.id) == "done"
    mask.refresh_from_db()
    assert mask.vendor_state == VendorState.UNMASKED
    assert "deleting it there was not chosen" in mask.vendor_receipt
    assert recording.external_id in audian.sim.recordings_by_id


def test_one_recording_is_masked_by_one_request_at_a_time(people, flyflow):
    recording = flyflow(format="wav")
    first, second = approved(recording, people), approved(recording, people)
    MaskRequest.objects.filter(id=first.id).update(state=MaskState.PROCESSING)
    assert mask_request_run(second.id) == "skipped"  # the database refuses a second claim
    second.refresh_from_db()
    assert second.state == MaskState.APPROVED and second.attempts == 0
