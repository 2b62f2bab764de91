"""The iotcomms connector over real HTTP: the simulator calls the portal's webhook endpoint (a
live server) and the connector commands the simulator, as in production."""

import hashlib
import time

import av
import httpx
import numpy as np
import pytest

from recordings_portal.catalog.models import Recording, RecordingState
from recordings_portal.catalog.services.download import RetryLater, recording_download
from recordings_portal.simulators.iotcomms_outbox import CALLBACK_TOKEN
from recordings_portal.vendors.connectors.base import AuthFailed, Gone, MaskSpan, RecordingRef
from recordings_portal.vendors.connectors.iotcomms_store import modification_params, stored_key
from recordings_portal.vendors.connectors.registry import connector_for
from recordings_portal.vendors.models import Health, WebhookDelivery
from recordings_portal.vendors.services import account_test_connection, account_update


@pytest.fixture
def sim(simulators):
    return simulators.vendors["iotcomms"]


@pytest.fixture
def make_account(transactional_db, vendor_account, live_server, simulator_control):
    """An iotcomms account whose callbacks iotcomms sends to the portal's live webhook URL."""

    def make(**policy):
        account = vendor_account("iotcomms")
        if policy:
            account_update(account, config={**account.config, **policy})
        url = f"{live_server.url}/hooks/{account.public_id}"
        simulator_control.knob("iotcomms", "callbacks", url=url)
        return account

    return make


@pytest.fixture
def account(make_account):
    return make_account()


def wait_for(condition, message, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


def row(account, recording_id) -> Recording | None:
    return Recording.objects.filter(account=account, external_id=recording_id).first()


def delivered(account, delivery_id) -> bool:
    return WebhookDelivery.objects.filter(account=account, delivery_id=delivery_id).exists()


def start_call(control, **options) -> str:
    return control.knob("iotcomms", "call", **{"duration": 4, **options}).json()["recordingId"]


def ready_row(account, control, **options) -> Recording:
    """A call run to its end: its row once /recordingReady has been applied."""
    duration = options.setdefault("duration", 4)
    recording_id = start_call(control, **options)
    wait_for(lambda: row(account, recording_id), "the row from /recordingStarted")
    control.advance_clock(duration)
    return wait_for(
        lambda: (r := row(account, recording_id)) and r.vendor_state == "ready" and r,
        "/recordingReady",
    )


def ref(recording: Recording) -> RecordingRef:
    recording.refresh_from_db()
    return RecordingRef(recording.external_id, metadata=recording.metadata)


def bucket_file(sim, recording):
    return sim.buckets.path(sim.credentials()["config"]["bucket"], stored_key(ref(recording)))


def hook(live_server, account, path, body, token=CALLBACK_TOKEN, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{live_server.url}/hooks/{account.public_id}/{path}"
    if isinstance(body, bytes):
        return httpx.post(url, content=body, headers=headers, **kwargs)
    return httpx.post(url, json=body, headers=headers, **kwargs)


def decoded(path):
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray() for frame in container.decode(audio=0)]
        return np.concatenate(frames, axis=1), container.streams.audio[0].rate


def tone_share(samples, rate):
    """Share of a span's energy within 950-1050 Hz (the vendor's 1 kHz beep)."""
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / rate)
    return spectrum[(freqs > 950) & (freqs < 1050)].sum() / max(spectrum.sum(), 1e-12)


# --- newCall and the recording policy -----------------------------------------------------


@pytest.mark.parametrize(
    ("config", "callee", "recorded"),
    [
        ({}, "+14155552001", True),
        ({"record_calls": "none"}, "+14155552001", False),
        ({"record_calls": "matching", "record_patterns": "callee:+1415555*"}, "+14155552001", True),
        (
            {"record_calls": "matching", "record_patterns": "callee:+1415555*"},
            "+442079460000",
            False,
        ),
        ({"record_patterns": "!+4420*"}, "+442079460000", False),
    ],
)
def test_it_answers_newcall_from_the_recording_policy(
    make_account, simulator_control, sim, config, callee, recorded
):
    account = make_account(**config)
    recording_id = start_call(simulator_control, callee=callee, caller="+46701234567")
    wait_for(lambda: sim.calls[recording_id].state != "ringing", "the newCall answer")
    assert sim.calls[recording_id].recording is recorded
    assert delivered(account, f"newCall:{recording_id}")
    if recorded:
        started = wait_for(lambda: row(account, recording_id), "the row from /recordingStarted")
        assert (started.caller, started.callee) == ("+46701234567", callee)
    else:
        simulator_control.advance_clock(4)
        time.sleep(0.5)  # a sweep or two: a recording would now be reported ready
        assert not Recording.objects.exists()
        assert recording_id not in sim.temp


