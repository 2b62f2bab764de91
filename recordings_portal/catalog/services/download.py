"""Fetching one recording's audio into storage: streamed, hashed, verified, probed, atomic.

A row is claimed with a conditional UPDATE carrying a fresh token and a lease; only the holder
of the token may finish it, so two workers racing (or a redelivered task after a crash) never
produce two files or a half one. A claim whose worker died lapses with its lease.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from recordings_portal.audio.analysis import analyse
from recordings_portal.audio.decode import AudioError
from recordings_portal.catalog import storage
from recordings_portal.catalog.models import Recording, RecordingState
from recordings_portal.lib.retry import backoff
from recordings_portal.vendors.connectors.base import (
    AuthFailed,
    ConnectorError,
    Gone,
    NotReady,
    RateLimited,
    RecordingRef,
)
from recordings_portal.vendors.connectors.registry import connector_for
from recordings_portal.vendors.crypto import CredentialsUnreadable
from recordings_portal.vendors.health import account_flag_auth_failed

log = logging.getLogger(__name__)

HEARTBEAT_BYTES = 8 * 1024 * 1024


class RetryLater(Exception):
    """A transient failure: the task should run again after `countdown` seconds."""

    def __init__(self, message: str, countdown: float):
        super().__init__(message)
        self.countdown = countdown


@dataclass(frozen=True)
class Outcome:
    status: str  # "stored", "failed", "skipped"
    message: str = ""
    # Seconds spent receiving (stream, hash, write) and analysing (decode, peaks).
    timings: dict = field(default_factory=dict)


def lease() -> timedelta:
    return timedelta(seconds=settings.DOWNLOAD_LEASE_SECONDS)


def download_claim(recording_id: int) -> tuple[Recording, uuid.UUID] | None:
    now = timezone.now()
    token = uuid.uuid4()
    claimable = Q(state=RecordingState.DISCOVERED) | Q(
        state=RecordingState.DOWNLOADING, claimed_until__lt=now
    )
    claimed = (
        Recording.objects.filter(claimable, id=recording_id)
        .filter(download_attempts__lt=settings.DOWNLOAD_MAX_ATTEMPTS)
        .update(
            state=RecordingState.DOWNLOADING,
            claim_token=token,
            claimed_until=now + lease(),
            download_attempts=F("download_attempts") + 1,
        )
    )
    if not claimed:
        return None
    return Recording.objects.select_related("account").get(id=recording_id), token


def _release(recording: Recording, token, *, state: str, error: str, **fields) -> bool:
    """Give the row back (to retry) or fail it, if we still hold it."""
    return bool(
        Recording.objects.filter(id=recording.id, claim_token=token).update(
            state=state, last_error=error[:2000], claim_token=None, claimed_until=None, **fields
        )
    )


def recording_download(recording_id: int) -> Outcome:
    """Download one recording; raises RetryLater for what is worth trying again."""
    claimed = download_claim(recording_id)
    if claimed is None:
        return _explain_unclaimable(recording_id)
    recording, token = claimed
    try:
        return _download(recording, token)
    except RetryLater:
        raise
    except Exception as exc:
        log.exception("download of recording %s failed unexpectedly", recording_id)
        _release(recording, token, state=RecordingState.DISCOVERED, error=f"Unexpected: {exc}")
        raise RetryLater(str(exc), backoff(recording.download_attempts)) from exc


def _explain_unclaimable(recording_id: int) -> Outcome:
    row = (
        Recording.objects.filter(id=recording_id)
        .values("state", "download_attempts", "last_error")
        .first()
    )
    if row is None:
        return Outcome("skipped", "The recording no longer exists.")
    attempts = row["download_attempts"]
    if row["state"] == RecordingState.DISCOVERED and attempts >= settings.DOWNLOAD_MAX_ATTEMPTS:
        message = f"Gave up after {attempts} attempts. {row['last_error']}".strip()
        Recording.objects.filter(id=recording_id, state=RecordingState.DISCOVERED).update(
            state=RecordingState.FAILED, last_error=message
        )
        return Outcome("failed", message)
    if row["state"] == RecordingState.DOWNLOADING:
        # Someone holds a live claim; look again when it would have lapsed.
        raise RetryLater("Another worker is downloading it.", lease().total_seconds())
    return Outcome("skipped", f"Nothing to do in state {row['state']}.")


def _download(recording: Recording, token) -> Outcome:
    ref = RecordingRef(
        external_id=recording.external_id,
        vendor_call_id=recording.vendor_call_id,
        metadata=recording.metadata,
        sha256=recording.vendor_sha256,
    )
    attempt = recording.download_attempts
    started = time.perf_counter()
    try:
        connector = connector_for(recording.account)
        with connector.media(ref) as media, storage.incoming() as (stream, temporary):
            digest, received = hashlib.sha256(), 0
            for chunk in media.iter_bytes():
                digest.update(chunk)
                stream.write(chunk)
                received += len(chunk)
                if received % HEARTBEAT_BYTES < len(chunk):
                    _extend_claim(recording, token)
            stream.flush()
            sha256 = digest.hexdigest()
            if media.expected_size is not None and received != media.expected_size:
                raise ConnectorError(
                    f"The download was cut short: {received} of {media.expected_size} bytes."
                )
            expected = (media.expected_sha256 or recording.vendor_sha256).lower()
            if expected and expected != sha256:
                raise ConnectorError(
                    f"Checksum mismatch: the vendor said {expected[:12]}…, "
                    f"the file is {sha256[:12]}…."
                )
            received_at = time.perf_counter()
            analysis = analyse(temporary)
            timings = {
                "receive": received_at - started,
                "analyse": time.perf_counter() - received_at,
            }
            key = (
                f"recordings/{recording.account_id}/{recording.id}/{sha256}.{analysis.info.format}"
            )
            storage.commit(temporary, key)
        peaks_key = f"{key}.peaks.json"
        storage.write_bytes(peaks_key, json.dumps(analysis.peaks).encode())
    except CredentialsUnreadable as exc:
        _release(recording, token, state=RecordingState.DISCOVERED, error=str(exc))
        return Outcome("failed", str(exc))
    except AuthFailed as exc:
        account_flag_auth_failed(recording.account, exc.message)
        # Not the recording's fault: it waits, unblamed, for the admin to fix the credentials.
        _release(recording, token, state=RecordingState.DISCOVERED, error=exc.message,
                 download_attempts=F("download_attempts") - 1)  # fmt: skip
        return Outcome("failed", exc.message)
    except (NotReady, RateLimited) as exc:
        _release(recording, token, state=RecordingState.DISCOVERED, error=exc.message,
                 download_attempts=F("download_attempts") - 1)  # fmt: skip
        raise RetryLater(exc.message, backoff(attempt, exc.retry_after)) from exc
    except Gone as exc:
        _release(recording, token, state=RecordingState.FAILED, error=exc.message,
                 vendor_state="gone")  # fmt: skip
        return Outcome("failed", exc.message)
    except AudioError as exc:
        message = f"The vendor's file is not playable audio: {exc}"
        _release(recording, token, state=RecordingState.FAILED, error=message)
        return Outcome("failed", message)
    except ConnectorError as exc:
        if exc.permanent or attempt >= settings.DOWNLOAD_MAX_ATTEMPTS:
            message = exc.message if exc.permanent else f"Gave up after {attempt} attempts: {exc}"
            _release(recording, token, state=RecordingState.FAILED, error=message)
            return Outcome("failed", message)
        _release(recording, token, state=RecordingState.DISCOVERED, error=exc.message)
        raise RetryLater(exc.message, backoff(attempt, exc.retry_after)) from exc
    outcome = _finish(recording, token, key, peaks_key, sha256, received, analysis)
    outcome.timings.update(timings)
    if outcome.status == "stored":
        try:
            connector.after_download(ref)
        except ConnectorError as exc:
            # The audio is safe here; the vendor's own clean-up can fail without losing it.
            log.warning("after-download step for recording %s failed: %s", recording.id, exc)
    return outcome


def _extend_claim(recording: Recording, token) -> None:
    Recording.objects.filter(id=recording.id, claim_token=token).update(
        claimed_until=timezone.now() + lease()
    )


def _finish(recording, token, key, peaks_key, sha256, size, analysis) -> Outcome:
    info = analysis.info
    with transaction.atomic():
        finished = Recording.objects.filter(id=recording.id, claim_token=token).update(
            state=RecordingState.AVAILABLE,
            storage_key=key,
            peaks_key=peaks_key,
            sha256=sha256,
            size=size,
            format=info.format,
            channels=info.channels,
            sample_rate=info.sample_rate,
            duration=round(analysis.duration, 3),
            downloaded_at=timezone.now(),
            last_error="",
            claim_token=None,
            claimed_until=None,
        )
    if not finished:
        # We lost the claim (it lapsed and another worker took over, or the row went away).
        current = Recording.objects.filter(id=recording.id).values_list("storage_key", flat=True)
        if key not in current:
            storage.delete(key)
            storage.delete(peaks_key)
        return Outcome("skipped", "Another worker finished this recording.")
    if recording.storage_key and recording.storage_key != key:
        storage.delete(recording.storage_key)
        storage.delete(recording.peaks_key)
    return Outcome("stored", f"{size} bytes, sha256 {sha256[:12]}…")
