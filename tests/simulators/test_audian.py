import hashlib
import hmac
import time
from datetime import UTC, datetime

import av
import httpx
import pytest

from recordings_portal.simulators.audian import API_KEY
from recordings_portal.simulators.testing import Receiver

DAY = 86400
ROW_KEYS = {"recording_id", "call_id", "duration", "file_size", "status", "created_at"}
INFO_KEYS = ROW_KEYS | {"file_format", "bitrate", "sample_rate", "channels", "completed_at"}
NOT_FOUND = {"error": "not_found", "message": "Recording not found", "code": 404}
INVALID_FORMAT = {
    "error": "invalid_format",
    "message": "Recording format is not supported",
    "code": 400,
}
QUOTA = {"error": "quota_exceeded", "message": "Recording storage quota exceeded", "code": 429}
SECRET = "test-webhook-secret"


@pytest.fixture
def audian(simulators):
    """A client at the account's base URL, as credentials() tells a connector to build it."""
    account = simulators.vendors["audian"].credentials()
    headers = {"X-Auth-Token": account["secrets"]["api_key"]}
    with httpx.Client(base_url=f"{simulators.url}{account['path']}/v2", headers=headers) as client:
        yield client


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def epoch(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def all_rows(audian, **params) -> list[dict]:
    return audian.get("/recordings", params={"limit": 100, **params}).json()["data"]


def wait_for_status(audian, rec_id: str, status: str) -> dict:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        info = audian.get(f"/recordings/{rec_id}").json()
        if info["status"] == status:
            return info
        time.sleep(0.02)
    raise AssertionError(f"{rec_id} never became {status}: {info}")


def signature_ok(received, secret: str = SECRET) -> bool:
    timestamp = received.headers["x-audian-timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + received.body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), received.headers["x-audian-signature"])


def start_call(audian, **recording) -> dict:
    body = {"from": "+14155552671", "to": "+14155552672"}
    if recording:
        body["recording"] = {"enabled": True, **recording}
    response = audian.post("/calls", json=body)
    assert response.status_code == 201, response.text
    return response.json()


# --- auth --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"X-Auth-Token": API_KEY}, {"Authorization": f"Bearer {API_KEY}"}],
    ids=["x-auth-token", "bearer"],
)
def test_it_accepts_both_documented_auth_headers(simulators, headers):
    response = httpx.get(f"{simulators.url}/audian/v2/recordings", headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Auth-Token": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}],
)
def test_it_refuses_a_missing_or_wrong_key(simulators, headers):
    response = httpx.get(f"{simulators.url}/audian/v2/recordings", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == 401


# --- listing -----------------------------------------------------------------------------


def test_it_lists_newest_first_in_the_documented_shape(audian):
    page = audian.get("/recordings").json()
    assert page["pagination"] == {"total": 8, "limit": 50, "offset": 0, "has_more": False}
    rows = page["data"]
    assert all(set(row) == ROW_KEYS for row in rows)
    assert all(row["status"] == "completed" and row["file_size"] > 0 for row in rows)
    created = [row["created_at"] for row in rows]
    assert created == sorted(created, reverse=True)


def test_it_pages_with_limit_and_offset_without_gaps_or_repeats(audian):
    everything = [row["recording_id"] for row in all_rows(audian)]
    seen, offset = [], 0
    while True:
        page = audian.get("/recordings", params={"limit": 3, "offset": offset}).json()
        seen += [row["recording_id"] for row in page["data"]]
        assert page["pagination"]["total"] == 8
        if not page["pagination"]["has_more"]:
            break
        offset += 3
    assert seen == everything
    past_the_end = audian.get("/recordings", params={"offset": 8}).json()
    assert past_the_end["data"] == []
    assert past_the_end["pagination"]["has_more"] is False


def test_it_filters_by_since_and_by_call_id(audian):
    rows = all_rows(audian)
    since = rows[3]["created_at"]
    recent = audian.get("/recordings", params={"since": since}).json()
    assert recent["data"] == rows[:4]
    assert recent["pagination"]["total"] == 4
    one_call = all_rows(audian, call_id=rows[5]["call_id"])
    assert one_call == [rows[5]]
    assert all_rows(audian, call_id="call_unknown") == []


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "x"}, {"offset": "-1"}, {"since": "yesterday"}]
)
def test_it_rejects_bad_listing_parameters(audian, params):
    response = audian.get("/recordings", params=params)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_it_seeds_a_catalog_of_mixed_formats(audian):
    infos = [audian.get(f"/recordings/{r['recording_id']}").json() for r in all_rows(audian)]
    assert all(set(info) == INFO_KEYS for info in infos)
    assert {info["file_format"] for info in infos} == {"mp3", "wav", "opus"}
    assert {info["channels"] for info in infos} == {1, 2}
    assert {info["sample_rate"] for info in infos} == {8000, 16000}


