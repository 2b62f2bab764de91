import os
import time
from datetime import timedelta

from django.utils import timezone

from recordings_portal.catalog import storage
from recordings_portal.catalog.models import Recording, RecordingState, SyncRun, SyncState
from recordings_portal.catalog.services.maintenance import recover_stalled
from recordings_portal.vendors.models import VendorAccount


def test_it_finds_lapsed_downloads_and_silent_syncs_only(db, media_root, settings):
    account = VendorAccount.objects.create(kind="flyflow", name="F", base_url="https://x.test")
    now = timezone.now()
    lapsed = Recording.objects.create(
        account=account, external_id="1", state=RecordingState.DOWNLOADING,
        claimed_until=now - timedelta(seconds=1),
    )  # fmt: skip
    Recording.objects.create(
        account=account, external_id="2", state=RecordingState.DOWNLOADING,
        claimed_until=now + timedelta(minutes=5),
    )  # fmt: skip
    silent = SyncRun.objects.create(
        account=account, state=SyncState.RUNNING,
        heartbeat_at=now - timedelta(seconds=settings.SYNC_STALE_SECONDS + 1),
    )  # fmt: skip
    quiet = VendorAccount.objects.create(kind="flyflow", name="Q", base_url="https://q.test")
    lost = SyncRun.objects.create(account=quiet, state=SyncState.QUEUED)
    SyncRun.objects.filter(id=lost.id).update(
        created_at=now - timedelta(seconds=settings.SYNC_STALE_SECONDS + 1)
    )
    other = VendorAccount.objects.create(kind="flyflow", name="G", base_url="https://y.test")
    SyncRun.objects.create(account=other, state=SyncState.QUEUED)  # just queued: not lost
    found = recover_stalled()
    assert found["downloads"] == [lapsed.id]
    assert sorted(found["syncs"]) == sorted([silent.id, lost.id])


def test_it_sweeps_temporary_files_their_writer_abandoned(db, media_root, settings):
    with storage.incoming() as (stream, fresh):
        stream.write(b"being written")
        stale = storage.root() / storage.TEMP_DIR / "dead.tmp"
        stale.write_bytes(b"half a recording")
        old = time.time() - 3 * settings.DOWNLOAD_LEASE_SECONDS
        os.utime(stale, (old, old))
        recover_stalled()
        assert fresh.exists()
        assert not stale.exists()
