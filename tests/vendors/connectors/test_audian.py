"""The Audian connector over real HTTP against the simulator: discovery, downloads, deletion,
reconciliation by the periodic sync, and the warning before Audian's 30-day retention."""

import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.utils import timezone

from recordings_portal.catalog import storage
from recordings_portal.catalog.models import Recording, RecordingState, SyncState
from recordings_portal.catalog.services.download import RetryLater, recording_download
from recordings_portal.catalog.services.retention_watch import retention_check
from recordings_portal.catalog.services.sync import SyncRetry, sync_request, sync_step
from recordings_portal.catalog.tasks import watch_vendor_retention
from recordings_portal.lib.http import vendor_client
from recordings_portal.simulators.audian import API_KEY
from recordings_portal.simulators.testing import Receiver
from recordings_portal.vendors.connectors.audian import AudianConnector
from recordings_portal.vendors.connectors.base import (
    AccountSettings,
    AuthFailed,
    Gone,
    NotReady,
    RateLimited,
    RecordingRef,
)
from recordings_portal.vendors.connectors.registry import connector_for
from recordings_portal.vendors.health import account_flag_auth_failed
from recordings_portal.vendors.models import Health, WebhookDelivery
from recordings_portal.vendors.webhooks import event_apply

DAY = 86400


@pytest.fixture
def account(vendor_account):
    return vendor_account("audian")


@pytest.fixture
def connector(account):
    return connector_for(account)


@pytest.fixture
def small_pages(monkeypatch):
    """Pages of 3 rows, each repeating the last row of the one before: drift shows at 8 rows."""
    monkeypatch.setattr(AudianConnector, "page_size", 3)
    monkeypatch.setattr(AudianConnector, "page_overlap", 1)


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def listed_ids(sim) -> set[str]:
    return {rec_id for _, rec_id in sim.index}


def walk(connector, cursor: dict | None = None, between=None) -> list:
    """Every page of one sync; `between(pages so far)` runs after each page."""
    pages, cursor = [], dict(cursor or {})
    while True:
        page = connector.discover(json.loads(json.dumps(cursor)))  # as stored on SyncRun
        pages.append(page)
        if between:
            between(pages)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def ids_of(pages) -> list[str]:
    return [recording.external_id for page in pages for recording in page.recordings]


def run_sync(account, download: bool = True):
    run = sync_request(account, enqueue=False)
    ids = []
    while True:
        step = sync_step(run.id, download=download)
        ids += step.new_ids
        if not step.more:
            break
    run.refresh_from_db()
    return run, ids


def download_settled(recording_id: int, tries: int = 12):
    """What the download task's retries do, without waiting out the backoff."""
    for _ in range(tries):
        try:
            return recording_download(recording_id)
        except RetryLater:
            continue
    raise AssertionError("the download never settled")


def stored_audio_files() -> list:
    folder = storage.root() / "recordings"
    files = folder.rglob("*") if folder.exists() else []
    return [f for f in files if f.is_file() and not f.name.endswith(".peaks.json")]


def assert_stored_once_and_verified(recording: Recording, sim) -> None:
    recording.refresh_from_db()
    audio = sim.audio.get(sim.recordings_by_id[recording.external_id].audio)
    assert recording.state == RecordingState.AVAILABLE, recording.last_error
    assert recording.sha256 == audio.sha256
    assert recording.size == audio.size == storage.path(recording.storage_key).stat().st_size
    assert len(stored_audio_files()) == 1
    temporary = storage.root() / storage.TEMP_DIR
    assert not temporary.exists() or not any(temporary.iterdir())


def add_recording(simulator_control, **options) -> str:
    response = simulator_control.knob("audian", "add_recording", **options)
    assert response.status_code == 201, response.text
    return response.json()["recording"]["recording_id"]


