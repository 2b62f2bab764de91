"""Deletion: the local file destroyed, the vendor's copy where its API allows, a tombstone kept;
vendor failures retried, visible, and given up only on purpose."""

import pytest

from recordings_portal.audit.models import Outcome
from recordings_portal.catalog import storage
from recordings_portal.catalog.models import Recording, RecordingState
from recordings_portal.catalog.services.download import download_claim
from recordings_portal.compliance.models import DeletionRecord, MaskRequest, MaskState, VendorState
from recordings_portal.compliance.services import Refused
from recordings_portal.compliance.services.deletion import (
    deletion_destroy_local,
    deletion_recover,
    deletion_vendor_attempt,
    recording_delete,
    recordings_delete,
)
from recordings_portal.compliance.services.vendor import vendor_give_up, vendor_retry

from .conftest import events


def delete(recording, user, reason="customer asked (GDPR art. 17)", **kwargs):
    return recording_delete(recording_id=recording.id, user=user, reason=reason, **kwargs)


def test_it_destroys_the_file_and_keeps_a_tombstone(
    people, flyflow, django_capture_on_commit_callbacks
):
    recording = flyflow()
    key, peaks = recording.storage_key, recording.peaks_key
    with django_capture_on_commit_callbacks(execute=True):
        deletion = delete(recording, people.alice)

    recording.refresh_from_db()
    assert recording.state == RecordingState.DELETED
    assert (recording.storage_key, recording.peaks_key) == ("", "")
    assert not storage.exists(key) and not storage.exists(peaks)
    deletion.refresh_from_db()
    assert deletion.deleted_by == people.alice
    assert deletion.reason == "customer asked (GDPR art. 17)"
    assert deletion.local_keys == [key, peaks] and deletion.local_destroyed_at is not None
    assert deletion.sha256 == recording.sha256
    # Flyflow has no delete API: said plainly, nothing pending.
    assert deletion.vendor_state == VendorState.NO_API
    assert "No vendor API: Flyflow" in deletion.vendor_receipt
    (event,) = events("recording.delete")
    assert event.object_id == str(recording.id) and event.actor == people.alice
    assert event.details["reason"] == deletion.reason and event.details["vendor_delete"] is False


def test_it_needs_a_reason_and_the_permission(people, flyflow):
    recording = flyflow()
    with pytest.raises(Refused, match="Say why"):
        delete(recording, people.alice, reason="  ")
    with pytest.raises(Refused, match="may not delete"):
        delete(recording, people.supervisor)
    assert Recording.objects.get(id=recording.id).state == RecordingState.AVAILABLE


def test_it_refuses_a_second_deletion(people, flyflow):
    recording = flyflow()
    delete(recording, people.alice)
    with pytest.raises(Refused, match=r"already deleted .* by alice"):
        delete(recording, people.admin)
    assert DeletionRecord.objects.count() == 1


def test_admins_may_delete_and_the_files_go_only_after_the_commit(people, flyflow):
    recording = flyflow()
    deletion = delete(recording, people.admin)
    # Without the commit callback (the test transaction never commits) the files are still
    # there; the recovery destroys what a crash after the commit left.
    assert storage.exists(deletion.local_keys[0])
    assert deletion_destroy_local(deletion.id) is True
    assert not storage.exists(deletion.local_keys[0])
    assert deletion_destroy_local(deletion.id) is False


def test_the_recovery_destroys_files_a_crash_left(people, flyflow):
    deletion = delete(flyflow(), people.alice)
    DeletionRecord.objects.filter(id=deletion.id).update(
        created_at=deletion.created_at.replace(year=2020)
    )
    assert deletion_recover()["destroyed"] == [deletion.id]
    assert not storage.exists(deletion.local_keys[0])


