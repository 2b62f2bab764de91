"""The compliance tasks on a real Celery worker and broker, against the vendor simulators."""

import time

from recordings_portal.catalog import storage
from recordings_portal.catalog.models import Recording, RecordingState
from recordings_portal.compliance.models import DeletionRecord, MaskRequest, VendorState
from recordings_portal.compliance.services.deletion import recording_delete
from recordings_portal.compliance.services.masking import (
    mask_request_approve,
    mask_request_create,
)
from recordings_portal.compliance.tasks import recover_compliance_work


def wait_until(condition, timeout: float = 60, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {message}")


def test_a_vendor_deletion_is_retried_on_the_worker_until_it_succeeds(
    celery_worker, people, audian, simulator_control, fast_retries
):
    simulator_control.faults("audian", fail_next=2)
    recording = audian()
    deletion = recording_delete(recording_id=recording.id, user=people.alice, reason="gdpr")
    wait_until(
        lambda: DeletionRecord.objects.get(id=deletion.id).vendor_state == VendorState.DONE,
        message="the vendor deletion",
    )
    deletion.refresh_from_db()
    assert deletion.vendor_attempts == 3 and deletion.local_destroyed_at is not None
    assert not storage.exists(deletion.local_keys[0])
    assert recording.external_id not in audian.sim.recordings_by_id


def test_an_approved_masking_runs_on_the_media_worker_and_reaches_the_vendor(
    celery_worker, people, audian
):
    recording = audian(format="wav", duration=10)
    mask = mask_request_create(
        recording=recording,
        user=people.supervisor,
        reason="card number",
        spans=[{"start": 2, "end": 4, "channel": "caller"}],
        delete_vendor_copy=True,
    )
    mask_request_approve(mask_request_id=mask.id, user=people.alice)
    wait_until(
        lambda: MaskRequest.objects.get(id=mask.id).vendor_state == VendorState.DONE,
        message="the masking and the vendor's deletion",
    )
    recording.refresh_from_db()
    assert recording.state == RecordingState.MASKED and recording.sha256 != mask.source_sha256
    assert recording.external_id not in audian.sim.recordings_by_id


def test_the_recovery_beat_requeues_a_lost_vendor_deletion(celery_worker, people, audian):
    recording = audian()
    deletion = recording_delete(recording_id=recording.id, user=people.alice, reason="gdpr")
    wait_until(
        lambda: DeletionRecord.objects.get(id=deletion.id).vendor_state == VendorState.DONE,
        message="the first deletion",
    )
    # A second deletion whose message the broker lost long ago.
    other = audian()
    Recording.objects.filter(id=other.id).update(state=RecordingState.DELETED)
    lost = DeletionRecord.objects.create(
        recording=other,
        reason="gdpr",
        source="manual",
        vendor_action="delete",
        vendor_state=VendorState.PENDING,
        vendor_attempt_limit=3,
    )
    assert recover_compliance_work()["vendor"] == 1
    wait_until(
        lambda: DeletionRecord.objects.get(id=lost.id).vendor_state == VendorState.DONE,
        message="the requeued deletion",
    )
