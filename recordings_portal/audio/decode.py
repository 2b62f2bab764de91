"""Decoding any supported file into float32 blocks of shape (channels, samples)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

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


def as_float(frame) -> np.ndarray:
    """A decoded frame as float32 in [-1, 1], shape (channels, samples)."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not frame.format.is_planar:
        data = data.reshape(-1, channels).T
    scale = SCALE.get(frame.format.name)
    data = data.astype(np.float32)
    return data / scale if scale else data


def blocks(container) -> Iterator[np.ndarray]:
    stream = container.streams.audio[0]
    try:
        for frame in container.decode(stream):
            yield as_float(frame)
    except av.FFmpegError as exc:
        raise AudioError(f"The audio could not be decoded: {exc}") from exc
