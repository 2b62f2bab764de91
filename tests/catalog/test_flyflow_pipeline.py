import pytest

from recordings_portal.catalog import storage
from recordings_portal.catalog.models import Recording, RecordingState, SyncState
from recordings_portal.catalog.services.download import recording_download
from recordings_portal.catalog.services.sync import sync_request, sync_step


@pytest.fixture
def account(vendor_account):
    return vendor_account("flyflow")


def run_sync(account):
    run = sync_request(account)
    ids = []
    while True:
        step = sync_step(run.id)
        ids += step.new_ids
        if not step.more:
            break
    run.refresh_from_db()
    return run, ids


def test_a_sync_discovers_every_call_and_downloads_each_once(account, simulators):
    run, ids = run_sync(account)
    assert run.state == SyncState.SUCCEEDED
    assert run.seen == run.new == 8
    assert len(ids) == 8
    for recording_id in ids:
        assert recording_download(recording_id).status == "stored"
    for recording in Recording.objects.all():
        assert recording.state == RecordingState.AVAILABLE
        assert storage.exists(recording.storage_key)
        assert storage.exists(recording.peaks_key)
        assert recording.format == "mp3"
        call = simulators.vendors["flyflow"].calls[int(recording.external_id)]
        audio = simulators.audio.get(call.audio)
        assert recording.sha256 == audio.sha256
        assert recording.size == audio.size
        assert abs(recording.duration - audio.duration) < 0.1


def test_a_second_sync_adds_nothing_new(account):
    run_sync(account)
    second, _ = run_sync(account)
    assert second.new == 0
    assert Recording.objects.count() == 8