# --- one recording: info, download, delete, retention ------------------------------------


@pytest.mark.parametrize("request_path", ["/recordings/rec_nope", "/recordings/rec_nope/download"])
def test_it_answers_not_found_as_documented(audian, request_path):
    response = audian.get(request_path)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize(
    ("fmt", "channels", "rate", "container"),
    [("mp3", 1, 16000, "mp3"), ("wav", 2, 8000, "wav"), ("opus", 2, 16000, "ogg")],
)
def test_it_redirects_to_a_temporary_url_serving_the_real_file(
    audian, simulator_control, tmp_path, fmt, channels, rate, container
):
    added = simulator_control.knob(
        "audian", "add_recording", format=fmt, channels=channels, sample_rate=rate, duration=3
    ).json()["recording"]
    response = audian.get(f"/recordings/{added['recording_id']}/download")
    assert response.status_code == 302
    location = response.headers["location"]
    assert "/audian/media/" in location
    media = httpx.get(location)  # no auth header: the URL carries its own signature
    assert media.status_code == 200
    assert len(media.content) == added["file_size"]
    path = tmp_path / f"file.{fmt}"
    path.write_bytes(media.content)
    with av.open(str(path)) as opened:
        stream = opened.streams.audio[0]
        assert opened.format.name == container
        assert stream.channels == channels
        assert stream.rate == (48000 if fmt == "opus" else rate)  # Opus always decodes at 48 kHz
        assert abs(opened.duration / av.time_base - added["duration"]) < 0.2


def test_it_expires_the_temporary_url_after_24_hours(audian, simulator_control):
    rec_id = all_rows(audian)[0]["recording_id"]
    location = audian.get(f"/recordings/{rec_id}/download").headers["location"]
    simulator_control.advance_clock(23 * 3600)
    assert httpx.get(location).status_code == 200
    simulator_control.advance_clock(3600 + 1)
    expired = httpx.get(location)
    assert expired.status_code == 403
    assert expired.json()["error"] == "link_expired"
    fresh = audian.get(f"/recordings/{rec_id}/download").headers["location"]
    assert httpx.get(fresh).status_code == 200


def test_it_refuses_a_tampered_temporary_url(audian):
    rec_id = all_rows(audian)[0]["recording_id"]
    location = audian.get(f"/recordings/{rec_id}/download").headers["location"]
    response = httpx.get(location.replace("&s=", "&s=x"))
    assert response.status_code == 403
    assert response.json()["code"] == 403


def test_it_hands_out_expired_links_under_the_expire_links_fault(audian, simulator_control):
    simulator_control.faults("audian", expire_links=True)
    rec_id = all_rows(audian)[0]["recording_id"]
    location = audian.get(f"/recordings/{rec_id}/download").headers["location"]
    assert httpx.get(location).status_code == 403


def test_it_deletes_a_recording_for_good(audian):
    rec_id = all_rows(audian)[2]["recording_id"]
    response = audian.delete(f"/recordings/{rec_id}")
    assert response.status_code == 200
    assert set(response.json()) == {"recording_id", "deleted_at"}
    assert response.json()["recording_id"] == rec_id
    assert audian.get(f"/recordings/{rec_id}").json() == NOT_FOUND
    assert audian.delete(f"/recordings/{rec_id}").status_code == 404
    page = audian.get("/recordings").json()
    assert rec_id not in [row["recording_id"] for row in page["data"]]
    assert page["pagination"]["total"] == 7


def test_it_forgets_recordings_older_than_30_days(audian, simulator_control):
    rows = all_rows(audian)
    oldest, next_oldest = rows[-1], rows[-2]
    now = simulator_control.advance_clock(0)["now"]
    simulator_control.advance_clock(epoch(oldest["created_at"]) + 30 * DAY - now + 1)
    assert audian.get(f"/recordings/{oldest['recording_id']}").status_code == 404
    assert audian.get(f"/recordings/{next_oldest['recording_id']}").status_code == 200
    assert [row["recording_id"] for row in all_rows(audian)] == [
        row["recording_id"] for row in rows[:-1]
    ]
    simulator_control.advance_clock(30 * DAY)
    assert audian.get("/recordings").json()["pagination"]["total"] == 0


# --- calls and call control --------------------------------------------------------------


