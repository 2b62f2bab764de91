"""Audian's signed webhooks at /hooks/<account>/<path>: through Django's test client with
deliveries the simulator really signed, and end to end from the simulator to a live portal."""

import hashlib
import hmac
import json
import logging
import time

import httpx
import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from recordings_portal.catalog.models import Recording, RecordingState
from recordings_portal.catalog.services.download import recording_download
from recordings_portal.catalog.tasks import download_recording
from recordings_portal.simulators.audian import API_KEY, WEBHOOK_SECRET
from recordings_portal.simulators.testing import Receiver
from recordings_portal.vendors.models import Health, WebhookDelivery

# The document's own sample bodies (its checksum is a placeholder, not a SHA-256).
DOCUMENTED_COMPLETED = {
    "event": "recording.completed",
    "data": {
        "call_id": "call_xyz789",
        "recording_id": "rec_abc123",
        "duration": 305,
        "file_size": 1536000,
        "file_format": "mp3",
        "download_url": "https://api.audian.com:8443/v2/recordings/rec_abc123/download",
        "completed_at": "2024-01-15T10:36:00Z",
        "checksum": {"algorithm": "sha256", "value": "abcdef0123456789"},
    },
}


@pytest.fixture
def account(vendor_account):
    return vendor_account("audian")


@pytest.fixture
def enqueued(monkeypatch):
    """Recording ids whose download was queued (the broker itself is Celery's business)."""
    queued = []
    monkeypatch.setattr(download_recording, "delay", queued.append)
    return queued


@pytest.fixture
def receiver(simulator_control):
    """Catches what the simulator sends, signed as Audian signs it, to replay to the portal."""
    receiver = Receiver()
    simulator_control.knob("audian", "webhook", url=f"{receiver.url}/hooks", retries=0)
    yield receiver
    receiver.close()


def hook_path(account, path: str = "recordings") -> str:
    return f"/hooks/{account.public_id}/{path}"


def signed(body: bytes, *, secret: str = WEBHOOK_SECRET, at: float | None = None) -> dict:
    timestamp = str(int(time.time() if at is None else at))
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {
        "X-Audian-Signature": signature.hexdigest(),
        "X-Audian-Timestamp": timestamp,
        "X-Audian-Delivery-ID": f"dlv_test_{hashlib.sha256(body).hexdigest()[:12]}",
    }


def audian_headers(delivery) -> dict:
    return {name: value for name, value in delivery.headers.items() if name.startswith("x-audian")}


def post(client, account, body: bytes, headers: dict, capture):
    with capture(execute=True):
        return client.post(
            hook_path(account), data=body, content_type="application/json", headers=headers
        )


def deliver(client, account, delivery, capture):
    return post(client, account, delivery.body, audian_headers(delivery), capture)