# --- the row from started to stored -------------------------------------------------------


def test_it_creates_the_row_when_recording_starts_and_stores_it_once_ready(
    account, simulator_control, sim
):
    recording_id = start_call(simulator_control, duration=5, caller="+46701234567")
    started = wait_for(lambda: row(account, recording_id), "the row from /recordingStarted")
    assert (started.state, started.vendor_state, started.caller) == (
        RecordingState.DISCOVERED,
        "recording",
        "+46701234567",
    )
    assert started.started_at is not None and started.metadata["startedReplyId"]
    with pytest.raises(RetryLater):  # still recording: nothing to store yet
        recording_download(started.id)
    started.refresh_from_db()
    assert (started.state, started.download_attempts) == (RecordingState.DISCOVERED, 0)

    simulator_control.advance_clock(5)
    ready = wait_for(
        lambda: (r := row(account, recording_id)) and r.vendor_state == "ready" and r, "ready"
    )
    meta = ready.metadata
    assert {"replyId", "tempBucket", "tempKey", "startTime", "parts", "startedReplyId"} <= set(meta)
    assert meta["tempKey"].endswith(f"-{recording_id}.mp3")
    assert meta["parts"]["callerStreams"][0]["start"] == meta["startTime"]
    assert ready.started_at.timestamp() == pytest.approx(meta["startTime"] / 1000)

    assert recording_download(ready.id).status == "stored"
    ready.refresh_from_db()
    assert ready.state == RecordingState.AVAILABLE
    stored = bucket_file(sim, ready)
    assert ready.sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert ready.duration == pytest.approx(5, abs=0.2) and ready.channels == 2
    assert recording_id not in sim.temp  # DELETERECORDING freed the temporary copy
    # The implicit callbacks our commands cause are accepted and change nothing.
    wait_for(lambda: delivered_like(account, "recordingDeleted:"), "/recordingDeleted")
    assert delivered_like(account, "recordingStored:")
    account.refresh_from_db()
    assert account.health != Health.DEGRADED


def delivered_like(account, prefix) -> bool:
    return WebhookDelivery.objects.filter(account=account, delivery_id__startswith=prefix).exists()


def test_it_stores_from_the_bucket_when_the_copy_is_already_there(account, simulator_control, sim):
    ready = ready_row(account, simulator_control)
    connector = connector_for(account)
    with connector.media(ref(ready)) as media:
        first = b"".join(media.iter_bytes())
    connector.after_download(ref(ready))  # the temporary copy is gone from here on
    assert recording_download(ready.id).status == "stored"
    ready.refresh_from_db()
    assert ready.sha256 == hashlib.sha256(first).hexdigest()


def test_it_calls_a_recording_gone_when_its_temporary_copy_is_gone_and_none_was_stored(
    account, simulator_control
):
    ready = ready_row(account, simulator_control)
    connector_for(account).after_download(ref(ready))
    assert recording_download(ready.id).status == "failed"
    ready.refresh_from_db()
    assert ready.state == RecordingState.FAILED
    assert "no longer has recording" in ready.last_error and "expired" in ready.last_error


def test_it_refuses_a_file_whose_md5_is_not_the_etag(account, simulator_control, sim):
    ready = ready_row(account, simulator_control)
    simulator_control.faults("iotcomms", wrong_checksum=True)
    with pytest.raises(RetryLater):
        recording_download(ready.id)
    ready.refresh_from_db()
    assert ready.state == RecordingState.DISCOVERED and "Checksum mismatch" in ready.last_error
    assert ready.external_id in sim.temp  # kept for the next attempt


def test_it_flags_the_account_when_the_storage_token_is_refused(account, simulator_control):
    ready = ready_row(account, simulator_control)
    account.set_secrets({**account.get_secrets(), "storage_token": "wrong"})
    account.save()
    assert recording_download(ready.id).status == "failed"
    account.refresh_from_db()
    assert account.health == Health.AUTH_FAILED and "storage token" in account.last_error


# --- failures, cancellations, alarms ------------------------------------------------------


