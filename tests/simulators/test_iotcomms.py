import hashlib
import json
import re
import uuid

import av
import httpx
import jwt
import numpy as np
import pytest

from recordings_portal.simulators.iotcomms import API_TOKEN, STORAGE_TOKEN
from recordings_portal.simulators.iotcomms_calls import RECORDING_FAILED
from recordings_portal.simulators.iotcomms_model import DOMAIN
from recordings_portal.simulators.testing import Receiver

BUCKET = "recordings.portal-test.example"
DAY = 86400


@pytest.fixture
def api(simulators):
    base = f"{simulators.url}/iotcomms/callrecording/{DOMAIN}"
    with httpx.Client(base_url=base, headers={"x-api-key": API_TOKEN}, timeout=30) as client:
        yield client


@pytest.fixture
def storage(simulators):
    headers = {"Authorization": f"Bearer {STORAGE_TOKEN}"}
    base = f"{simulators.url}/iotcomms/bucket/{BUCKET}"
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def endpoint():
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


class Hooks:
    """The customer's callback endpoint for one test: a shared Receiver (closing one costs half
    a second) under a fresh path, so nothing meant for an earlier test is counted."""

    def __init__(self, endpoint):
        self.endpoint, self.prefix = endpoint, f"/hooks/{uuid.uuid4().hex}"
        self.arrived = endpoint.arrived
        self.answer = answer_new_call

    @property
    def url(self):
        return self.endpoint.url + self.prefix

    @property
    def requests(self):
        return [r for r in self.endpoint.requests if r.path.startswith(self.prefix + "/")]

    @property
    def answer(self):
        return self.endpoint.answer

    @answer.setter
    def answer(self, function):
        self.endpoint.answer = function


@pytest.fixture
def receiver(endpoint, simulator_control):
    """newCall answers record unless the callee is +10000000000."""
    hooks = Hooks(endpoint)
    simulator_control.knob("iotcomms", "callbacks", url=hooks.url, token="cb-token")
    return hooks


def answer_new_call(received):
    if received.path.endswith("/newCall"):
        return 200, {"recordCall": received.json()["metaData"].count("+10000000000") == 0}
    return 200, {}


def arrived(receiver, path, count=1, timeout=10.0):
    """The bodies POSTed to <callback url><path>, once at least `count` arrived."""

    def found():
        return [r.json() for r in receiver.requests if r.path == receiver.prefix + path]

    with receiver.arrived:
        receiver.arrived.wait_for(lambda: len(found()) >= count, timeout)
    bodies = found()
    assert len(bodies) >= count, f"{path}: {len(bodies)} of {count} arrived"
    return bodies


def record_call(control, receiver, duration=6, **options):
    """Run a call to its end; its /recordingReady body."""
    before = len([r for r in receiver.requests if r.path == receiver.prefix + "/recordingStarted"])
    call = control.knob("iotcomms", "call", duration=duration, **options).json()
    started = arrived(receiver, "/recordingStarted", before + 1)
    assert started[-1]["recordingId"] == call["recordingId"]
    control.advance_clock(duration)
    return ready_for(receiver, call["recordingId"])


def ready_for(receiver, recording_id):
    def match():
        return [
            r.json()
            for r in receiver.requests
            if r.path == receiver.prefix + "/recordingReady"
            and r.json()["recordingId"] == recording_id
        ]

    with receiver.arrived:
        receiver.arrived.wait_for(lambda: match(), 10)
    assert match(), f"no recordingReady for {recording_id}"
    return match()[0]


def store(api, ready, **extra):
    command = {"method": "STORERECORDING", "destinationBucket": BUCKET}
    command |= {"recordingId": ready["recordingId"], "replyId": ready["replyId"], **extra}
    return api.post("/storerecording", json=command)


def stored(api, receiver, storage, tmp_path, ready, file_name, **extra):
    """STORERECORDING, wait for /recordingStored, download: decoded (channels, n), rate."""
    count = len([r for r in receiver.requests if r.path == receiver.prefix + "/recordingStored"])
    assert store(api, ready, fileName=file_name, **extra).json() == {"success": True}
    assert arrived(receiver, "/recordingStored", count + 1)[-1]["fileName"] == file_name
    response = storage.get(f"/{file_name}")
    assert response.status_code == 200
    path = tmp_path / file_name
    path.write_bytes(response.content)
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray() for frame in container.decode(audio=0)]
        return np.concatenate(frames, axis=1), container.streams.audio[0].rate


