"""Decoding any supported file into float32 blocks of shape (channels, samples)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

BLOCK_SAMPLES = 1 << 16
SCALE = {"s16": 32768.0, "s16p": 32768.0, "s32": 2147483648.0, "s32p": 2147483648.0}
CONTAINER_FORMATS = {"mp3": "mp3", "wav": "wav", "ogg": "opus", "opus": "opus"}


class AudioError(Exception):
    """The file is not audio we can read; the message says what is wrong."""


@dataclass(frozen=True)
class StreamInfo:
    format: str  # mp3, wav, opus, ... (our name, from the container)
    codec: str
    channels: int
    sample_rate: int
    bit_rate: int | None


def open_audio(path: Path | str):
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise AudioError(f"Not a readable audio file: {exc}") from exc
    if not container.streams.audio:
        container.close()
        raise AudioError("The file has no audio stream.")
    return container


def stream_info(container) -> StreamInfo:
    stream = container.streams.audio[0]
    names = container.format.name.split(",")
    fmt = next((CONTAINER_FORMATS[n] for n in names if n in CONTAINER_FORMATS), names[0])
    return StreamInfo(
        format=fmt,
        codec=stream.codec_context.name,
        channels=stream.codec_context.channels,
        sample_rate=stream.codec_context.sample_rate,
        bit_rate=stream.codec_context.bit_rate or container.bit_rate or None,
    )


def as_float(raw: np.ndarray, sample_format, channels: int) -> np.ndarray:
    """Decoded samples as float32 in [-1, 1], shape (channels, samples)."""
    if not sample_format.is_planar:
        raw = raw.reshape(-1, channels).T
    scale = SCALE.get(sample_format.name)
    # C order: packed samples arrive interleaved; per-channel work must not stride across them.
    data = raw.astype(np.float32, order="C")
    return data / scale if scale else data


def blocks(container, min_samples: int = BLOCK_SAMPLES) -> Iterator[np.ndarray]:
    """The decoded audio in float32 blocks of at least `min_samples` (the last may be shorter).

    Frames are a thousand samples or so; converting each on its own costs more than decoding
    it, so raw frames are gathered and converted a block at a time.
    """
    stream = container.streams.audio[0]
    pending, count, sample_format, channels = [], 0, None, 0
    try:
        for frame in container.decode(stream):
            if sample_format is None:
                sample_format, channels = frame.format, len(frame.layout.channels)
            pending.append(frame.to_ndarray())
            count += frame.samples
            if count >= min_samples:
                yield as_float(np.concatenate(pending, axis=1), sample_format, channels)
                pending, count = [], 0
    except av.FFmpegError as exc:
        raise AudioError(f"The audio could not be decoded: {exc}") from exc
    if pending:
        yield as_float(np.concatenate(pending, axis=1), sample_format, channels)