def test_it_marks_a_failed_recording_gone_with_the_reason_and_raises_the_alarm(
    account, simulator_control
):
    recording_id = start_call(simulator_control, duration=2, fail=True)
    wait_for(lambda: row(account, recording_id), "the row from /recordingStarted")
    simulator_control.advance_clock(2)
    wait_for(lambda: delivered(account, f"alarm:recordingFailed:{recording_id}"), "the alarm")
    failed = row(account, recording_id)
    assert (failed.state, failed.vendor_state) == (RecordingState.FAILED, "failed")
    assert "recording failed" in failed.last_error
    assert "No RTP media received" in failed.metadata["error"]
    account.refresh_from_db()
    assert account.health == Health.DEGRADED
    assert "No RTP media received" in account.last_error and recording_id in account.last_error


def test_it_cancels_a_recording_still_running_when_deleted(account, simulator_control, sim):
    recording_id = start_call(simulator_control, duration=30)
    started = wait_for(lambda: row(account, recording_id), "the row from /recordingStarted")
    receipt = connector_for(account).delete(ref(started))
    assert "recording cancelled" in receipt
    cancelled = wait_for(
        lambda: (r := row(account, recording_id)) and r.state == RecordingState.FAILED and r,
        "/recordingCancelled",
    )
    assert cancelled.vendor_state == "cancelled" and "cancelled" in cancelled.last_error
    simulator_control.advance_clock(30)
    time.sleep(0.5)
    assert recording_id not in sim.temp


def test_it_marks_a_recording_expired_in_temporary_storage_gone(account, simulator_control, sim):
    ready = ready_row(account, simulator_control)
    waiting = len(sim.temp)  # ours and those seeded before the test
    simulator_control.advance_clock(25 * 3600)
    alarms = WebhookDelivery.objects.filter(delivery_id__startswith="alarm:tempRecordingDeleted:")
    wait_for(lambda: alarms.count() == waiting, "the expiry alarms")
    assert delivered(account, f"alarm:tempRecordingDeleted:{ready.external_id}")
    ready.refresh_from_db()
    assert (ready.state, ready.vendor_state) == (RecordingState.FAILED, "expired")
    account.refresh_from_db()
    assert account.health == Health.DEGRADED and "expired" in account.last_error


# --- what the endpoint refuses ------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "body", "status"),
    [
        (None, {"recordingId": "015b5b80-c275-11ed-a32c-fddf7fd4273c"}, 401),
        ("wrong", {"recordingId": "015b5b80-c275-11ed-a32c-fddf7fd4273c"}, 401),
        (CALLBACK_TOKEN[:-1], {"recordingId": "015b5b80-c275-11ed-a32c-fddf7fd4273c"}, 401),
        (CALLBACK_TOKEN, b"{not json", 400),
        (CALLBACK_TOKEN, [1, 2], 400),
        (CALLBACK_TOKEN, {"recordingId": "../../etc"}, 400),
        (CALLBACK_TOKEN, {"event": "RECORDINGSTARTED"}, 400),
    ],
)
def test_it_refuses_a_callback_it_cannot_trust_changing_nothing(
    live_server, account, token, body, status
):
    response = hook(live_server, account, "recordingStarted", body, token=token)
    assert response.status_code == status
    assert response.json()["error"]
    assert not Recording.objects.exists()
    assert not WebhookDelivery.objects.exists()


def test_it_treats_a_resent_callback_as_a_duplicate(live_server, account, simulator_control, sim):
    ready = ready_row(account, simulator_control)
    before = ready.updated_at
    body = sim._ready_body(sim.temp[ready.external_id])  # what iotcomms would send again
    again = hook(live_server, account, "recordingReady", body)
    assert again.json() == {"ok": True, "duplicate": True}
    asked = {"recordingId": ready.external_id, "metaData": "", "sipRecCallId": 1}
    for _ in range(2):  # a newCall asked twice is answered twice, the same way
        assert hook(live_server, account, "newCall", asked).json() == {"recordCall": True}
    # The simulator re-sends /recordingReady for all it holds: the 3 recordings waiting from
    # before the test are new, ours is a duplicate.
    simulator_control.knob(
        "iotcomms", "callbacks", url=f"{live_server.url}/hooks/{account.public_id}", replay=True
    )
    wait_for(lambda: Recording.objects.count() == 4, "the replayed recordings")
    wait_for(lambda: not sim.outbox.queues, "every replayed callback answered")
    ready.refresh_from_db()
    assert ready.updated_at == before
    assert WebhookDelivery.objects.filter(delivery_id__startswith="recordingReady:").count() == 4


def test_it_accepts_events_it_has_no_use_for_without_changes(live_server, account):
    for path, body in [
        ("sessionStarted", {"event": "SESSIONSTARTED", "sessionId": "83c7a360-cf9c"}),
        ("somethingNew", {"recordingId": "83c7a360-cf9c"}),
    ]:
        assert hook(live_server, account, path, body).json() == {"ok": True, "duplicate": False}
    assert not Recording.objects.exists()
    account.refresh_from_db()
    assert account.health == Health.UNKNOWN