def test_it_deletes_a_recording_never_downloaded_and_stops_a_download_in_progress(
    people, vendor_account
):
    account = vendor_account("flyflow")
    recording = Recording.objects.create(account=account, external_id="12")
    assert download_claim(recording.id) is not None  # a worker is downloading it
    deletion = delete(recording, people.alice)
    recording.refresh_from_db()
    assert recording.state == RecordingState.DELETED and recording.claim_token is None
    assert deletion.local_keys == []
    assert download_claim(recording.id) is None  # nothing downloads it again


def test_it_closes_open_masking_requests(people, flyflow):
    recording = flyflow()
    mask = MaskRequest.objects.create(
        recording=recording, requested_by=people.supervisor, reason="card", spans=[]
    )
    delete(recording, people.alice)
    mask.refresh_from_db()
    assert mask.state == MaskState.FAILED and "deleted before it was masked" in mask.failure_reason


def test_it_refuses_while_a_masking_runs(people, flyflow):
    recording = flyflow()
    MaskRequest.objects.create(
        recording=recording,
        requested_by=people.supervisor,
        reason="card",
        state=MaskState.PROCESSING,
    )
    with pytest.raises(Refused, match="being masked"):
        delete(recording, people.alice)


# --- at the vendor -------------------------------------------------------------------------


def test_it_deletes_audians_copy_with_its_receipt(people, audian):
    recording = audian()
    deletion = delete(recording, people.alice)
    assert deletion.vendor_state == VendorState.PENDING

    attempt = deletion_vendor_attempt(deletion.id)

    assert attempt.status == "done"
    deletion.refresh_from_db()
    assert deletion.vendor_state == VendorState.DONE
    assert deletion.vendor_receipt.startswith(f"Audian deleted recording {recording.external_id}")
    assert deletion.vendor_attempts == 1 and deletion.vendor_done_at is not None
    assert recording.external_id not in audian.sim.recordings_by_id
    (event,) = events("recording.vendor_delete")
    assert event.outcome == Outcome.SUCCESS and event.actor is None
    assert event.details["receipt"] == deletion.vendor_receipt
    assert event.details["deletionrecord"] == deletion.id


def test_already_gone_at_the_vendor_counts_as_deleted(people, audian):
    recording = audian()
    del audian.sim.recordings_by_id[recording.external_id]
    deletion = delete(recording, people.alice)
    assert deletion_vendor_attempt(deletion.id).status == "done"
    deletion.refresh_from_db()
    assert deletion.vendor_state == VendorState.DONE
    assert "no longer had" in deletion.vendor_receipt


def test_it_deletes_a_koreai_session(people, koreai):
    recording = koreai()
    deletion = delete(recording, people.admin)
    assert deletion_vendor_attempt(deletion.id).status == "done"
    deletion.refresh_from_db()
    assert "Kore.ai deleted the recordings of session" in deletion.vendor_receipt
    assert recording.session.deleted


def test_it_retries_a_failing_vendor_with_backoff_and_counts_attempts(
    people, audian, simulator_control, fast_retries
):
    deletion = delete(audian(), people.alice)
    simulator_control.faults("audian", fail_next=2)

    first = deletion_vendor_attempt(deletion.id)
    second = deletion_vendor_attempt(deletion.id)
    deletion.refresh_from_db()
    assert (first.status, second.status) == ("retry", "retry") and first.countdown > 0
    assert deletion.vendor_state == VendorState.PENDING and deletion.vendor_attempts == 2
    assert "server error" in deletion.vendor_error and deletion.vendor_next_attempt_at

    assert deletion_vendor_attempt(deletion.id).status == "done"
    deletion.refresh_from_db()
    assert (deletion.vendor_state, deletion.vendor_attempts, deletion.vendor_error) == (
        VendorState.DONE,
        3,
        "",
    )


def test_it_honours_retry_after(people, audian, simulator_control):
    deletion = delete(audian(), people.alice)
    simulator_control.faults("audian", rate_limit_next=1, retry_after=42)
    attempt = deletion_vendor_attempt(deletion.id)
    assert attempt.status == "retry" and attempt.countdown >= 42


