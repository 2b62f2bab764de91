"""STORERECORDING's side of the iotcomms simulator: destination buckets and modificationParams.

A bucket is a directory standing in for the customer's S3-compatible store (our own addition:
the document only names S3 buckets); the simulator serves it over HTTP for the portal.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path, PurePosixPath

from .editing import Mask

# S3's bucket naming rules, which the document's examples (recordingstorage.company.com) follow.
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
EPOCH_MS_FROM = 1e11  # 1973 in ms, 5138 in s: larger absolute times are milliseconds
CHANNELS = {"caller": 0, "callee": 1}  # caller left, callee right


class Buckets:
    def __init__(self, root: Path):
        self.root = root

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, bucket: str, key: str) -> Path | None:
        """Where an object lives, or None when the bucket name or key is not acceptable."""
        parts = PurePosixPath(key).parts
        if not BUCKET_NAME.match(bucket or "") or not key or key.startswith("/"):
            return None
        if any(part in ("..", ".") for part in parts) or len(key) > 1024:
            return None
        return self.root / bucket / Path(*parts)


class ParamsError(ValueError):
    pass


def modifications(
    params: object, *, start_ms: int, duration: float
) -> tuple[tuple[float, float] | None, list[Mask]]:
    """modificationParams as (trim, masks) in seconds from the recording's start.

    The document disagrees with itself, so every reading is accepted:
    - the REST example gives the object as a JSON string; the queue example as an object;
    - relative times are "in ms" (REST) or "in seconds" (queue): when every relative value fits
      within the recording's length in seconds they are seconds, otherwise milliseconds;
    - absolute times are "Unix Timestamp" (REST) or "milliseconds since 1970" (queue, and every
      example): values below 1e11 are taken as epoch seconds, others as epoch milliseconds;
    - mask is {caller: [...], callee: [...]} (queue) or a single {from, to} (REST), the latter
      beeping every channel; a list of intervals where one is expected is fine either way.
    """
    if params is None:
        return None, []
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError as exc:
            raise ParamsError("modificationParams is not valid JSON") from exc
    if not isinstance(params, dict):
        raise ParamsError("modificationParams must be an object")
    absolute = params.get("absoluteTimes", False)
    if not isinstance(absolute, bool):
        raise ParamsError("absoluteTimes must be a boolean")
    spans = []  # (channel or "trim", from, to) as given
    if params.get("trim") is not None:
        spans += [("trim", *bounds) for bounds in intervals(params["trim"], "trim")]
    mask = params.get("mask")
    if isinstance(mask, dict) and not {"from", "to"} & mask.keys():
        unknown = set(mask) - set(CHANNELS)
        if unknown:
            raise ParamsError(f"unknown mask party {sorted(unknown)[0]!r}")
        for party, channel in CHANNELS.items():
            found = intervals(mask.get(party), f"mask.{party}")
            spans += [(channel, *bounds) for bounds in found]
    elif mask is not None:
        spans += [(None, *bounds) for bounds in intervals(mask, "mask")]
    seconds = to_seconds(spans, absolute=absolute, start_ms=start_ms, duration=duration)
    trim, masks = None, []
    for (channel, *_), (lo, hi) in zip(spans, seconds, strict=True):
        if hi <= 0 or lo >= duration:
            raise ParamsError(f"interval {lo:.3f}-{hi:.3f} s is outside the recording")
        lo, hi = max(0.0, lo), min(duration, hi)
        if channel == "trim":
            trim = (lo, hi)
        else:
            masks.append(Mask(lo, hi, channel))
    return trim, masks


def intervals(value: object, name: str) -> list[tuple[float, float]]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    found = []
    for item in items:
        if not isinstance(item, dict):
            raise ParamsError(f"{name} intervals must be objects with from and to")
        lo, hi = item.get("from"), item.get("to")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lo, hi)):
            raise ParamsError(f"{name} needs numeric from and to")
        if lo >= hi:
            raise ParamsError(f"{name}: from must be before to")
        found.append((float(lo), float(hi)))
    return found


def to_seconds(spans, *, absolute: bool, start_ms: int, duration: float):
    if absolute:
        return [
            tuple(
                (v - start_ms) / 1000 if v >= EPOCH_MS_FROM else v - start_ms / 1000
                for v in span[1:]
            )
            for span in spans
        ]
    values = [v for span in spans for v in span[1:]]
    if any(v < 0 for v in values):
        raise ParamsError("relative times cannot be negative")
    # A second of slack: a client rounding the end of a 10.4 s recording up still means seconds.
    scale = 1.0 if all(v <= duration + 1 for v in values) else 1000.0
    return [(lo / scale, hi / scale) for _, lo, hi in spans]