def seeded(control):
    return control.knob("iotcomms", "temp").json()["recordings"]


def tone_share(samples, rate):
    """Share of a span's energy within 950-1050 Hz."""
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / rate)
    return spectrum[(freqs > 950) & (freqs < 1050)].sum() / max(spectrum.sum(), 1e-12)


def difference(a, b):
    """How far a span is from another, relative to its level (silence counting as -40 dBFS)."""
    return float(np.sqrt(np.mean((a - b) ** 2)) / max(np.sqrt(np.mean(b**2)), 0.01))


def sample_offset(ms, rate):
    """Where a part starting `ms` milliseconds later lands, in samples, rounded as the merge
    rounds it. int(ms / 1000 * rate) truncates: 2.042 * 8000 is 16335.999..., one sample early,
    and a one-sample lag of 8 kHz speech already differs by about 0.4."""
    return round(ms * rate / 1000)


def test_it_asks_newcall_then_reports_the_recording_with_the_bearer_token(
    simulator_control, receiver
):
    ready = record_call(simulator_control, receiver, duration=5)
    new_call = arrived(receiver, "/newCall")[0]
    assert set(new_call) == {"recordingId", "metaData", "sipRecCallId"}
    assert new_call["metaData"].startswith('<?xml version="1.0" encoding="UTF-8"?>\r\n<recording')
    assert isinstance(new_call["sipRecCallId"], int)  # documented as string, sampled as number
    started = arrived(receiver, "/recordingStarted")[0]
    assert started["event"] == "RECORDINGSTARTED"
    assert started["metaData"] == new_call["metaData"]
    assert all(r.headers["authorization"] == "Bearer cb-token" for r in receiver.requests)
    assert ready["recordingId"] == new_call["recordingId"] == started["recordingId"]
    meta = re.fullmatch(
        r"\{\nrecordingsPartsInfo: \{\ncallerStreams: \[\n\{\nstart: (\d+),\nssrc: \d+\n\}\n\],"
        r"\ncalleeStreams: \[\n\{\nstart: (\d+),\nssrc: \d+\n\}\n\]\n\}\n\}",
        ready["meta"],
    )
    assert meta and int(meta[1]) == ready["startTime"]
    claims = jwt.decode(ready["replyId"], options={"verify_signature": False})
    assert jwt.get_unverified_header(ready["replyId"])["alg"] == "HS256"
    assert claims["domain"] == ready["domain"] == DOMAIN
    assert claims["recordingId"] == ready["recordingId"]
    assert claims["tempKey"].endswith(f"-{ready['recordingId']}.mp3")
    assert {"tempBucket", "commandQueue", "eventTopic", "alarmTopic", "iat"} <= claims.keys()


def test_it_records_nothing_when_newcall_says_no(simulator_control, receiver):
    skipped = simulator_control.knob("iotcomms", "call", duration=3, callee="+10000000000")
    arrived(receiver, "/newCall")
    ready = record_call(simulator_control, receiver, duration=3)
    skipped_id = skipped.json()["recordingId"]
    assert ready["recordingId"] != skipped_id
    assert not [
        r for r in receiver.requests if skipped_id in r.body.decode() and "newCall" not in r.path
    ]


def test_it_reports_a_failed_recording_as_event_and_alarm(simulator_control, receiver):
    call = simulator_control.knob("iotcomms", "call", duration=2, fail=True).json()
    arrived(receiver, "/recordingStarted")
    simulator_control.advance_clock(2)
    event, alarm = arrived(receiver, "/recordingFailed", 2)
    assert event["event"] == "RECORDINGFAILED" and event["recordingId"] == call["recordingId"]
    assert alarm == {
        "event": "recordingFailed",
        "type": "recordingFailed",
        "recordingId": call["recordingId"],
        "domain": DOMAIN,
        "error": RECORDING_FAILED,
    }


def test_it_raises_api_request_error_when_newcall_fails(simulator_control, receiver):
    receiver.answer = lambda received: (500, {"message": "boom"})
    call = simulator_control.knob("iotcomms", "call", duration=2).json()
    alarm = arrived(receiver, "/apiRequestError")[0]
    assert alarm["recordingId"] == call["recordingId"]
    assert alarm["requestUri"] == f"{receiver.url}/newCall"
    assert (alarm["statusCode"], alarm["statusMessage"]) == (500, "Internal Server Error")


