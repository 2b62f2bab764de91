"""A recording's audio: streamed with Range support, downloaded, and its waveform peaks.

Every request is authorised (`catalog.play_recording`), including each Range request a
player makes while seeking. Django streams the bytes itself by default; in production
(MEDIA_ACCEL_REDIRECT_PREFIX set) it only authorises and answers `X-Accel-Redirect`, and nginx
serves the bytes, Range and conditional requests from an `internal` location.

For many listeners, nginx can instead ask `stream_authorisation` before serving the audio
location itself (auth_request) and reuse a yes for MEDIA_AUTH_REQUEST_SECONDS per session and
recording: nginx then checks every request against that decision at its own speed, and Django
sees one request per session and recording in that time (README, Operations).
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from datetime import UTC, datetime
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.http import http_date
from django.views.decorators.http import require_GET, require_http_methods

from recordings_portal.accounts.roles import capability
from recordings_portal.audit.log import record

from .. import listening, ranges, storage
from ..models import Recording, RecordingState

log = logging.getLogger(__name__)

CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "opus": "audio/ogg",  # Opus in an Ogg container, as the vendors deliver it
    "ogg": "audio/ogg",
    "m4a": "audio/mp4",
    "flac": "audio/flac",
    "webm": "audio/webm",
}
# Authorised media: the browser may keep it but must ask again before each use, so a revoked
# permission or a masked replacement takes effect at once; never stored by shared caches.
CACHE_CONTROL = "private, no-cache"
CHUNK_BYTES = 64 * 1024
MAX_FILENAME_CHARS = 150


# What serving needs, and no more: a player makes many requests, and a row's vendor metadata
# can be large.
SERVING_FIELDS = (
    "state", "storage_key", "peaks_key", "format", "size", "sha256", "downloaded_at",
    "external_id", "vendor_call_id", "started_at", "account__name",
)  # fmt: skip


def playable_or_404(pk: int) -> Recording:
    rows = Recording.objects.select_related("account").only(*SERVING_FIELDS)
    recording = get_object_or_404(rows, pk=pk)
    if not recording.playable:
        raise Http404("This recording has no audio to play.")
    return recording


# --- views -------------------------------------------------------------------------------


@capability("catalog.play_recording")
@require_http_methods(["GET", "HEAD"])
def stream(request, pk: int):
    recording = playable_or_404(pk)
    return _serve(request, recording, disposition="inline", audit=_audit_listening)


@capability("catalog.play_recording")
@require_http_methods(["GET", "HEAD"])
def download(request, pk: int):
    recording = playable_or_404(pk)
    return _serve(request, recording, disposition="attachment", audit=_audit_download)


@login_not_required  # nginx's auth_request wants 401, not a redirect to the sign-in page
@require_http_methods(["GET", "HEAD"])
def stream_authorisation(request, pk: int):
    """May this session play this recording? Asked by nginx (auth_request), never a browser.

    200 with `X-Media-File` (the file under MEDIA_ROOT) and `X-Accel-Expires` (how long nginx
    may reuse the yes); 200 without a file when there is nothing to play (nginx answers 404);
    401 signed out; 403 not allowed. Only yeses are cacheable: a refusal is asked again.
    """
    seconds = settings.MEDIA_AUTH_REQUEST_SECONDS
    if seconds <= 0:
        raise Http404("Media authorisation for nginx is not enabled.")
    if not request.user.is_authenticated:
        return HttpResponse(status=401)
    if not request.user.has_perm("catalog.play_recording"):
        return HttpResponse(status=403)
    response = HttpResponse()
    rows = Recording.objects.select_related("account").only(*SERVING_FIELDS)
    recording = rows.filter(pk=pk).first()
    if recording is None or not recording.playable or not _in_storage(recording.storage_key):
        response["X-Accel-Expires"] = "0"
        return response
    listening.note_request(request, recording, mode="nginx auth_request")
    response["X-Media-File"] = recording.storage_key
    response["X-Accel-Expires"] = str(seconds)
    return response


@capability("catalog.play_recording")
@require_GET
def peaks(request, pk: int):
    """The precomputed waveform peaks the player draws (JSON, as the download task wrote it)."""
    recording = playable_or_404(pk)
    try:
        data = storage.read_bytes(recording.peaks_key) if recording.peaks_key else None
    except (FileNotFoundError, storage.StorageError):
        data = None
    if data is None:
        raise Http404("This recording has no waveform.")
    response = HttpResponse(data, content_type="application/json")
    response["Cache-Control"] = CACHE_CONTROL
    return response


def _in_storage(key: str) -> bool:
    try:
        storage.path(key)  # refuses a key that would leave the storage root
    except storage.StorageError:
        return False
    return True


# --- access events -----------------------------------------------------------------------


def _audit_listening(request, recording, first: int, mode: str) -> None:
    listening.note_request(request, recording, mode=mode)


def _audit_download(request, recording, first: int, mode: str) -> None:
    # A download manager's resumed or parallel requests (ranges not starting at byte 0) are
    # the same download: one event, for the request that fetches the beginning.
    if first == 0:
        details = {"range": request.headers.get("Range", ""), "served_by": mode}
        record("recording.download", request=request, obj=recording, details=details)


# --- serving -----------------------------------------------------------------------------


def _serve(request, recording: Recording, *, disposition: str, audit) -> HttpResponse:
    if settings.MEDIA_ACCEL_REDIRECT_PREFIX:
        return _accel_redirect(request, recording, disposition, audit)
    try:
        handle = storage.path(recording.storage_key).open("rb")
    except (FileNotFoundError, storage.StorageError):
        log.warning("Recording %s is playable but its file is missing.", recording.pk)
        raise Http404("The audio file is missing.") from None
    try:
        status = os.fstat(handle.fileno())
        etag = f'"{recording.sha256}"' if recording.sha256 else None
        modified = _last_modified(recording, status.st_mtime)
        plan = ranges.plan(request.method, request.headers, status.st_size, etag, modified)
        if plan.status in (200, 206, 304) and request.method == "GET":
            audit(request, recording, plan.first, "django")
        if plan.sends_body and request.method == "GET":
            response = _SpanResponse(_Span(handle, plan.first, plan.length), status=plan.status)
            handle = None  # the response closes it
        elif plan.status == 304:
            # Streaming, so no Content-Length: 0 is added to a 304 (RFC 9110 §15.4.5).
            response = StreamingHttpResponse((), status=304)
        else:
            response = HttpResponse(status=plan.status)
    finally:
        if handle is not None:
            handle.close()
    if plan.status in (200, 206, 304):
        if etag:
            response["ETag"] = etag
        if modified is not None:
            response["Last-Modified"] = http_date(modified.timestamp())
    if plan.sends_body:
        response["Content-Length"] = str(plan.length)  # for HEAD too: what GET would send
    if plan.content_range:
        response["Content-Range"] = plan.content_range
    if plan.status in (200, 206, 304):
        _common_headers(response, recording, disposition)
    else:  # 412, 416: no audio in the body
        response["Accept-Ranges"] = "bytes"
        response["Cache-Control"] = CACHE_CONTROL
    return response


def _accel_redirect(request, recording: Recording, disposition: str, audit) -> HttpResponse:
    """Authorised: let nginx serve the bytes (and Range, and If-*) from its internal location."""
    try:
        storage.path(recording.storage_key)  # refuses a key that would leave the storage root
    except storage.StorageError:
        raise Http404("The audio file is missing.") from None
    if request.method == "GET":
        size = recording.size or 0  # the download task records it; only suffix ranges need it
        audit(request, recording, ranges.first_byte(request.headers.get("Range"), size), "nginx")
    response = HttpResponse()
    prefix = settings.MEDIA_ACCEL_REDIRECT_PREFIX.rstrip("/")
    # nginx expects an escaped URI here (since 1.5.9) and unescapes it to find the file.
    response["X-Accel-Redirect"] = f"{prefix}/{quote(recording.storage_key)}"
    _common_headers(response, recording, disposition)
    return response


def _common_headers(response: HttpResponse, recording: Recording, disposition: str) -> None:
    response["Content-Type"] = content_type(recording.format)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = CACHE_CONTROL
    response["Content-Disposition"] = content_disposition(disposition, download_filename(recording))


def _last_modified(recording: Recording, mtime: float) -> datetime | None:
    """When the served bytes last changed: the download, or a later replacement of the file
    (masking writes a new file), so the validator changes whenever the bytes do."""
    on_disk = datetime.fromtimestamp(int(mtime), tz=UTC)
    if recording.downloaded_at is None:
        return on_disk
    return max(recording.downloaded_at.replace(microsecond=0), on_disk)


class _Span:
    """`length` bytes of an open file from `first`.

    It exposes fileno() with the file positioned at `first`, so a WSGI server with
    `wsgi.file_wrapper` (gunicorn) sends the span with sendfile(2), Content-Length bytes of it;
    other servers read it in chunks. It has no seek/tell, so nothing measures or rewinds it.
    """

    def __init__(self, handle, first: int, length: int):
        handle.seek(first)
        self._handle, self._left = handle, length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        wanted = self._left if size is None or size < 0 else min(size, self._left)
        data = self._handle.read(wanted)
        self._left -= len(data)
        return data

    def fileno(self) -> int:
        return self._handle.fileno()

    def close(self) -> None:
        self._handle.close()


class _SpanResponse(FileResponse):
    block_size = CHUNK_BYTES

    def set_headers(self, filelike):
        pass  # length, type and disposition come from the plan and the recording


# --- names and types ---------------------------------------------------------------------


def content_type(fmt: str) -> str:
    return CONTENT_TYPES.get((fmt or "").lower(), "application/octet-stream")


def _extension(fmt: str) -> str:
    fmt = (fmt or "").lower()
    return fmt if re.fullmatch(r"[a-z0-9]{1,8}", fmt) else "audio"


def _clean(text: str) -> str:
    """Letters, digits and . _ - only: no path separators, quotes or control characters."""
    text = unicodedata.normalize("NFC", str(text))
    text = "".join(c if c.isalnum() or c in "._-" else "_" for c in text)
    return re.sub(r"_+", "_", text).strip("._-")


def download_filename(recording: Recording) -> str:
    """e.g. `Acme_Flyflow-call-8812-20260114-093012-masked.mp3`, built only from our fields."""
    parts = [recording.account.name, recording.vendor_call_id or recording.external_id]
    if recording.started_at:
        parts.append(timezone.localtime(recording.started_at).strftime("%Y%m%d-%H%M%S"))
    if recording.state == RecordingState.MASKED:
        parts.append("masked")
    stem = "-".join(filter(None, map(_clean, parts)))[:MAX_FILENAME_CHARS] or "recording"
    return f"{stem}.{_extension(recording.format)}"


def content_disposition(disposition: str, filename: str) -> str:
    """RFC 6266: an ASCII `filename` for old clients and the full name as `filename*`."""
    stem, dot, extension = filename.rpartition(".") if "." in filename else (filename, "", "")
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    ascii_stem = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_stem).strip("._-") or "recording"
    fallback = f"{ascii_stem}{dot}{re.sub(r'[^A-Za-z0-9]', '', extension)}"
    encoded = quote(filename, safe="")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
