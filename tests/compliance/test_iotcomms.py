"""iotcomms: deletion of both its copies, and masking of its own copy while it still can.

Over real HTTP as in production: the simulator calls the portal's webhook endpoint (a live
server) about the call, the portal commands the simulator."""

import hashlib
import time

import pytest

from recordings_portal.audit.models import Outcome
from recordings_portal.catalog.models import Recording
from recordings_portal.catalog.services.download import recording_download
from recordings_portal.compliance.models import VendorAction, VendorState
from recordings_portal.compliance.services.deletion import (
    deletion_vendor_attempt,
    recording_delete,
)
from recordings_portal.compliance.services.masking import (
    mask_request_approve,
    mask_request_create,
    mask_request_run,
    mask_vendor_attempt,
)
from recordings_portal.vendors.connectors.base import RecordingRef
from recordings_portal.vendors.connectors.iotcomms import IotcommsConnector
from recordings_portal.vendors.connectors.iotcomms_store import stored_key

from .conftest import events


@pytest.fixture
def iotcomms(transactional_db, vendor_account, live_server, simulator_control, simulators):
    """stored(keep_temporary=False) -> an iotcomms recording downloaded into the portal."""
    account = vendor_account("iotcomms")
    simulator_control.knob(
        "iotcomms", "callbacks", url=f"{live_server.url}/hooks/{account.public_id}"
    )
    sim = simulators.vendors["iotcomms"]

    def stored(keep_temporary=False, monkeypatch=None):
        recording_id = simulator_control.knob("iotcomms", "call", duration=8).json()["recordingId"]
        wait_for(lambda: row(account, recording_id), "the row from /recordingStarted")
        simulator_control.advance_clock(8)
        wait_for(lambda: (r := row(account, recording_id)) and r.vendor_state == "ready", "ready")
        if keep_temporary:
            # Stored before iotcomms frees its temporary copy: it can still mask its own.
            monkeypatch.setattr(IotcommsConnector, "after_download", lambda self, ref: None)
        assert recording_download(row(account, recording_id).id).status == "stored"
        return row(account, recording_id)

    stored.sim, stored.account = sim, account
    return stored


def wait_for(condition, message, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


def row(account, recording_id):
    return Recording.objects.filter(account=account, external_id=recording_id).first()


def bucket_file(iotcomms, recording):
    ref = RecordingRef(recording.external_id, metadata=recording.metadata)
    return iotcomms.sim.buckets.path(iotcomms.account.config["bucket"], stored_key(ref))


def masked(recording, people, **options):
    mask = mask_request_create(
        recording=recording,
        user=people.supervisor,
        reason="card number",
        spans=[{"start": 2, "end": 3, "channel": "caller"}],
        **options,
    )
    mask_request_approve(mask_request_id=mask.id, user=people.alice)
    assert mask_request_run(mask.id) == "done"
    mask.refresh_from_db()
    return mask


def test_it_deletes_iotcomms_stored_copy(people, iotcomms):
    recording = iotcomms()
    stored = bucket_file(iotcomms, recording)
    assert stored.is_file()
    deletion = recording_delete(recording_id=recording.id, user=people.alice, reason="gdpr")
    assert deletion_vendor_attempt(deletion.id).status == "done"
    deletion.refresh_from_db()
    assert deletion.vendor_receipt == (
        "iotcomms: temporary copy already gone; "
        f"stored copy {stored.parent.name}/{stored.name} deleted."
    )
    assert not stored.exists()


def test_it_has_iotcomms_mask_its_copy_while_the_temporary_copy_exists(
    people, iotcomms, monkeypatch
):
    recording = iotcomms(keep_temporary=True, monkeypatch=monkeypatch)
    before = hashlib.sha256(bucket_file(iotcomms, recording).read_bytes()).hexdigest()
    mask = masked(recording, people)
    assert (mask.vendor_action, mask.vendor_state) == (VendorAction.REMOTE_MASK, "vendor_pending")

    assert mask_vendor_attempt(mask.id).status == "done"

    mask.refresh_from_db()
    assert mask.vendor_state == VendorState.DONE
    assert "iotcomms stored a modified copy" in mask.vendor_receipt
    after = hashlib.sha256(bucket_file(iotcomms, recording).read_bytes()).hexdigest()
    assert after != before
    (event,) = events("mask.remote")
    assert event.outcome == Outcome.SUCCESS and event.details["receipt"] == mask.vendor_receipt


def test_it_says_plainly_when_iotcomms_can_no_longer_mask_its_copy(people, iotcomms):
    recording = iotcomms()  # downloaded as usual: the temporary copy is gone
    mask = masked(recording, people)

    assert mask_vendor_attempt(mask.id).status == "done"

    mask.refresh_from_db()
    assert mask.vendor_state == VendorState.UNMASKED
    assert mask.vendor_receipt.startswith("An unmasked copy remains at iotcomms SIPRec.")
    assert "only while its temporary copy exists" in mask.vendor_receipt
    (event,) = events("mask.remote")
    assert event.outcome == Outcome.FAILURE


def test_it_deletes_iotcomms_copy_instead_when_asked_to(people, iotcomms):
    recording = iotcomms()
    mask = masked(recording, people, delete_vendor_copy=True)
    assert mask.vendor_action == VendorAction.DELETE
    assert mask_vendor_attempt(mask.id).status == "done"
    assert not bucket_file(iotcomms, recording).exists()
