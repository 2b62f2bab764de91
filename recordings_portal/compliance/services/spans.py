"""Mask spans: validated against the recording, normalised so no two cover the same audio.

A span names a side of the call: "caller" (left channel), "callee" (right) or "both". Spans
are merged per side, then split so the result never overlaps on any channel: what both sides
share becomes a "both" span, the rest stays one-sided. The engine and the player get simple,
sorted, disjoint input whatever a person or a waveform selection sent.
"""

from __future__ import annotations

from recordings_portal.vendors.connectors.base import MaskSpan

from . import Refused

CHANNELS = {"caller": 0, "callee": 1, "both": None}
# A waveform selection dragged to the very end may overshoot the decoded duration a little.
END_TOLERANCE = 0.05
PRECISION = 3  # milliseconds


def _seconds(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Refused(f"{what} is not a number of seconds: {value!r}.") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise Refused(f"{what} is not a number of seconds: {value!r}.")
    return number


def _within(start, end, duration: float, what: str) -> tuple[float, float]:
    start, end = _seconds(start, f"{what} start"), _seconds(end, f"{what} end")
    if start < 0:
        raise Refused(f"{what} starts before the recording ({start:g} s).")
    if end <= start:
        raise Refused(f"{what} must end after it starts ({start:g} s to {end:g} s).")
    if end > duration + END_TOLERANCE:
        raise Refused(f"{what} ends at {end:g} s, after the recording's end ({duration:g} s).")
    return round(start, PRECISION), round(min(end, duration), PRECISION)


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def _intersect(a, b) -> list[tuple[float, float]]:
    found, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            found.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return found


def _subtract(a, b) -> list[tuple[float, float]]:
    found = []
    for start, end in a:
        cursor = start
        for cut_start, cut_end in b:
            if cut_end <= cursor or cut_start >= end:
                continue
            if cut_start > cursor:
                found.append((cursor, cut_start))
            cursor = max(cursor, cut_end)
        if cursor < end:
            found.append((cursor, end))
    return [(s, e) for s, e in found if round(e - s, PRECISION) > 0]


def spans_normalise(raw, *, duration: float, channels: int) -> list[dict]:
    """Checked, merged, disjoint spans as [{"start", "end", "channel"}], sorted by start.

    On a mono recording every span covers "both": a side cannot be told apart there.
    """
    if not isinstance(raw, list):
        raise Refused("Spans must be a list.")
    sides: dict[str, list[tuple[float, float]]] = {"caller": [], "callee": []}
    for number, span in enumerate(raw, start=1):
        if not isinstance(span, dict):
            raise Refused(f"Span {number} is not an object with start, end and channel.")
        channel = span.get("channel") or "both"
        if channel not in CHANNELS:
            raise Refused(f"Span {number}: channel must be caller, callee or both.")
        interval = _within(span.get("start"), span.get("end"), duration, f"Span {number}")
        if channels < 2:
            channel = "both"
        for side in ("caller", "callee"):
            if channel in (side, "both"):
                sides[side].append(interval)
    caller, callee = _union(sides["caller"]), _union(sides["callee"])
    both = _intersect(caller, callee)
    found = [(s, e, "both") for s, e in both]
    found += [(s, e, "caller") for s, e in _subtract(caller, both)]
    found += [(s, e, "callee") for s, e in _subtract(callee, both)]
    return [{"start": s, "end": e, "channel": c} for s, e, c in sorted(found)]


def trim_validate(raw, *, duration: float) -> list[float] | None:
    """[start, end] of the audio to keep, or None to keep it all."""
    if raw in (None, "", []):
        return None
    if not isinstance(raw, list | tuple) or len(raw) != 2:
        raise Refused("Trim must be [start, end] in seconds.")
    start, end = _within(raw[0], raw[1], duration, "The trim")
    if start == 0 and end >= round(duration, PRECISION):
        return None  # keeps everything: no trim
    return [start, end]


def as_mask_spans(spans: list[dict]) -> list[MaskSpan]:
    return [MaskSpan(span["start"], span["end"], CHANNELS[span["channel"]]) for span in spans]


def on_masked_timeline(spans: list[dict], trim: list[float] | None) -> list[dict]:
    """Where the spans lie in the masked file (after a trim), channel as 0, 1 or None."""
    offset, length = (trim[0], trim[1] - trim[0]) if trim else (0.0, float("inf"))
    placed = []
    for span in spans:
        start, end = max(0.0, span["start"] - offset), min(length, span["end"] - offset)
        if end > start:
            placed.append(
                {
                    "start": round(start, PRECISION),
                    "end": round(end, PRECISION),
                    "channel": CHANNELS[span["channel"]],
                }
            )
    return placed


def describe(spans: list[dict]) -> str:
    """ "0:12.5-0:20 caller; 1:03-1:10 both", for pages and the access log."""
    return "; ".join(f"{clock(s['start'])}-{clock(s['end'])} {s['channel']}" for s in spans)


def clock(seconds: float) -> str:
    """1:15, 0:12.5, 1:02:05.25: a time in the call as people write it."""
    whole, millis = divmod(round(seconds * 1000), 1000)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
    return text + (f".{millis:03d}".rstrip("0") if millis else "")


def parse_clock(text: str) -> float:
    """Seconds from "75", "75.5", "1:15", "1:02:05.25"; ValueError when it is none of them."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(parts):
        raise ValueError(text)
    seconds = 0.0
    for part in parts[:-1]:
        if not part.isdigit():
            raise ValueError(text)
        seconds = seconds * 60 + int(part)
    last = float(parts[-1])
    if last < 0 or (len(parts) > 1 and last >= 60):
        raise ValueError(text)
    return seconds * 60 + last if len(parts) > 1 else last
