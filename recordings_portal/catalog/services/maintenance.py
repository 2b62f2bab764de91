"""Finding work that a dead worker left behind."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from recordings_portal.catalog import storage
from recordings_portal.catalog.models import Recording, RecordingState, SyncRun, SyncState


def recover_stalled() -> dict[str, list[int]]:
    now = timezone.now()
    lapsed = list(
        Recording.objects.filter(
            state=RecordingState.DOWNLOADING, claimed_until__lt=now
        ).values_list("id", flat=True)
    )
    # Left in DOWNLOADING: the download task's claim accepts lapsed claims as they are.
    stale_before = now - timedelta(seconds=settings.SYNC_STALE_SECONDS)
    # Running but silent (the worker died mid-page), or queued and never picked up (the
    # message was lost, e.g. a broker restart without persistence).
    silent = list(
        SyncRun.objects.filter(
            Q(state=SyncState.RUNNING, heartbeat_at__lt=stale_before)
            | Q(state=SyncState.QUEUED, created_at__lt=stale_before)
        ).values_list("id", flat=True)
    )
    # A live download writes its temporary file continuously; one silent for two leases is dead.
    storage.sweep_incoming(older_than_seconds=2 * settings.DOWNLOAD_LEASE_SECONDS)
    return {"downloads": lapsed, "syncs": silent}