def test_it_walks_a_recording_through_its_states(audian, simulator_control):
    simulator_control.knob("audian", "timing", answer_delay=0, processing_delay=600)
    call = start_call(audian, format="mp3", participant="all")
    rec_id = call["recording"]["recording_id"]
    assert call["recording"]["status"] == "initiated"
    wait_for_status(audian, rec_id, "recording")
    assert audian.post(f"/calls/{call['call_id']}/record/pause").json()["status"] == "paused"
    assert audian.post(f"/calls/{call['call_id']}/record/pause").status_code == 409
    simulator_control.advance_clock(30)  # paused time is not recorded
    assert audian.post(f"/calls/{call['call_id']}/record/resume").json()["status"] == "recording"
    simulator_control.advance_clock(4)
    stopped = audian.post(f"/calls/{call['call_id']}/record/stop").json()
    assert set(stopped) == {"call_id", "recording_id", "status", "stopped_at", "duration"}
    assert (stopped["status"], stopped["duration"]) == ("stopped", 4)
    assert audian.get(f"/recordings/{rec_id}").json()["status"] == "stopped"
    assert audian.get(f"/recordings/{rec_id}/download").status_code == 409
    simulator_control.knob("audian", "finish")
    info = audian.get(f"/recordings/{rec_id}").json()
    assert (info["status"], info["duration"], info["created_at"]) == (
        "completed",
        4,
        stopped["stopped_at"],
    )
    assert info["file_size"] > 0
    assert all_rows(audian)[0]["recording_id"] == rec_id
    assert audian.get(f"/recordings/{rec_id}/download").status_code == 302


def test_it_completes_by_itself_after_the_processing_delay(audian, simulator_control):
    simulator_control.knob("audian", "timing", processing_delay=0.2)
    call = start_call(audian)
    rec_id = audian.post(f"/calls/{call['call_id']}/record/start").json()["recording_id"]
    audian.post(f"/calls/{call['call_id']}/record/stop")
    assert wait_for_status(audian, rec_id, "completed")["file_size"] > 0


def test_it_starts_recording_with_the_documented_body(audian):
    call = start_call(audian)
    assert call["recording"] is None
    started = audian.post(f"/calls/{call['call_id']}/record/start", json={"format": "opus"})
    assert started.status_code == 200
    body = started.json()
    assert set(body) == {"call_id", "recording_id", "status", "started_at", "format"}
    assert (body["call_id"], body["status"], body["format"]) == (
        call["call_id"],
        "recording",
        "opus",
    )
    assert audian.post(f"/calls/{call['call_id']}/record/start").status_code == 409
    assert all_rows(audian, call_id=call["call_id"]) == []  # listed once it has stopped


@pytest.mark.parametrize(
    "recording",
    [{"format": "flac"}, {"sample_rate": 44100}, {"format": "mp3", "sample_rate": 48000}],
)
def test_it_rejects_unsupported_formats_as_documented(audian, recording):
    call = audian.post(
        "/calls", json={"from": "+1", "to": "+2", "recording": {"enabled": True, **recording}}
    )
    assert (call.status_code, call.json()) == (400, INVALID_FORMAT)
    plain = start_call(audian)
    start = audian.post(f"/calls/{plain['call_id']}/record/start", json=recording)
    assert (start.status_code, start.json()) == (400, INVALID_FORMAT)


def test_it_answers_quota_exceeded_when_told_to(audian, simulator_control):
    simulator_control.knob("audian", "quota", exceeded=True)
    response = audian.post(
        "/calls", json={"from": "+1", "to": "+2", "recording": {"enabled": True}}
    )
    assert (response.status_code, response.json()) == (429, QUOTA)
    call = start_call(audian)  # a call without recording is still fine
    start = audian.post(f"/calls/{call['call_id']}/record/start")
    assert (start.status_code, start.json()) == (429, QUOTA)