def record_a_call(audian_api) -> str:
    """A call recorded and stopped at Audian; the recording then waits to be processed."""
    body = {"from": "+14155552671", "to": "+14155552672", "recording": {"enabled": True}}
    call = audian_api.post("/calls", json=body).json()
    rec_id = call["recording"]["recording_id"]
    deadline = time.monotonic() + 5
    while audian_api.get(f"/recordings/{rec_id}").json()["status"] != "recording":
        assert time.monotonic() < deadline, "the call was never answered"
        time.sleep(0.02)
    assert audian_api.post(f"/calls/{call['call_id']}/record/stop").status_code == 200
    return rec_id


def epoch_iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- account settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.audian.com:8443/v2",
        "https://api.audian.com:8443/v2/",
        "https://api.audian.com:8443",
    ],
)
def test_it_accepts_the_base_url_with_or_without_v2_and_the_documented_port(base_url):
    connector = AudianConnector(AccountSettings(base_url, {}, {"api_key": "k"}), httpx.Client())
    assert connector.url("/recordings") == "https://api.audian.com:8443/v2/recordings"


def test_it_proves_the_api_key_with_x_auth_token(simulators, account, connector):
    assert "lists 8 recordings" in connector.check()
    for given in (f"{simulators.url}/audian", f"{simulators.url}/audian/v2/"):
        settings = AccountSettings(given, {}, {"api_key": API_KEY})
        assert "accepted the API key" in AudianConnector(settings, vendor_client()).check()
    wrong = AccountSettings(f"{simulators.url}/audian", {}, {"api_key": "aud_wrong"})
    with pytest.raises(AuthFailed, match="credentials were refused"):
        AudianConnector(wrong, vendor_client()).check()