def start_call(audian_api) -> dict:
    body = {"from": "+14155552671", "to": "+14155552672", "recording": {"enabled": True}}
    response = audian_api.post("/calls", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def add_recording(simulator_control, **options) -> str:
    response = simulator_control.knob("audian", "add_recording", **options)
    assert response.status_code == 201, response.text
    return response.json()["recording"]["recording_id"]


def assert_nothing_changed():
    assert not Recording.objects.exists()
    assert not WebhookDelivery.objects.exists()


def wait_until(condition, timeout: float = 10.0, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


# --- through Django's test client --------------------------------------------------------------


def test_a_signed_completed_event_creates_the_row_ready_and_queues_its_download(
    client, account, sim, simulator_control, receiver, enqueued, django_capture_on_commit_callbacks
):
    rec_id = add_recording(simulator_control, format="wav", channels=2, duration=7)
    response = deliver(client, account, receiver.wait_for(1)[0], django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "duplicate": False}
    recording = Recording.objects.get(account=account, external_id=rec_id)
    audio = sim.audio.get(sim.recordings_by_id[rec_id].audio)
    assert recording.state == RecordingState.DISCOVERED
    assert (recording.vendor_sha256, recording.size) == (audio.sha256, audio.size)
    assert (recording.duration, recording.format, recording.vendor_state) == (7, "wav", "completed")
    assert recording.vendor_call_id == sim.recordings_by_id[rec_id].call_id
    assert enqueued == [recording.id]
    # The queued download checks the file against the checksum the event carried.
    assert recording_download(recording.id).status == "stored"
    recording.refresh_from_db()
    assert recording.sha256 == recording.vendor_sha256 == audio.sha256


def test_it_follows_a_recording_from_started_to_completed(
    client, account, audian_api, simulator_control, receiver, enqueued,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    simulator_control.knob("audian", "timing", answer_delay=0, processing_delay=600)
    call = start_call(audian_api)
    rec_id = call["recording"]["recording_id"]
    started = receiver.wait_for(1)[0]
    assert started.json()["event"] == "recording.started"
    assert deliver(client, account, started, django_capture_on_commit_callbacks).status_code == 200
    recording = Recording.objects.get(external_id=rec_id)
    assert (recording.vendor_state, recording.state) == ("recording", RecordingState.DISCOVERED)
    assert recording.started_at is not None
    assert enqueued == []  # nothing to download while Audian records

    audian_api.post(f"/calls/{call['call_id']}/record/stop")
    stopped = receiver.wait_for(2)[1]
    assert deliver(client, account, stopped, django_capture_on_commit_callbacks).status_code == 200
    recording.refresh_from_db()
    assert recording.vendor_state == "stopped" and recording.duration >= 0
    assert enqueued == []

    simulator_control.knob("audian", "finish")
    completed = receiver.wait_for(3)[2]
    assert (
        deliver(client, account, completed, django_capture_on_commit_callbacks).status_code == 200
    )
    recording.refresh_from_db()
    assert recording.vendor_state == "completed" and len(recording.vendor_sha256) == 64
    assert enqueued == [recording.id]


def test_a_failed_recording_is_marked_gone_and_the_admin_told(
    client, account, audian_api, simulator_control, receiver, enqueued,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    simulator_control.knob("audian", "timing", answer_delay=0, processing_delay=600)
    call = start_call(audian_api)
    rec_id = call["recording"]["recording_id"]
    receiver.wait_for(1)
    audian_api.post(f"/calls/{call['call_id']}/record/stop")
    simulator_control.knob("audian", "fail_next", count=1, reason="storage_error")
    simulator_control.knob("audian", "finish")
    failed = receiver.wait_for(3)[2]
    assert failed.json()["event"] == "recording.failed"
    assert deliver(client, account, failed, django_capture_on_commit_callbacks).status_code == 200
    recording = Recording.objects.get(external_id=rec_id)
    assert (recording.state, recording.vendor_state) == (RecordingState.FAILED, "failed")
    assert recording.metadata["failure_reason"] == "storage_error"
    assert enqueued == []
    account.refresh_from_db()
    assert account.health == Health.DEGRADED
    assert f"Audian could not produce recording {rec_id}" in account.last_error
    assert "storage_error" in account.last_error


def test_a_replayed_delivery_is_applied_once(
    client, account, simulator_control, receiver, enqueued, django_capture_on_commit_callbacks
):
    add_recording(simulator_control)
    delivery = receiver.wait_for(1)[0]
    first = deliver(client, account, delivery, django_capture_on_commit_callbacks)
    again = deliver(client, account, delivery, django_capture_on_commit_callbacks)
    # A vendor retrying a delivery we already took must get its 2xx, or it retries for ever.
    assert first.json() == {"ok": True, "duplicate": False}
    assert again.status_code == 200 and again.json() == {"ok": True, "duplicate": True}
    assert WebhookDelivery.objects.count() == Recording.objects.count() == 1
    assert len(enqueued) == 1


def test_a_bad_signature_changes_nothing(
    client, account, simulator_control, receiver, enqueued, django_capture_on_commit_callbacks
):
    add_recording(simulator_control)
    delivery = receiver.wait_for(1)[0]
    tampered = delivery.body.replace(b'"duration": 20', b'"duration": 21')
    assert tampered != delivery.body
    response = post(
        client, account, tampered, audian_headers(delivery), django_capture_on_commit_callbacks
    )
    assert response.status_code == 401
    assert "X-Audian-Signature does not match" in response.json()["error"]
    wrong_secret = post(
        client, account, delivery.body, signed(delivery.body, secret="guessed"),
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    unsigned = post(client, account, delivery.body, {}, django_capture_on_commit_callbacks)
    assert (wrong_secret.status_code, unsigned.status_code) == (401, 401)
    assert_nothing_changed()
    assert enqueued == []


@pytest.mark.parametrize("offset", [-301, 301], ids=["five-minutes-late", "five-minutes-early"])
def test_a_stale_timestamp_changes_nothing(
    client, account, enqueued, django_capture_on_commit_callbacks, offset
):
    body = json.dumps(DOCUMENTED_COMPLETED).encode()
    headers = signed(body, at=time.time() + offset)
    response = post(client, account, body, headers, django_capture_on_commit_callbacks)
    assert response.status_code == 409
    assert "refused as a possible replay" in response.json()["error"]
    assert_nothing_changed()


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"event": "recording.completed"}',
        b'{"event": "recording.completed", "data": {"duration": 3}}',
        b'{"event": ["recording.completed"], "data": {"recording_id": "rec_1"}}',
        b'{"event": "recording.exploded", "data": {"recording_id": "rec_1"}}',
        b'{"event": "recording.completed", "data": {"recording_id": "%s"}}' % (b"r" * 300),
    ],
    ids=[
        "not-json",
        "not-utf8",
        "not-an-object",
        "no-data",
        "no-id",
        "odd-event",
        "unknown",
        "id-too-long",
    ],
)
def test_a_malformed_body_changes_nothing_even_when_signed(
    client, account, enqueued, django_capture_on_commit_callbacks, body
):
    response = post(client, account, body, signed(body), django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert response.json()["error"]
    assert_nothing_changed()


def test_an_oversized_body_is_refused_before_anything_is_read(
    client, account, settings, enqueued, django_capture_on_commit_callbacks
):
    event = {**DOCUMENTED_COMPLETED, "padding": "x" * settings.WEBHOOK_MAX_BYTES}
    body = json.dumps(event).encode()
    response = post(client, account, body, signed(body), django_capture_on_commit_callbacks)
    assert response.status_code == 413
    assert_nothing_changed()


def test_every_webhook_is_refused_until_the_admin_sets_the_signing_secret(
    client, vendor_account, enqueued, django_capture_on_commit_callbacks
):
    account = vendor_account("audian", secrets={"api_key": API_KEY})
    body = json.dumps(DOCUMENTED_COMPLETED).encode()
    response = post(client, account, body, signed(body), django_capture_on_commit_callbacks)
    assert response.status_code == 401
    assert "must set 'Webhook signing secret' on the account" in response.json()["error"]
    assert_nothing_changed()


def test_the_documented_sample_is_accepted_without_its_placeholder_checksum(
    client, account, enqueued, django_capture_on_commit_callbacks
):
    body = json.dumps(DOCUMENTED_COMPLETED).encode()
    response = post(client, account, body, signed(body), django_capture_on_commit_callbacks)
    assert response.status_code == 200
    recording = Recording.objects.get(external_id="rec_abc123")
    assert recording.vendor_sha256 == ""  # "abcdef0123456789" would fail every download
    assert (recording.size, recording.duration, recording.format) == (1536000, 305, "mp3")
    assert enqueued == [recording.id]


# --- end to end: the simulator delivers to a live portal ---------------------------------------


@pytest.fixture
def live_portal(live_server, monkeypatch):
    """The live server, closing its database connection after each request.

    Audian's sender keeps its HTTP connection open, and with it the server thread and that
    thread's database connection, which would keep the test database from being dropped.
    """
    monkeypatch.setitem(connections.settings[DEFAULT_DB_ALIAS], "CONN_MAX_AGE", 0)
    return live_server


@pytest.fixture
def portal_hook(live_portal, account, simulator_control):
    """Point Audian's webhooks at the live portal; its answers are logged when it refuses."""

    def configure(**settings):
        url = f"{live_portal.url}{hook_path(account)}"
        simulator_control.knob("audian", "webhook", url=url, retries=0, **settings)

    return configure


def refusals(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused audian")]


def test_audian_delivers_to_the_live_portal_which_queues_the_download(
    portal_hook, account, sim, simulator_control, enqueued
):
    portal_hook()
    rec_id = add_recording(simulator_control, format="opus", duration=4)
    wait_until(
        lambda: Recording.objects.filter(external_id=rec_id).exists() and enqueued,
        message="the webhook to create the row and queue its download",
    )
    recording = Recording.objects.get(external_id=rec_id)
    assert enqueued == [recording.id]
    assert WebhookDelivery.objects.get().external_id == rec_id
    assert recording_download(recording.id).status == "stored"
    recording.refresh_from_db()
    assert recording.sha256 == sim.audio.get(sim.recordings_by_id[rec_id].audio).sha256


def test_deliveries_signed_with_another_secret_change_nothing_on_the_live_portal(
    portal_hook, simulator_control, enqueued, caplog
):
    caplog.set_level(logging.WARNING, logger="recordings_portal.vendors.webhooks")
    portal_hook(secret="not-the-accounts-secret")
    add_recording(simulator_control)
    wait_until(lambda: refusals(caplog), message="the portal to refuse the delivery")
    assert "X-Audian-Signature does not match" in refusals(caplog)[0]
    assert_nothing_changed()
    assert enqueued == []


def test_deliveries_signed_ten_minutes_ahead_change_nothing_on_the_live_portal(
    portal_hook, simulators, simulator_control, enqueued, caplog
):
    caplog.set_level(logging.WARNING, logger="recordings_portal.vendors.webhooks")
    portal_hook()
    simulators.clock.advance(600)  # Audian's clock only: the portal's stays where it is
    add_recording(simulator_control)
    wait_until(lambda: refusals(caplog), message="the portal to refuse the delivery")
    assert "refused as a possible replay" in refusals(caplog)[0]
    assert_nothing_changed()


def test_a_delivery_replayed_to_the_live_portal_is_applied_once(
    live_portal, account, simulator_control, receiver, enqueued
):
    add_recording(simulator_control)
    delivery = receiver.wait_for(1)[0]
    url = f"{live_portal.url}{hook_path(account)}"
    headers = {**audian_headers(delivery), "Content-Type": "application/json"}
    answers = [httpx.post(url, content=delivery.body, headers=headers) for _ in range(2)]
    assert [a.json()["duplicate"] for a in answers] == [False, True]
    assert Recording.objects.count() == WebhookDelivery.objects.count() == 1
    assert len(enqueued) == 1
    malformed = b'{"event": "recording.completed", "data": []}'
    bad = httpx.post(url, content=malformed, headers=signed(malformed))
    assert bad.status_code == 400
    assert Recording.objects.count() == 1