@pytest.mark.parametrize("action", ["start", "stop", "pause", "resume"])
def test_it_answers_not_found_for_an_unknown_call(audian, action):
    response = audian.post(f"/calls/call_nope/record/{action}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_it_stores_a_call_flow(audian):
    flow = {
        "name": "Recorded Support Line",
        "phone_number": "+14155552671",
        "recording": {"enabled": True, "format": "mp3", "participant": "all"},
        "routing": [{"pattern": "*", "destination": "+14155552673"}],
    }
    response = audian.post("/call-flows", json=flow)
    assert response.status_code == 201
    assert response.json()["call_flow_id"]
    assert response.json()["routing"] == flow["routing"]
    flow["recording"]["format"] = "aac"
    assert audian.post("/call-flows", json=flow).json() == INVALID_FORMAT


# --- webhooks ----------------------------------------------------------------------------


def test_it_sends_signed_events_for_a_recording_lifecycle(audian, simulator_control, receiver):
    simulator_control.knob("audian", "webhook", url=receiver.url, secret=SECRET)
    simulator_control.knob("audian", "timing", processing_delay=600)
    call = start_call(audian)
    rec_id = audian.post(f"/calls/{call['call_id']}/record/start").json()["recording_id"]
    simulator_control.advance_clock(3)
    audian.post(f"/calls/{call['call_id']}/record/stop")
    simulator_control.knob("audian", "finish")
    received = receiver.wait_for(3)
    events = [r.json() for r in received]
    assert [e["event"] for e in events] == [
        "recording.started",
        "recording.stopped",
        "recording.completed",
    ]
    assert all(signature_ok(r) for r in received)
    assert not signature_ok(received[0], secret="another secret")
    assert len({r.headers["x-audian-delivery-id"] for r in received}) == 3
    completed = events[2]["data"]
    assert set(completed) == {
        "call_id",
        "recording_id",
        "duration",
        "file_size",
        "file_format",
        "download_url",
        "completed_at",
        "checksum",
    }
    assert (completed["recording_id"], completed["duration"]) == (rec_id, 3)
    assert completed["download_url"].endswith(f"/audian/v2/recordings/{rec_id}/download")
    file = audian.get(completed["download_url"], follow_redirects=True).content
    assert completed["checksum"] == {
        "algorithm": "sha256",
        "value": hashlib.sha256(file).hexdigest(),
    }
    assert events[1]["data"]["duration"] == 3


def test_it_retries_a_failed_delivery_with_the_same_delivery_id(
    audian, simulator_control, receiver
):
    answers = iter([500, 200])
    receiver.answer = lambda received: (next(answers), {})
    simulator_control.knob("audian", "webhook", url=receiver.url, secret=SECRET, backoff=0.05)
    rec_id = all_rows(audian)[0]["recording_id"]
    emitted = simulator_control.knob("audian", "emit", recording_id=rec_id).json()
    first, retry = receiver.wait_for(2)
    assert first.body == retry.body
    assert first.json()["event"] == "recording.completed"
    ids = {first.headers["x-audian-delivery-id"], retry.headers["x-audian-delivery-id"]}
    assert ids == {emitted["delivery_id"]}
    assert signature_ok(first) and signature_ok(retry)


def test_it_retries_after_a_connection_error(audian, simulator_control, receiver):
    attempts = []

    def hang_up_once(received):
        attempts.append(received.headers["x-audian-delivery-id"])
        if len(attempts) == 1:
            raise ConnectionAbortedError("the receiver closes without answering")
        return 200, {}

    receiver.answer = hang_up_once
    simulator_control.knob("audian", "webhook", url=receiver.url, secret=SECRET, backoff=0.05)
    rec_id = all_rows(audian)[0]["recording_id"]
    emitted = simulator_control.knob("audian", "emit", recording_id=rec_id).json()
    delivered = receiver.wait_for(2)[-1]  # the receiver records the aborted attempt too
    assert attempts == [emitted["delivery_id"]] * 2
    assert signature_ok(delivered)


def test_it_reports_a_wrong_checksum_under_the_fault(audian, simulator_control, receiver):
    simulator_control.knob("audian", "webhook", url=receiver.url, secret=SECRET)
    simulator_control.faults("audian", wrong_checksum=True)
    rec_id = all_rows(audian)[0]["recording_id"]
    simulator_control.knob("audian", "emit", recording_id=rec_id)
    data = receiver.wait_for(1)[0].json()["data"]
    file = audian.get(f"/recordings/{rec_id}/download", follow_redirects=True).content
    assert data["checksum"]["value"] != hashlib.sha256(file).hexdigest()


def test_it_announces_a_failed_recording(audian, simulator_control, receiver):
    simulator_control.knob("audian", "webhook", url=receiver.url, secret=SECRET)
    simulator_control.knob("audian", "timing", processing_delay=600)
    simulator_control.knob("audian", "fail_next", count=1, reason="storage_error")
    call = start_call(audian)
    rec_id = audian.post(f"/calls/{call['call_id']}/record/start").json()["recording_id"]
    audian.post(f"/calls/{call['call_id']}/record/stop")
    simulator_control.knob("audian", "finish")
    failed = receiver.wait_for(3)[2].json()
    assert failed["event"] == "recording.failed"
    assert set(failed["data"]) == {"call_id", "recording_id", "reason", "failed_at"}
    assert failed["data"]["reason"] == "storage_error"
    assert audian.get(f"/recordings/{rec_id}").json()["status"] == "failed"
    assert audian.get(f"/recordings/{rec_id}/download").status_code == 409


def test_it_announces_a_recording_added_by_the_knob(audian, simulator_control, receiver):
    simulator_control.knob("audian", "webhook", url=receiver.url, secret=SECRET)
    added = simulator_control.knob("audian", "add_recording", duration=2).json()
    event = receiver.wait_for(1)[0]
    assert signature_ok(event)
    assert event.headers["x-audian-delivery-id"] == added["delivery_id"]
    assert event.json()["data"]["recording_id"] == added["recording"]["recording_id"]
    assert all_rows(audian)[0]["recording_id"] == added["recording"]["recording_id"]