def test_it_raises_event_notification_error_when_a_callback_fails(simulator_control, receiver):
    receiver.answer = lambda r: (200, {"recordCall": True}) if "newCall" in r.path else (503, {})
    simulator_control.knob("iotcomms", "call", duration=2)
    alarm = arrived(receiver, "/eventNotificationError")[0]
    assert '"event": "RECORDINGSTARTED"' in alarm["event"] and "503" in alarm["error"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-api-key": "wrong"}, {"Authorization": "Bearer wrong"}],
)
def test_it_refuses_commands_without_the_api_token(simulators, simulator_control, headers):
    temp = seeded(simulator_control)[0]
    url = f"{simulators.url}/iotcomms/callrecording/{DOMAIN}/deleterecording"
    body = {"recordingId": temp["recordingId"], "replyId": temp["replyId"]}
    assert httpx.post(url, json=body, headers=headers).status_code == 401
    with_bearer = httpx.post(url, json=body, headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert with_bearer.json() == {"success": True}


def test_it_answers_the_cors_preflight(api):
    response = api.options("/storerecording")
    assert response.status_code == 200 and response.json() == {}
    assert response.headers["access-control-allow-origin"] == "*"
    assert "POST" in response.headers["access-control-allow-methods"]


def forged(reply_id):
    claims = jwt.decode(reply_id, options={"verify_signature": False})
    return jwt.encode(claims, "not-the-vendor-key-but-long-enough-for-hs256", algorithm="HS256")


@pytest.mark.parametrize(
    ("case", "status", "error"),
    [
        ("bad signature", 401, "replyId is not valid"),
        ("wrong domain", 403, "replyId is for another domain"),
        ("other recording", 400, "recordingId does not match eventId"),
        ("deleted recording", 404, "recordingId not found"),
        ("wrong method", 400, "method must be STORERECORDING"),
    ],
)
def test_it_refuses_a_replyid_that_does_not_fit_with_the_documented_alarm(
    api, simulators, simulator_control, receiver, case, status, error
):
    first, second = seeded(simulator_control)[:2]
    command = {"method": "STORERECORDING", "destinationBucket": BUCKET}
    command |= {"recordingId": first["recordingId"], "replyId": first["replyId"]}
    domain = DOMAIN
    if case == "bad signature":
        command["replyId"] = forged(first["replyId"])
    elif case == "wrong domain":
        domain = "other.example.com"
    elif case == "other recording":
        command["recordingId"] = second["recordingId"]
    elif case == "deleted recording":
        deletion = {"recordingId": first["recordingId"], "replyId": first["replyId"]}
        api.post("/deleterecording", json=deletion).raise_for_status()
    else:
        command["method"] = "DELETERECORDING"
    url = f"{simulators.url}/iotcomms/callrecording/{domain}/storerecording"
    response = api.post(url, json=command)
    assert response.status_code == status
    assert response.json()["success"] is False
    assert (response.json()["type"], response.json()["error"]) == ("storeRecordingError", error)
    alarm = arrived(receiver, "/storeRecordingError")[0]
    assert alarm["error"] == error and alarm["event"] == response.request.content.decode()


def test_it_stores_the_recording_unchanged_under_the_documented_name(
    api, simulator_control, simulators, receiver, storage
):
    temp = seeded(simulator_control)[0]
    assert store(api, temp).json() == {"success": True}
    done = arrived(receiver, "/recordingStored")[0]
    assert done["fileName"] == temp["tempKey"]  # <date>-<recordingId>.mp3
    assert re.fullmatch(r"\d{6}-" + temp["recordingId"] + r"\.mp3", done["fileName"])
    download = storage.get(f"/{done['fileName']}")
    assert download.headers["content-type"] == "audio/mpeg"
    assert (
        download.headers["etag"].strip('"')
        == hashlib.md5(download.content, usedforsecurity=False).hexdigest()
    )
    assert httpx.get(str(download.request.url)).status_code == 403
    assert storage.get("/nothing-here.mp3").status_code == 404
    simulator_control.faults("iotcomms", wrong_checksum=True)
    assert storage.head(f"/{done['fileName']}").headers["etag"] != download.headers["etag"]


@pytest.mark.parametrize(
    ("absolute", "scale"),
    [(False, 1), (False, 1000), (True, 1000)],
    ids=["relative-seconds", "relative-ms", "absolute-ms"],
)
def test_it_trims_to_the_requested_span(
    api, simulator_control, receiver, storage, tmp_path, absolute, scale
):
    ready = record_call(simulator_control, receiver, duration=8)
    origin = ready["startTime"] if absolute else 0
    params = {
        "absoluteTimes": absolute,
        "trim": {"from": origin + 1.5 * scale, "to": origin + 5.5 * scale},
    }
    samples, rate = stored(
        api, receiver, storage, tmp_path, ready, "trimmed.mp3", modificationParams=params
    )
    assert samples.shape[1] / rate == pytest.approx(4.0, abs=0.05)


@pytest.mark.parametrize(
    ("party", "channel", "cut"),
    [("caller", 0, 0), ("callee", 1, 0), ("caller", 0, 1)],
    ids=["caller", "callee", "caller-trimmed"],
)
def test_it_beeps_over_the_masked_span_of_that_party_only(
    api, simulator_control, receiver, storage, tmp_path, party, channel, cut
):
    ready = record_call(simulator_control, receiver, duration=10)
    original, rate = stored(api, receiver, storage, tmp_path, ready, "original.mp3")
    start = ready["startTime"]
    params = {"absoluteTimes": True, "mask": {party: [{"from": start + 3000, "to": start + 5000}]}}
    if cut:  # the mask stays on the recording's timeline, so it lands 1 s earlier in the file
        params["trim"] = {"from": start + cut * 1000, "to": start + 10_000}
    masked, _ = stored(
        api, receiver, storage, tmp_path, ready, "masked.mp3", modificationParams=params
    )
    original = original[:, cut * rate :]
    assert masked.shape == original.shape
    inside = slice(int((3.05 - cut) * rate), int((4.95 - cut) * rate))
    before = slice(0, int((2.95 - cut) * rate))
    after = slice(int((5.05 - cut) * rate), int((9.9 - cut) * rate))
    other = 1 - channel
    assert tone_share(masked[channel, inside], rate) > 0.9
    assert tone_share(original[channel, inside], rate) < 0.2
    assert tone_share(masked[other, inside], rate) < 0.2
    for span in (before, after):
        assert difference(masked[channel, span], original[channel, span]) < 0.35
    assert difference(masked[other], original[other]) < 0.35


@pytest.mark.parametrize(
    "params",
    [
        {"trim": {"from": 20_000, "to": 30_000}},  # ms, past the end of a 6 s recording
        {"trim": {"from": 4, "to": 2}},
        {"mask": {"agent": [{"from": 1, "to": 2}]}},
        {"absoluteTimes": "yes"},
        "{not json",
    ],
)
def test_it_refuses_modification_params_it_cannot_apply(api, simulator_control, receiver, params):
    ready = record_call(simulator_control, receiver, duration=6)
    response = store(api, ready, modificationParams=params)
    assert response.status_code == 400
    assert response.json()["error"].startswith("invalid modificationParams")
    assert arrived(receiver, "/storeRecordingError")


def test_it_accepts_modification_params_as_a_json_string(
    api, simulator_control, receiver, storage, tmp_path
):
    ready = record_call(simulator_control, receiver, duration=6)
    params = json.dumps({"absoluteTimes": False, "trim": {"from": 1000, "to": 3500}})  # REST: ms
    samples, rate = stored(
        api, receiver, storage, tmp_path, ready, "string.mp3", modificationParams=params
    )
    assert samples.shape[1] / rate == pytest.approx(2.5, abs=0.05)


def test_it_expires_unstored_recordings_with_an_alarm(api, simulator_control, receiver):
    temps = seeded(simulator_control)
    simulator_control.advance_clock(DAY + 60)
    alarms = arrived(receiver, "/tempRecordingDeleted", len(temps))
    assert {a["recordingId"] for a in alarms} == {t["recordingId"] for t in temps}
    assert alarms[0]["type"] == "tempRecordingDeleted" and alarms[0]["service"] == "siprec"
    assert alarms[0]["error"] == f"Recording id {alarms[0]['recordingId']} expired."
    assert seeded(simulator_control) == []
    assert store(api, temps[0]).status_code == 404


def test_it_deletes_the_temporary_copy_and_says_so(api, simulator_control, receiver):
    temp = seeded(simulator_control)[0]
    command = {"method": "DELETERECORDING", "recordingId": temp["recordingId"]}
    command["replyId"] = temp["replyId"]
    assert api.post("/deleterecording", json=command).json() == {"success": True}
    deleted = arrived(receiver, "/recordingDeleted")[0]
    assert deleted == {
        "event": "RECORDINGDELETED",
        "recordingId": temp["recordingId"],
        "domain": DOMAIN,
    }
    again = api.post("/deleterecording", json=command)
    assert again.status_code == 404 and again.json()["type"] == "deleteRecordingError"
    assert temp["recordingId"] not in [t["recordingId"] for t in seeded(simulator_control)]


def test_it_cancels_an_ongoing_recording(api, simulator_control, receiver):
    call = simulator_control.knob("iotcomms", "call", duration=30).json()
    started = arrived(receiver, "/recordingStarted")[0]
    command = {"method": "CANCELRECORDING", "recordingId": call["recordingId"]}
    command["replyId"] = started["replyId"]
    assert api.post("/cancelrecording", json=command).json() == {"success": True}
    cancelled = arrived(receiver, "/recordingCancelled")[0]
    assert cancelled["event"] == "RECORDINGCANCELLED" and cancelled["metaData"]
    again = api.post("/cancelrecording", json=command)
    assert again.status_code == 404 and again.json()["type"] == "cancelRecordingError"
    simulator_control.advance_clock(30)
    assert call["recordingId"] not in [t["recordingId"] for t in seeded(simulator_control)]


def test_it_stops_a_recording_early_keeping_what_was_recorded(
    api, simulator_control, receiver, storage, tmp_path
):
    call = simulator_control.knob("iotcomms", "call", duration=30).json()
    started = arrived(receiver, "/recordingStarted")[0]
    simulator_control.advance_clock(4)
    command = {"method": "STOPRECORDING", "recordingId": call["recordingId"]}
    command["replyId"] = started["replyId"]
    assert api.post("/stoprecording", json=command).json() == {"success": True}
    ready = ready_for(receiver, call["recordingId"])
    samples, rate = stored(api, receiver, storage, tmp_path, ready, "early.mp3")
    assert samples.shape[1] / rate == pytest.approx(4.0, abs=0.3)


def test_it_merges_recordings_by_start_time(api, simulator_control, receiver, storage, tmp_path):
    first = record_call(simulator_control, receiver, duration=5)
    simulator_control.advance_clock(3)
    second = record_call(simulator_control, receiver, duration=4)
    gap_ms = second["startTime"] - first["startTime"]
    gap = gap_ms / 1000
    a, rate = stored(api, receiver, storage, tmp_path, first, "a.mp3")
    b, _ = stored(api, receiver, storage, tmp_path, second, "b.mp3")
    command = {
        "method": "MERGERECORDINGS",
        "destinationBucket": BUCKET,
        "fileName": "merged.mp3",
        "replyId": first["replyId"],
        "toMerge": [  # not sorted: the service orders by startTime
            {"recordingId": second["recordingId"], "startTime": second["startTime"]},
            {"recordingId": first["recordingId"], "startTime": first["startTime"]},
        ],
    }
    assert api.post("/mergerecordings", json=command).json() == {"success": True}
    done = arrived(receiver, "/recordingStored", 3)[-1]
    assert done["mergedRecordings"] == [first["recordingId"], second["recordingId"]]
    path = tmp_path / "merged.mp3"
    path.write_bytes(storage.get("/merged.mp3").content)
    with av.open(str(path)) as container:
        merged = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    assert merged.shape[1] / rate == pytest.approx(gap + 4, abs=0.1)
    offset = sample_offset(gap_ms, rate)
    assert difference(merged[:, : a.shape[1]], a) < 0.35
    assert difference(merged[:, offset : offset + b.shape[1]], b) < 0.35
    assert np.abs(merged[:, a.shape[1] + 800 : offset - 800]).max() < 0.01
    command["replyId"] = seeded(simulator_control)[0]["replyId"]  # not among toMerge
    refused = api.post("/mergerecordings", json=command)
    assert (
        refused.status_code == 400
        and refused.json()["error"] == "recordingId does not match eventId"
    )


def test_it_keeps_only_the_first_leg_during_a_conference(
    api, simulator_control, receiver, storage, tmp_path
):
    before = len([r for r in receiver.requests if r.path.endswith("/recordingStarted")])
    first = simulator_control.knob("iotcomms", "call", duration=6).json()
    arrived(receiver, "/recordingStarted", before + 1)
    simulator_control.advance_clock(2)
    second = simulator_control.knob("iotcomms", "call", duration=6).json()
    arrived(receiver, "/recordingStarted", before + 2)
    simulator_control.advance_clock(6)
    legs = [ready_for(receiver, call["recordingId"]) for call in (first, second)]
    a, rate = stored(api, receiver, storage, tmp_path, legs[0], "a.mp3")
    b, _ = stored(api, receiver, storage, tmp_path, legs[1], "b.mp3")
    # The conference lasts until the first leg ends: its reported start plus its decoded length.
    first_end = legs[0]["startTime"] + round(a.shape[1] / rate * 1000)
    overlap = {"startTime": legs[1]["startTime"], "endTime": first_end}
    command = {"method": "MERGERECORDINGS", "destinationBucket": BUCKET, "fileName": "conf.mp3"}
    command["replyId"] = legs[1]["replyId"]
    command["toMerge"] = [
        {
            "recordingId": leg["recordingId"],
            "startTime": leg["startTime"],
            "conferenceSegments": [overlap],
        }
        for leg in legs
    ]
    assert api.post("/mergerecordings", json=command).json() == {"success": True}
    arrived(receiver, "/recordingStored", 3)
    path = tmp_path / "conf.mp3"
    path.write_bytes(storage.get("/conf.mp3").content)
    with av.open(str(path)) as container:
        merged = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    offset = sample_offset(legs[1]["startTime"] - legs[0]["startTime"], rate)
    during = slice(offset + 400, a.shape[1] - 400)
    assert difference(merged[:, during], a[:, during]) < 0.35  # the second leg is not mixed in
    after = slice(a.shape[1] + 400, merged.shape[1] - 400)
    shifted = slice(after.start - offset, after.stop - offset)
    assert difference(merged[:, after], b[:, shifted]) < 0.35


def test_it_runs_a_session_with_file_recordings_and_streams(api, simulator_control, receiver):
    call = simulator_control.knob("iotcomms", "call", duration=60, session=True).json()
    session = arrived(receiver, "/sessionStarted")[0]
    assert session["sessionId"] == call["sessionId"]
    base = {"sessionId": call["sessionId"], "replyId": session["replyId"]}
    reference = {"customerId": "acme-42", "case": "pilot-A"}
    started = api.post(
        "/startfilerecording",
        json={
            "method": "STARTFILERECORDING",
            **base,
            "fileTarget": {"recordingReferenceId": reference},
        },
    ).json()
    assert started["success"] is True
    file_started = arrived(receiver, "/recordingStarted")[0]
    assert file_started["recordingId"] == started["streamId"] != call["sessionId"]
    assert file_started["recordingReferenceId"] == reference

    target = {
        "url": "wss://stream.example.net/audio",
        "channels": [0, 1],
        "streamReferenceId": reference,
    }
    stream = api.post(
        "/startstream", json={"method": "STARTSTREAM", **base, "streamTarget": target}
    )
    stream_id = stream.json()["streamId"]
    assert arrived(receiver, "/streamStarted")[0]["streamId"] == stream_id
    stop_stream = {"method": "STOPSTREAM", **base, "streamId": stream_id}
    assert api.post("/stopstream", json=stop_stream).json() == {"success": True}
    assert arrived(receiver, "/streamStopped")[0]["streamReferenceId"] == reference
    assert api.post("/stopstream", json=stop_stream).status_code == 404
    assert arrived(receiver, "/stopStreamFailed")[0]["error"] == "streamId not found"

    simulator_control.advance_clock(3)
    stop_file = {"method": "STOPFILERECORDING", **base, "recordingId": started["streamId"]}
    assert api.post("/stopfilerecording", json=stop_file).json() == {"success": True}
    ready = ready_for(receiver, started["streamId"])
    assert ready["recordingReferenceId"] == reference and ready["sessionId"] == call["sessionId"]
    assert api.post("/stopfilerecording", json=stop_file).status_code == 404
    failed = arrived(receiver, "/stopFileRecordingFailed")[0]
    assert (
        failed["event"] == "STOPFILERECORDINGFAILED" and failed["error"] == "recordingId not found"
    )

    stop_session = {"method": "STOPSESSION", **base}
    assert api.post("/stopsession", json=stop_session).json() == {"success": True}
    assert arrived(receiver, "/sessionStopped") and arrived(receiver, "/sessionCompleted")
    again = api.post("/stopsession", json=stop_session).json()
    assert again["type"] == "stopSessionError" and again["sessionId"] == call["sessionId"]


def test_it_replays_recording_ready_for_what_waits_in_temporary_storage(
    simulator_control, receiver
):
    temps = seeded(simulator_control)
    simulator_control.knob("iotcomms", "callbacks", url=receiver.url, replay=True)
    ready = arrived(receiver, "/recordingReady", len(temps))
    assert sorted(r["recordingId"] for r in ready) == sorted(t["recordingId"] for t in temps)
    assert all(r.headers["authorization"].startswith("Bearer ") for r in receiver.requests)