def test_it_shows_a_failure_after_its_attempts_then_retries_or_gives_up_on_purpose(
    people, audian, simulator_control, settings, fast_retries
):
    settings.VENDOR_CHANGE_MAX_ATTEMPTS = 2
    deletion = delete(audian(), people.alice)
    simulator_control.faults("audian", fail_next=10)
    assert deletion_vendor_attempt(deletion.id).status == "retry"
    assert deletion_vendor_attempt(deletion.id).status == "failed"
    deletion.refresh_from_db()
    assert deletion.vendor_state == VendorState.FAILED
    assert deletion.vendor_error.startswith("Gave up after 2 attempts")
    assert deletion_vendor_attempt(deletion.id).status == "skipped"  # failed stays failed
    (failure,) = events("recording.vendor_delete")
    assert failure.outcome == Outcome.FAILURE

    vendor_retry(deletion, user=people.bob)
    deletion.refresh_from_db()
    assert deletion.vendor_state == VendorState.PENDING and deletion.vendor_attempt_limit == 4
    assert deletion_vendor_attempt(deletion.id).status == "retry"
    assert deletion_vendor_attempt(deletion.id).status == "failed"
    assert [e.actor for e in events("recording.vendor_retry")] == [people.bob]

    with pytest.raises(Refused, match="Say why"):
        vendor_give_up(deletion, user=people.bob, reason="")
    vendor_give_up(deletion, user=people.bob, reason="Audian support deletes it by hand")
    deletion.refresh_from_db()
    assert deletion.vendor_state == VendorState.GAVE_UP and deletion.gave_up_by == people.bob
    assert deletion.gave_up_reason == "Audian support deletes it by hand"
    (gave_up,) = events("recording.vendor_give_up")
    assert gave_up.details["reason"] == deletion.gave_up_reason
    with pytest.raises(Refused, match="nothing left"):
        vendor_give_up(deletion, user=people.bob, reason="again")


def test_refused_credentials_fail_at_once_and_flag_the_account(people, audian, simulators):
    deletion = delete(audian(), people.alice)
    simulators.vendors["audian"].api_key = "rotated"
    try:
        assert deletion_vendor_attempt(deletion.id).status == "failed"
    finally:
        simulators.vendors["audian"].api_key = audian.account.get_secrets()["api_key"]
    deletion.refresh_from_db()
    audian.account.refresh_from_db()
    assert deletion.vendor_state == VendorState.FAILED and "credentials" in deletion.vendor_error
    assert audian.account.health == "auth_failed"


def test_the_recovery_requeues_overdue_vendor_deletions(people, audian):
    deletion = delete(audian(), people.alice)
    assert deletion_recover()["vendor"] == []  # just queued: its task is on the way
    DeletionRecord.objects.filter(id=deletion.id).update(
        vendor_next_attempt_at=deletion.created_at.replace(year=2020)
    )
    assert deletion_recover()["vendor"] == [deletion.id]


# --- in bulk -------------------------------------------------------------------------------


def test_it_deletes_in_bulk_and_says_why_some_were_not(people, audian, flyflow):
    held, gone = audian(legal_hold=True), flyflow()
    delete(gone, people.alice)
    targets = [audian(), flyflow(), held, gone]

    result = recordings_delete(
        recording_ids=[r.id for r in targets] + [999999],
        user=people.alice,
        reason="end of contract",
    )

    assert result.deleted == [targets[0].id, targets[1].id]
    assert "legal hold" in result.refused[held.id]
    assert "already deleted" in result.refused[gone.id]
    assert "no recording 999999" in result.refused[999999]
    assert {d.source for d in DeletionRecord.objects.filter(recording__in=targets[:2])} == {"bulk"}
    assert len(events("recording.delete")) == 3  # the earlier one and the two now