# --- check, delete, remote mask -----------------------------------------------------------


def test_it_proves_the_api_token_without_raising_an_alarm(account, sim):
    ok, message = account_test_connection(account)
    assert ok, message
    assert "accepted the API token" in message
    wait_for(lambda: delivered_like(account, "alarm:deleteRecordingError:"), "the check's alarm")
    account.refresh_from_db()
    assert account.health == Health.OK


def test_it_flags_a_refused_api_token(account):
    account.set_secrets({**account.get_secrets(), "api_token": "wrong"})
    account.save()
    with pytest.raises(AuthFailed):
        connector_for(account).check()
    ok, message = account_test_connection(account)
    assert not ok and "refused" in message


def test_it_deletes_both_copies_and_counts_already_gone_as_done(account, simulator_control, sim):
    ready = ready_row(account, simulator_control)
    connector = connector_for(account)
    with connector.media(ref(ready)) as media:  # stored in the bucket, temporary copy kept
        b"".join(media.iter_bytes())
    stored = bucket_file(sim, ready)
    assert stored.is_file() and ready.external_id in sim.temp
    receipt = connector.delete(ref(ready))
    where = f"{stored.parent.name}/{stored.name}"
    assert receipt == f"iotcomms: temporary copy deleted; stored copy {where} deleted."
    assert not stored.exists() and ready.external_id not in sim.temp
    again = connector.delete(ref(ready))
    assert "temporary copy already gone" in again and "no stored copy" in again
    time.sleep(0.3)  # the deleteRecordingError alarm for the second attempt is not news
    account.refresh_from_db()
    assert account.health != Health.DEGRADED


def test_it_masks_the_vendors_stored_copy_with_a_beep(account, simulator_control, sim):
    ready = ready_row(account, simulator_control, duration=10)
    connector = connector_for(account)
    receipt = connector.remote_mask(ref(ready), [MaskSpan(3.0, 5.0, channel=0)])
    assert "stored a modified copy" in receipt
    samples, rate = decoded(bucket_file(sim, ready))
    assert samples.shape[1] / rate == pytest.approx(10, abs=0.1)
    inside = slice(int(3.05 * rate), int(4.95 * rate))
    assert tone_share(samples[0, inside], rate) > 0.9  # the caller is beeped over
    assert tone_share(samples[1, inside], rate) < 0.2  # the callee is not
    assert tone_share(samples[0, : int(2.9 * rate)], rate) < 0.2


def test_it_trims_the_vendors_stored_copy(account, simulator_control, sim):
    ready = ready_row(account, simulator_control, duration=8)
    connector_for(account).remote_mask(ref(ready), [MaskSpan(2.0, 3.0)], trim=(1.0, 6.0))
    samples, rate = decoded(bucket_file(sim, ready))
    assert samples.shape[1] / rate == pytest.approx(5, abs=0.1)
    inside = slice(int(1.05 * rate), int(1.95 * rate))  # 2-3 s of the call, 1 s into the file
    assert min(tone_share(samples[channel, inside], rate) for channel in (0, 1)) > 0.9


def test_it_says_why_it_cannot_mask_once_the_temporary_copy_is_gone(account, simulator_control):
    ready = ready_row(account, simulator_control)
    assert recording_download(ready.id).status == "stored"
    with pytest.raises(Gone) as gone:
        connector_for(account).remote_mask(ref(ready), [MaskSpan(1.0, 2.0)])
    assert "only while its temporary copy exists" in gone.value.message


def test_it_sends_absolute_milliseconds_when_the_start_is_known_else_relative_ones():
    spans = [MaskSpan(1.5, 2.0, channel=1), MaskSpan(3.0, 4.25)]
    assert modification_params(spans, (1.0, 5.0), 1_680_000_000_000) == {
        "absoluteTimes": True,
        "mask": {
            "callee": [
                {"from": 1_680_000_001_500, "to": 1_680_000_002_000},
                {"from": 1_680_000_003_000, "to": 1_680_000_004_250},
            ],
            "caller": [{"from": 1_680_000_003_000, "to": 1_680_000_004_250}],
        },
        "trim": {"from": 1_680_000_001_000, "to": 1_680_000_005_000},
    }
    assert modification_params(spans[:1], None, None) == {  # the REST section: relative ms
        "absoluteTimes": False,
        "mask": {"callee": [{"from": 1500, "to": 2000}]},
    }
