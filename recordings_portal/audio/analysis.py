"""One decoding pass over a stored recording: its real duration and its waveform peaks.

The player draws the waveform from these peaks, so the browser never decodes a whole call.
At most 50 peaks a second and at most MAX_PEAKS per channel keep a 30-minute call's peaks
under 50 KB of JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .decode import AudioError, StreamInfo, blocks, open_audio, stream_info

MAX_PEAKS = 8000
PEAKS_PER_SECOND = 50


@dataclass(frozen=True)
class Analysis:
    info: StreamInfo
    duration: float  # seconds of decoded audio
    peaks: dict  # {"samples_per_peak", "sample_rate", "channels": [[0..255], ...]}


def samples_per_peak(sample_rate: int, expected_seconds: float | None) -> int:
    finest = max(1, sample_rate // PEAKS_PER_SECOND)
    if not expected_seconds:
        return finest
    return max(finest, math.ceil(expected_seconds * sample_rate / MAX_PEAKS))


def analyse(path: Path | str) -> Analysis:
    with open_audio(path) as container:
        info = stream_info(container)
        stream = container.streams.audio[0]
        expected = float(stream.duration * stream.time_base) if stream.duration else None
        if expected is None and container.duration:
            expected = container.duration / 1_000_000
        step = samples_per_peak(info.sample_rate, expected)
        pending = np.zeros((info.channels, 0), dtype=np.float32)
        peaks: list[np.ndarray] = []
        total = 0
        for block in blocks(container):
            total += block.shape[1]
            pending = np.concatenate([pending, block], axis=1) if pending.size else block
            whole = pending.shape[1] // step
            if whole:
                cut = whole * step
                chunk = np.abs(pending[:, :cut]).reshape(info.channels, whole, step)
                peaks.append(chunk.max(axis=2))
                pending = pending[:, cut:]
        if pending.shape[1]:
            peaks.append(np.abs(pending).max(axis=1, keepdims=True))
    if total == 0:
        raise AudioError("The file decodes to no audio at all.")
    levels = np.concatenate(peaks, axis=1) if peaks else np.zeros((info.channels, 0))
    scaled = np.clip(np.round(levels * 255), 0, 255).astype(np.uint8)
    return Analysis(
        info=info,
        duration=total / info.sample_rate,
        peaks={
            "samples_per_peak": step,
            "sample_rate": info.sample_rate,
            "channels": [row.tolist() for row in scaled],
        },
    )
