"""The sync and download tasks on a real Celery worker and broker, against the simulators."""

import time

import pytest

from recordings_portal.catalog import storage
from recordings_portal.catalog.models import Recording, RecordingState, SyncRun, SyncState
from recordings_portal.catalog.services.sync import sync_request
from recordings_portal.catalog.tasks import download_recording


def wait_until(condition, timeout: float = 60, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {message}")


def all_stored(count: int) -> bool:
    return Recording.objects.filter(state=RecordingState.AVAILABLE).count() == count


def assert_stored_once_and_verified(simulators):
    files = list((storage.root() / "recordings").rglob("*"))
    audio_files = [f for f in files if f.is_file() and not f.name.endswith(".peaks.json")]
    assert len(audio_files) == Recording.objects.count()
    for recording in Recording.objects.all():
        call = simulators.vendors["flyflow"].calls[int(recording.external_id)]
        assert recording.sha256 == simulators.audio.get(call.audio).sha256
        assert storage.path(recording.storage_key).stat().st_size == recording.size
    assert not any((storage.root() / storage.TEMP_DIR).iterdir())


@pytest.fixture
def fast_retries(settings):
    settings.RETRY_BASE_SECONDS = 0.1
    settings.RETRY_CAP_SECONDS = 0.5


def test_it_syncs_and_downloads_an_account_on_the_worker(celery_worker, vendor_account, simulators):
    account = vendor_account("flyflow")
    run = sync_request(account)
    wait_until(lambda: all_stored(8), message="8 stored recordings")
    wait_until(lambda: SyncRun.objects.get(id=run.id).downloaded == 8, message="the counters")
    run.refresh_from_db()
    assert (run.state, run.seen, run.new, run.downloaded) == (SyncState.SUCCEEDED, 8, 8, 8)
    assert_stored_once_and_verified(simulators)


@pytest.mark.parametrize(
    "fault",
    [
        {"fail_next": 3},
        {"rate_limit_next": 2, "retry_after": 1},
        {"drop_next": 3},
        {"truncate_next": 3},
        {"error_rate": 0.3},
    ],
    ids=["500s", "429-retry-after", "dropped-connection", "truncated-body", "flaky"],
)
def test_faults_end_with_every_recording_stored_exactly_once(
    celery_worker, vendor_account, simulators, simulator_control, fast_retries, fault
):
    account = vendor_account("flyflow")
    simulator_control.faults("flyflow", **fault)
    sync_request(account)
    wait_until(lambda: all_stored(8), message="8 stored recordings despite the faults")
    assert SyncRun.objects.get().state == SyncState.SUCCEEDED
    assert_stored_once_and_verified(simulators)


def test_a_missing_recording_ends_failed_with_a_clear_reason(
    celery_worker, vendor_account, media_root
):
    account = vendor_account("flyflow")
    recording = Recording.objects.create(account=account, external_id="424242")
    download_recording.delay(recording.id)
    wait_until(
        lambda: Recording.objects.get(id=recording.id).state == RecordingState.FAILED,
        message="the download to fail",
    )
    recording.refresh_from_db()
    assert "not found" in recording.last_error.lower()
    assert recording.storage_key == ""


def test_a_second_sync_request_is_refused_while_one_runs(vendor_account):
    account = vendor_account("flyflow")
    assert sync_request(account) is not None
    assert sync_request(account) is None
    assert SyncRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_download_is_redelivered_and_completes(
    vendor_account, simulators, simulator_control, media_root
):
    from tests.workers import WorkerProcess, purge_queues

    account = vendor_account("flyflow")
    call_id, call = max(
        simulators.vendors["flyflow"].calls.items(),
        key=lambda item: simulators.audio.get(item[1].audio).size,
    )
    expected = simulators.audio.get(call.audio)
    recording = Recording.objects.create(account=account, external_id=str(call_id))
    simulator_control.faults("flyflow", slow_body=max(20_000, expected.size // 8))
    purge_queues()
    worker = WorkerProcess(DOWNLOAD_LEASE_SECONDS=2, RETRY_BASE_SECONDS=0.2)
    log = ""
    try:
        download_recording.delay(recording.id)
        wait_until(
            lambda: Recording.objects.get(id=recording.id).state == RecordingState.DOWNLOADING,
            timeout=120,  # a cold worker process on a busy 2-core machine
            message="the download to start",
        )
        time.sleep(1)  # some bytes are on disk
        worker.kill_child()
        simulator_control.clear_faults("flyflow")
        wait_until(
            lambda: Recording.objects.get(id=recording.id).state == RecordingState.AVAILABLE,
            timeout=90,
            message="the redelivered download to finish",
        )
    except AssertionError:
        raise AssertionError(worker.stop()) from None
    finally:
        log = log or worker.stop()
    recording.refresh_from_db()
    assert recording.sha256 == expected.sha256, log
    assert recording.download_attempts == 2
    stored = [f for f in (media_root / "recordings").rglob("*") if f.is_file()]
    assert sorted(f.name for f in stored) == sorted(
        [f"{expected.sha256}.mp3", f"{expected.sha256}.mp3.peaks.json"]
    )
