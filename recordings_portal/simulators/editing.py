"""Audio edits a vendor performs on its side: trim, beep over masked spans, merge by start time.

Used by the iotcomms simulator for STORERECORDING (modificationParams) and MERGERECORDINGS.
Audio streams through in windows (decode -> NumPy -> encode), so a 30-minute call never sits
whole in memory; the output keeps the source's container, codec, sample rate and channel layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

BEEP_HZ = 1000.0
BEEP_LEVEL = 0.3  # about -10 dBFS: loud enough to be unmistakable, far from clipping
RAMP_SECONDS = 0.005  # the beep fades in and out so its edges do not click
WINDOW_SECONDS = 10
# Decoders name codecs differently from their encoders.
ENCODERS = {"mp3": "libmp3lame", "mp3float": "libmp3lame", "opus": "libopus", "vorbis": "libvorbis"}


@dataclass(frozen=True)
class Mask:
    start: float  # seconds from the start of the source
    end: float
    channel: int | None = None  # 0 left (caller), 1 right (callee), None every channel


@dataclass(frozen=True)
class AudioFormat:
    container: str
    codec: str
    rate: int
    layout: str
    bit_rate: int | None

    @property
    def channels(self) -> int:
        return av.AudioLayout(self.layout).nb_channels


def probe(path: Path) -> tuple[AudioFormat, float]:
    """The format to re-encode in, and the duration in seconds as decoded."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        decoder = stream.codec_context.name
        fmt = AudioFormat(
            container=container.format.name.split(",")[0],
            codec=ENCODERS.get(decoder, decoder),
            rate=stream.rate,
            layout={1: "mono", 2: "stereo"}.get(stream.channels, stream.layout.name),
            bit_rate=stream.bit_rate or None,
        )
        samples = sum(frame.samples for frame in container.decode(stream))
    return fmt, samples / fmt.rate


class PcmReader:
    """Float samples (channels, n) of a file, converted to one rate and layout, read in pieces."""

    def __init__(self, path: Path, rate: int, layout: str):
        self.container = av.open(str(path))
        self.resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        self.frames = self.container.decode(self.container.streams.audio[0])
        self.channels = av.AudioLayout(layout).nb_channels
        self.pending: list[np.ndarray] = []
        self.buffered = 0
        self.done = False

    def _fill(self, wanted: int) -> None:
        while self.buffered < wanted and not self.done:
            frame = next(self.frames, None)
            converted = self.resampler.resample(frame)
            if frame is None:
                self.done = True
            for piece in converted:
                array = piece.to_ndarray().reshape(self.channels, -1)
                self.pending.append(array)
                self.buffered += array.shape[1]

    def read(self, count: int) -> np.ndarray:
        """The next `count` samples, padded with silence past the end of the file."""
        self._fill(count)
        out = np.zeros((self.channels, count), dtype=np.float32)
        joined = np.concatenate(self.pending, axis=1) if self.pending else out[:, :0]
        taken = min(count, joined.shape[1])
        out[:, :taken] = joined[:, :taken]
        rest = joined[:, taken:]
        self.pending = [rest] if rest.shape[1] else []
        self.buffered = rest.shape[1]
        return out

    def skip(self, count: int) -> None:
        while count > 0:
            self.read(min(count, 1 << 16))
            count -= 1 << 16

    def close(self) -> None:
        self.container.close()


class PcmWriter:
    """Encodes float windows (channels, n) into a file of the given format."""

    def __init__(self, path: Path, fmt: AudioFormat):
        self.fmt = fmt
        self.container = av.open(str(path), mode="w", format=fmt.container)
        self.stream = self.container.add_stream(fmt.codec, rate=fmt.rate, layout=fmt.layout)
        if fmt.bit_rate and not fmt.codec.startswith("pcm_"):
            self.stream.bit_rate = fmt.bit_rate
        self.resampler = av.AudioResampler(
            format=self.stream.format.name,
            layout=fmt.layout,
            rate=fmt.rate,
            frame_size=self.stream.codec_context.frame_size or None,
        )
        self.pts = 0

    def write(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(np.clip(samples, -1, 1), dtype=np.float32),
            format="fltp",
            layout=self.fmt.layout,
        )
        frame.sample_rate = self.fmt.rate
        frame.pts = self.pts
        self.pts += samples.shape[1]
        self._encode(frame)

    def _encode(self, frame) -> None:
        for converted in self.resampler.resample(frame):
            self.container.mux(self.stream.encode(converted))

    def close(self) -> None:
        self._encode(None)
        self.container.mux(self.stream.encode(None))
        self.container.close()


