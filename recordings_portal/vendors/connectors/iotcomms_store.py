"""What STORERECORDING is told: the stored file's key and the modifications to make.

Document quirks handled:
- the REST text names the default file <date>-<recordingId>.mp3, the queue text ".mp3" (its
  placeholder lost): the portal names the file itself, in the REST layout.
- modificationParams' units disagree: relative times are "in ms" (REST) or "in seconds"
  (queue); absolute ones a "Unix Timestamp" (REST text) but milliseconds in every example and
  in the queue text. Absolute milliseconds, anchored on the recording's startTime, are the one
  reading both sections' examples share, so they are sent; relative milliseconds (the REST
  reading) only when the start is unknown.
- `mask` is {from, to} (REST, no party) or {caller: [...], callee: [...]} (queue): the latter,
  the only one that can mask one party.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .base import ConnectorError, MaskSpan, RecordingRef

SAFE_KEY = re.compile(r"[^A-Za-z0-9._-]")
PARTIES = {0: ("caller",), 1: ("callee",), None: ("caller", "callee")}


def stored_key(ref: RecordingRef) -> str:
    """The bucket key: the document's default name, <date>-<recordingId>.mp3 (as its tempKey
    sample, 230331-83c7a360-....mp3), the date the recording's start in UTC."""
    name = SAFE_KEY.sub("_", ref.external_id)
    start = ref.metadata.get("startTime")
    if isinstance(start, int) and start > 0:
        return f"{datetime.fromtimestamp(start / 1000, UTC):%y%m%d}-{name}.mp3"
    return f"{name}.mp3"


def modification_params(
    spans: list[MaskSpan], trim: tuple[float, float] | None, start_ms: object
) -> dict:
    """STORERECORDING's modificationParams for spans in seconds from the recording's start."""
    absolute = isinstance(start_ms, int) and not isinstance(start_ms, bool) and start_ms > 0
    origin = start_ms if absolute else 0

    def at(seconds: float) -> int:
        return origin + round(seconds * 1000)

    def interval(start: float, end: float) -> dict:
        if not 0 <= start < end:
            raise ConnectorError(f"Cannot mask or trim {start}-{end} s.", permanent=True)
        return {"from": at(start), "to": at(end)}

    mask: dict[str, list] = {}
    for span in spans:
        if span.channel not in PARTIES:
            raise ConnectorError(f"No party on channel {span.channel}.", permanent=True)
        for party in PARTIES[span.channel]:
            mask.setdefault(party, []).append(interval(span.start, span.end))
    if not mask and trim is None:
        raise ConnectorError("Nothing to mask or trim.", permanent=True)
    params: dict = {"absoluteTimes": absolute}
    if mask:
        params["mask"] = mask
    if trim is not None:
        params["trim"] = interval(*trim)
    return params