def test_it_says_when_webhooks_cannot_be_verified(simulators, settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True
    settings = AccountSettings(f"{simulators.url}/audian", {}, {"api_key": API_KEY})
    assert "webhooks will be refused" in AudianConnector(settings, vendor_client()).check()


# --- discovery -------------------------------------------------------------------------------


def test_it_discovers_every_recording_page_by_page_with_the_total(connector, sim, small_pages):
    pages = walk(connector)
    assert len(pages) == 4  # 3 + 2 + 2 + 1 new rows: each page repeats one row of the last
    assert {page.total for page in pages} == {8}
    ids = ids_of(pages)
    assert len(ids) == len(set(ids)) == 8  # the repeated rows are not counted twice
    assert set(ids) == listed_ids(sim)
    for recording in (r for page in pages for r in page.recordings):
        vendor = sim.recordings_by_id[recording.external_id]
        assert recording.ready and not recording.gone
        assert recording.vendor_call_id == vendor.call_id
        assert recording.duration == vendor.audio.duration
        assert recording.size == sim.audio.get(vendor.audio).size
        # Audian's created_at is when the call stopped: started = created_at - duration.
        assert recording.started_at.timestamp() == vendor.created_at - vendor.audio.duration
        assert recording.metadata == {"created_at": epoch_iso(vendor.created_at)}
    newest = max(created for created, _ in sim.index)
    assert pages[-1].watermark == {"since": epoch_iso(newest - 30 * 60)}
    assert all(page.watermark is None for page in pages[:-1])


def test_it_lists_only_since_the_watermark_on_the_next_sync(
    connector, sim, simulator_control, simulators
):
    watermark = walk(connector)[-1].watermark
    newest = max(created for created, _ in sim.index)
    simulators.clock.advance(3600)  # an hour later, a new recording
    new_id = add_recording(simulator_control)
    pages = walk(connector, watermark)
    # Only what is newer than the last sync's newest recording less the overlap.
    overlapping = {rec_id for created, rec_id in sim.index if newest - 1800 <= created <= newest}
    assert ids_of(pages)[0] == new_id
    assert set(ids_of(pages)) == {new_id} | overlapping
    assert pages[-1].watermark == {
        "since": epoch_iso(sim.recordings_by_id[new_id].created_at - 1800)
    }
    assert walk(connector, pages[-1].watermark)[-1].watermark == pages[-1].watermark


def test_it_resumes_from_the_cursor_a_sync_stored_mid_way(
    account, sim, simulator_control, small_pages
):
    run = sync_request(account, enqueue=False)
    assert sync_step(run.id, download=False).more
    simulator_control.faults("audian", fail_next=1)
    with pytest.raises(SyncRetry):
        sync_step(run.id, download=False)
    run.refresh_from_db()
    assert run.cursor["offset"] == 2 and run.pages == 1  # the failed page kept the cursor
    while sync_step(run.id, download=False).more:
        pass
    run.refresh_from_db()
    assert (run.state, run.pages, run.seen, run.new, run.total_expected) == (
        SyncState.SUCCEEDED, 4, 8, 8, 8
    )  # fmt: skip
    assert set(Recording.objects.values_list("external_id", flat=True)) == listed_ids(sim)
    account.refresh_from_db()
    assert account.sync_state["since"]  # the next sync starts from the watermark


def test_it_misses_nothing_when_recordings_arrive_during_a_sync(
    connector, sim, simulator_control, small_pages
):
    before = listed_ids(sim)
    arrived = []

    def recordings_arrive(pages):
        if len(pages) == 1:  # new rows at the top push every later row down two places
            arrived.extend(add_recording(simulator_control) for _ in range(2))

    pages = walk(connector, between=recordings_arrive)
    assert set(ids_of(pages)) == before  # some rows seen twice, none missed
    next_sync = walk(connector, pages[-1].watermark)
    assert set(arrived) <= set(ids_of(next_sync))


def test_it_misses_nothing_when_recordings_are_deleted_during_a_sync(
    connector, sim, audian_api, small_pages
):
    before = listed_ids(sim)

    def recordings_deleted(pages):
        if len(pages) == 1:  # rows of the first page leave: later rows move up past the cursor
            for rec_id in ids_of(pages)[:2]:
                assert audian_api.delete(f"/recordings/{rec_id}").status_code == 200

    pages = walk(connector, between=recordings_deleted)
    assert set(ids_of(pages)) == before
    assert len(listed_ids(sim)) == 6


def test_it_marks_unfinished_recordings_not_ready_and_failed_ones_gone(
    connector, sim, simulator_control, audian_api, simulators
):
    simulator_control.knob("audian", "timing", answer_delay=0, processing_delay=600)
    failing = record_a_call(audian_api)
    simulator_control.knob("audian", "fail_next", count=1, reason="storage_error")
    simulator_control.knob("audian", "finish")
    processing = record_a_call(audian_api)
    simulators.clock.advance(3600)
    add_recording(simulator_control)  # the newest, an hour after the one still processing
    pages = walk(connector)
    found = {r.external_id: r for page in pages for r in page.recordings}
    assert (found[processing].ready, found[processing].gone) == (False, False)
    assert found[processing].vendor_state in ("stopped", "processing")
    assert found[processing].size is None  # no file yet
    assert (found[failing].ready, found[failing].gone) == (False, True)
    # The watermark stays at the unfinished recording, so the next sync sees it complete.
    created = sim.recordings_by_id[processing].created_at
    assert pages[-1].watermark == {"since": epoch_iso(created)}
    simulator_control.knob("audian", "finish")
    again = {
        r.external_id: r for page in walk(connector, pages[-1].watermark) for r in page.recordings
    }
    assert again[processing].ready


# --- downloads -------------------------------------------------------------------------------


@pytest.fixture
def synced(account):
    """The account synced without downloading: one discovered row per Audian recording."""
    run_sync(account, download=False)
    return Recording.objects.filter(account=account).order_by("-started_at")


def test_it_downloads_through_the_redirect_and_verifies_the_file(synced, sim):
    recording = synced.first()
    assert recording_download(recording.id).status == "stored"
    assert_stored_once_and_verified(recording, sim)
    recording.refresh_from_db()
    assert recording.format == sim.recordings_by_id[recording.external_id].format


def test_it_asks_for_a_new_link_when_the_temporary_one_has_expired(
    account, synced, sim, simulator_control
):
    recording = synced.first()
    simulator_control.faults("audian", expire_links=True)
    asked = []

    def watch(response):
        request = response.request
        name = request.url.path.rsplit("/", 1)[-1]
        asked.append((name, response.status_code, "X-Auth-Token" in request.headers))
        if response.status_code == 403:  # the next link Audian hands out will be fresh
            simulator_control.clear_faults("audian")

    client = vendor_client(event_hooks={"response": [watch]})
    ref = RecordingRef(external_id=recording.external_id)
    with connector_for(account, client).media(ref) as media:
        body = b"".join(media.iter_bytes())
    audio = sim.audio.get(sim.recordings_by_id[recording.external_id].audio)
    assert body == audio.path.read_bytes()
    extension = sim.recordings_by_id[recording.external_id].format
    media_file = f"{recording.external_id}.{extension}"
    # The temporary URL goes without the API key: it may live on another host.
    assert asked == [
        ("download", 302, True),
        (media_file, 403, False),
        ("download", 302, True),
        (media_file, 200, False),
    ]


def test_it_retries_later_when_every_link_has_expired(synced, sim, simulator_control):
    recording = synced.first()
    simulator_control.faults("audian", expire_links=True)
    with pytest.raises(RetryLater):
        recording_download(recording.id)
    recording.refresh_from_db()
    assert recording.state == RecordingState.DISCOVERED
    assert "download link was refused (403)" in recording.last_error
    simulator_control.clear_faults("audian")
    assert download_settled(recording.id).status == "stored"
    assert_stored_once_and_verified(recording, sim)


@pytest.mark.parametrize(
    "fault",
    [
        {"fail_next": 3},
        {"rate_limit_next": 2, "retry_after": 1},
        {"drop_next": 2},
        {"truncate_next": 2},
    ],
    ids=["500s", "429-retry-after", "dropped-connection", "truncated-body"],
)
def test_faults_end_with_the_recording_stored_exactly_once(synced, sim, simulator_control, fault):
    recording = synced.first()
    simulator_control.faults("audian", **fault)
    assert download_settled(recording.id).status == "stored"
    assert_stored_once_and_verified(recording, sim)


def test_it_reports_the_vendors_rate_limit_with_its_retry_after(
    connector, synced, simulator_control
):
    simulator_control.faults("audian", rate_limit_next=1, retry_after=7)
    with pytest.raises(RateLimited) as raised, connector.media(RecordingRef(synced[0].external_id)):
        pass
    assert raised.value.retry_after == 7


def test_a_wrong_checksum_ends_failed_with_a_clear_reason_and_no_file(
    account, sim, simulator_control, receiver
):
    simulator_control.knob("audian", "webhook", url=receiver.url)
    simulator_control.faults("audian", wrong_checksum=True)
    rec_id = add_recording(simulator_control)
    delivery = receiver.wait_for(1)[0]
    event = connector_for(account).parse_event("recordings", delivery.headers, delivery.body)
    event_apply(account, event)
    recording = Recording.objects.get(external_id=rec_id)
    assert download_settled(recording.id).status == "failed"
    recording.refresh_from_db()
    assert recording.state == RecordingState.FAILED
    assert "Checksum mismatch" in recording.last_error
    assert recording.storage_key == "" and stored_audio_files() == []


def test_it_waits_for_a_recording_audian_is_still_processing(
    connector, simulator_control, audian_api
):
    simulator_control.knob("audian", "timing", answer_delay=0, processing_delay=600)
    rec_id = record_a_call(audian_api)
    with pytest.raises(NotReady) as raised, connector.media(RecordingRef(rec_id)):
        pass
    assert raised.value.retry_after == 600


def test_it_calls_a_missing_or_failed_recording_gone(connector, simulator_control, audian_api):
    with pytest.raises(Gone), connector.media(RecordingRef("rec_missing")):
        pass
    simulator_control.knob("audian", "timing", answer_delay=0, processing_delay=600)
    failed = record_a_call(audian_api)
    simulator_control.knob("audian", "fail_next", count=1)
    simulator_control.knob("audian", "finish")
    with pytest.raises(Gone, match="failed"), connector.media(RecordingRef(failed)):
        pass


# --- deletion --------------------------------------------------------------------------------


def test_it_deletes_at_audian_and_counts_already_gone_as_done(connector, sim, audian_api):
    rec_id = sorted(listed_ids(sim))[0]
    receipt = connector.delete(RecordingRef(rec_id))
    assert receipt.startswith(f"Audian deleted recording {rec_id} at 20")
    assert audian_api.get(f"/recordings/{rec_id}").status_code == 404
    assert "no longer had" in connector.delete(RecordingRef(rec_id))


# --- reconciliation --------------------------------------------------------------------------


def test_the_periodic_sync_finds_a_recording_whose_webhook_was_lost(
    account, sim, simulator_control, simulators
):
    run_sync(account, download=False)  # the account is up to date
    down = Receiver()
    down.close()  # the portal's webhook endpoint is unreachable
    simulator_control.knob("audian", "webhook", url=f"{down.url}/hooks", retries=0)
    simulators.clock.advance(60)
    rec_id = add_recording(simulator_control, format="wav", duration=5)
    run, new_ids = run_sync(account)
    assert not WebhookDelivery.objects.exists()
    assert run.new == 1
    recording = Recording.objects.get(external_id=rec_id)
    assert recording.id in new_ids
    assert recording_download(recording.id).status == "stored"
    assert_stored_once_and_verified(recording, sim)


# --- retention -------------------------------------------------------------------------------


@pytest.fixture
def two_new_recordings(account, sim, simulator_control):
    """Two recordings made now, found by a sync that starts just before them."""
    now = sim.clock.now()
    account.sync_state = {"since": epoch_iso(now - 60)}
    account.save(update_fields=["sync_state"])
    first = add_recording(simulator_control, duration=5)
    second = add_recording(simulator_control, duration=5)
    run_sync(account, download=False)
    assert set(Recording.objects.values_list("external_id", flat=True)) == {first, second}
    return [Recording.objects.get(external_id=rec_id) for rec_id in (first, second)]


def test_it_warns_before_audian_deletes_recordings_not_downloaded(
    account, two_new_recordings, simulators
):
    first, second = two_new_recordings
    assert retention_check(account) == 0
    account.refresh_from_db()
    assert account.health == Health.OK

    simulators.clock.advance(26 * DAY)  # Audian's clock and the portal's move together
    later = timezone.now() + timedelta(days=26)
    assert recording_download(first.id).status == "stored"  # still at Audian after 26 days
    assert retention_check(account, now=later) == 1
    account.refresh_from_db()
    assert account.health == Health.DEGRADED
    assert account.last_error.startswith(
        f"1 recording will be deleted by Audian within 5 days and is not downloaded yet: "
        f"{second.external_id}."
    )

    assert recording_download(second.id).status == "stored"
    assert retention_check(account, now=later) == 0
    account.refresh_from_db()
    assert (account.health, account.last_error) == (Health.OK, "")


def test_it_says_when_recordings_may_already_be_lost_and_stops_once_they_are(
    account, two_new_recordings, simulators
):
    simulators.clock.advance(31 * DAY)
    later = timezone.now() + timedelta(days=31)
    assert retention_check(account, now=later) == 2
    account.refresh_from_db()
    assert "2 recordings older than 30 days were never downloaded" in account.last_error
    for recording in two_new_recordings:
        assert recording_download(recording.id).status == "failed"  # Audian deleted them
    assert retention_check(account, now=later) == 0  # nothing anyone can save any more
    account.refresh_from_db()
    assert account.health == Health.OK


def test_the_retention_warning_does_not_hide_refused_credentials(account, two_new_recordings):
    account_flag_auth_failed(account, "Audian answered 401.")
    assert retention_check(account, now=timezone.now() + timedelta(days=27)) == 2
    account.refresh_from_db()
    assert account.health == Health.AUTH_FAILED
    assert account.last_error.startswith("Audian answered 401.")


def test_the_beat_task_checks_every_account_whose_vendor_deletes_recordings(
    account, two_new_recordings, vendor_account
):
    vendor_account("flyflow")  # Flyflow keeps its recordings: never checked
    assert watch_vendor_retention() == {account.name: 0}