def beep_over(window: np.ndarray, first: int, rate: int, masks: list[Mask]) -> None:
    """Replace masked spans of a window whose first sample is `first` (in place)."""
    count = window.shape[1]
    ramp = max(1, int(RAMP_SECONDS * rate))
    for mask in masks:
        start, end = round(mask.start * rate), round(mask.end * rate)
        lo, hi = max(start, first), min(end, first + count)
        if lo >= hi:
            continue
        index = np.arange(lo, hi)
        envelope = np.minimum(1.0, np.minimum(index - start + 1, end - index) / ramp)
        tone = (BEEP_LEVEL * envelope * np.sin(2 * np.pi * BEEP_HZ * index / rate)).astype(
            np.float32
        )
        rows = slice(None) if mask.channel is None else mask.channel
        window[rows, lo - first : hi - first] = tone


def edit(
    source: Path,
    target: Path,
    *,
    trim: tuple[float, float] | None = None,
    masks: list[Mask] = (),
) -> float:
    """Write source to target, cut to `trim` and beeped over `masks` (seconds of the source).

    A mask on a channel the file does not have (a caller mask on a mono file) beeps the only
    channel: one cannot silence one party of a mixed recording. Returns the output duration.
    """
    fmt, duration = probe(source)
    start, end = trim if trim else (0.0, duration)
    start, end = max(0.0, start), min(end, duration)
    first, total = round(start * fmt.rate), round((end - start) * fmt.rate)
    shifted = [
        Mask(m.start - start, m.end - start, m.channel if (m.channel or 0) < fmt.channels else None)
        for m in masks
    ]
    reader, writer = PcmReader(source, fmt.rate, fmt.layout), PcmWriter(target, fmt)
    try:
        reader.skip(first)
        window = WINDOW_SECONDS * fmt.rate
        for position in range(0, total, window):
            samples = reader.read(min(window, total - position))
            beep_over(samples, position, fmt.rate, shifted)
            writer.write(samples)
    finally:
        reader.close()
        writer.close()
    return total / fmt.rate


def merge(
    parts: list[tuple[Path, float]],
    target: Path,
    *,
    exclusive: list[tuple[float, float]] = (),
) -> float:
    """Mix files placed at offsets (seconds) into one, in the format of the earliest part.

    During `exclusive` spans (in the offsets' time base; conference periods, when every leg
    hears the same audio) only the earliest-starting part that has audio then is kept, so
    the conference is not heard twice. Returns the output duration.
    """
    ordered = sorted(parts, key=lambda part: part[1])
    base = ordered[0][1]
    fmt, _ = probe(ordered[0][0])
    spans = []
    for path, offset in ordered:
        _, length = probe(path)
        first = round((offset - base) * fmt.rate)
        spans.append((first, first + round(length * fmt.rate)))
    total = max(end for _, end in spans)
    readers = [PcmReader(path, fmt.rate, fmt.layout) for path, _ in ordered]
    writer = PcmWriter(target, fmt)
    try:
        window = WINDOW_SECONDS * fmt.rate
        for position in range(0, total, window):
            count = min(window, total - position)
            index = np.arange(position, position + count)
            covers = np.array([(index >= lo) & (index < hi) for lo, hi in spans])
            conference = np.zeros(count, dtype=bool)
            for lo, hi in exclusive:
                conference |= (index >= round((lo - base) * fmt.rate)) & (
                    index < round((hi - base) * fmt.rate)
                )
            earliest = np.argmax(covers, axis=0)  # parts are sorted by start time
            mixed = np.zeros((fmt.channels, count), dtype=np.float32)
            for number, (reader, (lo, hi)) in enumerate(zip(readers, spans, strict=True)):
                if hi <= position or lo >= position + count:
                    continue
                begin, stop = max(lo, position), min(hi, position + count)
                samples = np.zeros((fmt.channels, count), dtype=np.float32)
                samples[:, begin - position : stop - position] = reader.read(stop - begin)
                keep = ~conference | (earliest == number)
                mixed += samples * keep
            writer.write(mixed)
    finally:
        for reader in readers:
            reader.close()
        writer.close()
    return total / fmt.rate
