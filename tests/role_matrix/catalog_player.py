"""The recording page, its audio, download and waveform: browse for the page, play for the rest."""

import io
import json
import wave

from . import Page

BROWSERS = frozenset({"supervisor", "compliance", "admin"})  # browse and play; auditors neither


def a_playable_recording():
    """An available recording with a tiny real WAV and its peaks in storage (no PyAV needed)."""
    from django.utils import timezone

    from recordings_portal.catalog import storage
    from recordings_portal.catalog.models import Recording, RecordingState
    from recordings_portal.vendors.models import VendorAccount

    account, _ = VendorAccount.objects.get_or_create(
        name="Matrix player", defaults={"kind": "flyflow", "base_url": "https://api.flyflow.dev/v1"}
    )
    recording, _ = Recording.objects.get_or_create(account=account, external_id="matrix-1")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\x00\x10" * 8000)
    key = f"recordings/{account.pk}/{recording.pk}/matrix.wav"
    storage.write_bytes(key, buffer.getvalue())
    peaks = {"samples_per_peak": 160, "sample_rate": 8000, "channels": [[32] * 50]}
    storage.write_bytes(f"{key}.peaks.json", json.dumps(peaks).encode())
    Recording.objects.filter(pk=recording.pk).update(
        state=RecordingState.AVAILABLE,
        storage_key=key,
        peaks_key=f"{key}.peaks.json",
        format="wav",
        channels=1,
        size=len(buffer.getvalue()),
        duration=1.0,
        downloaded_at=timezone.now(),
    )
    return recording.pk


RECORDING = (("pk", a_playable_recording),)

PAGES = {
    "catalog:detail": Page(allowed=BROWSERS, kwargs=RECORDING),
    "catalog:stream": Page(allowed=BROWSERS, kwargs=RECORDING),
    # Asked by nginx's auth_request, which wants 401/403 rather than a redirect to sign in;
    # off (404) unless MEDIA_AUTH_REQUEST_SECONDS is set. tests/catalog/test_nginx.py.
    "catalog:stream_authorisation": Page(public=True, kwargs=RECORDING),
    "catalog:download": Page(allowed=BROWSERS, kwargs=RECORDING),
    "catalog:peaks": Page(allowed=BROWSERS, kwargs=RECORDING),
}
