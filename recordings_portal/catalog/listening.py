"""One `recording.play` access event per listening, not one per Range request.

A browser plays a call as many requests: a metadata probe (Safari asks for `bytes=0-1` first),
the beginning of the file, a look at its end, one request per seek, more as it buffers. The
access log wants one line for "this user listened to this call", so:

    A listening is the run of audio requests one user makes for one recording with no gap
    longer than IDLE_SECONDS. Its first request records `recording.play`; every later one
    only keeps the listening alive. After IDLE_SECONDS of silence, the next request starts a
    new listening and records again.

Why not "every request from byte 0 starts a listening": the probe-then-fetch pair, a preload
followed by the press of play, and a seek back to the start all ask for byte 0 again, and
whether a replay asks at all depends on what the browser still has buffered, so the log would
count browser internals rather than people.

The marker is a cache entry keyed by (user, recording). `cache.add` is atomic on Redis, so
parallel range requests record once. With the per-process LocMemCache (no REDIS_URL), each
web process keeps its own markers: a listening spread over several processes may be recorded
more than once; it is never missed.
"""

from __future__ import annotations

from django.core.cache import cache

from recordings_portal.audit.log import record

IDLE_SECONDS = 30 * 60


def marker_key(user_id: int, recording_id: int) -> str:
    return f"catalog:listening:{user_id}:{recording_id}"


def note_request(request, recording, *, mode: str) -> bool:
    """Call for every authorised audio request; records `recording.play` if a listening starts.

    Returns whether it did. If the event cannot be written the marker is dropped and the error
    raised, so the audio is not served unrecorded and the next request tries again.
    """
    key = marker_key(request.user.pk, recording.pk)
    if not cache.add(key, 1, IDLE_SECONDS):
        cache.touch(key, IDLE_SECONDS)
        return False
    try:
        record(
            "recording.play",
            request=request,
            obj=recording,
            details={"range": request.headers.get("Range", ""), "served_by": mode},
        )
    except BaseException:
        cache.delete(key)
        raise
    return True
