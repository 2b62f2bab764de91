"""Real, speech-like call audio for the simulated vendors, generated once and cached on disk.

A call is two parties taking turns: talk bursts of voiced syllables (a pitch with harmonics
under a syllable envelope, plus breath noise) with pauses between turns. Two-party stereo puts
the caller left and the callee right; mono mixes them. Rendering goes window by window, so a
30-minute call never sits whole in memory.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

GENERATOR_VERSION = 1
WINDOW_SECONDS = 30
CONTENT_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "opus": "audio/ogg"}
# Bitrates close to what telephony vendors store.
BITRATES = {("mp3", 8000): 32_000, ("mp3", 16000): 64_000, ("opus", 8000): 16_000}


@dataclass(frozen=True)
class AudioSpec:
    format: str  # mp3, wav or opus
    channels: int  # 1 or 2
    sample_rate: int  # 8000 or 16000
    duration: int  # whole seconds
    voice: int = 0  # which pair of voices and which turns: different content, same shape

    @property
    def key(self) -> str:
        return (
            f"{self.format}-{self.channels}ch-{self.sample_rate}hz-{self.duration}s"
            f"-v{self.voice}-g{GENERATOR_VERSION}"
        )


@dataclass(frozen=True)
class AudioFile:
    spec: AudioSpec
    path: Path
    size: int
    sha256: str
    duration: float  # as a decoder reports it
    content_type: str


def default_cache_dir() -> Path:
    root = os.environ.get("SIMULATOR_AUDIO_CACHE")
    if root:
        return Path(root)
    return Path(__file__).resolve().parents[2] / "data" / "simulator-audio"


class AudioLibrary:
    """Generates each distinct AudioSpec once, keeps it on disk, and answers its real figures."""

    def __init__(self, cache_dir: Path | str | None = None):
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._files: dict[AudioSpec, AudioFile] = {}
        self._locks: dict[AudioSpec, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, spec: AudioSpec) -> AudioFile:
        found = self._files.get(spec)
        if found:
            return found
        with self._guard:
            lock = self._locks.setdefault(spec, threading.Lock())
        with lock:
            if spec not in self._files:
                path = self.cache_dir / f"{spec.key}.{spec.format}"
                if not path.exists():
                    write_atomically(path, lambda target: render(spec, target))
                self._files[spec] = describe(spec, path)
            return self._files[spec]


def write_atomically(path: Path, produce) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=path.suffix, prefix=".tmp-")
    os.close(handle)
    try:
        produce(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def describe(spec: AudioSpec, path: Path) -> AudioFile:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return AudioFile(
        spec=spec,
        path=path,
        size=path.stat().st_size,
        sha256=digest.hexdigest(),
        duration=probe_duration(path),
        content_type=CONTENT_TYPES[spec.format],
    )


def probe_duration(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return container.duration / av.time_base
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.rate


# --- synthesis ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Burst:
    party: int  # 0 caller, 1 callee
    start: int  # sample index
    end: int
    pitch: float  # Hz
    syllable: float  # seconds
    level: float


def plan_bursts(spec: AudioSpec) -> list[Burst]:
    """Who talks when: alternating turns of 0.8-6 s with 0.15-1.2 s pauses."""
    rng = np.random.default_rng([spec.voice, spec.duration, spec.sample_rate, 7])
    pitches = (rng.uniform(95, 140), rng.uniform(170, 240))  # a lower and a higher voice
    rate, total = spec.sample_rate, spec.duration * spec.sample_rate
    bursts, position, party = [], int(rng.uniform(0.2, 0.8) * rate), int(rng.integers(2))
    while position < total:
        length = int(rng.uniform(0.8, 6.0) * rate)
        bursts.append(
            Burst(
                party=party,
                start=position,
                end=min(position + length, total),
                pitch=pitches[party] * rng.uniform(0.92, 1.08),
                syllable=rng.uniform(0.14, 0.3),
                level=rng.uniform(0.25, 0.45),
            )
        )
        position += length + int(rng.uniform(0.15, 1.2) * rate)
        party = 1 - party if rng.random() < 0.85 else party
    return bursts


def render_window(spec: AudioSpec, bursts: list[Burst], start: int, end: int) -> np.ndarray:
    """Samples start..end as float32, shape (2, n): the caller's and the callee's voice."""
    rate = spec.sample_rate
    out = np.zeros((2, end - start), dtype=np.float32)
    noise = np.random.default_rng([spec.voice, start, 11])
    for burst in bursts:
        lo, hi = max(burst.start, start), min(burst.end, end)
        if lo >= hi:
            continue
        t = (np.arange(lo, hi) - burst.start) / rate
        # Pitch wobbles like intonation; the phase is its exact integral, so no clicks.
        wobble_hz, depth = 3.0, burst.pitch * 0.06
        phase = 2 * np.pi * burst.pitch * t - (depth / wobble_hz) * np.cos(
            2 * np.pi * wobble_hz * t
        )
        voiced = np.zeros_like(t)
        for harmonic in range(1, 9):
            if harmonic * burst.pitch * 1.1 >= rate / 2:
                break
            voiced += np.sin(harmonic * phase) / harmonic
        syllables = np.abs(np.sin(np.pi * t / burst.syllable)) ** 0.7
        fade = np.minimum(1.0, np.minimum(t, (burst.end - burst.start) / rate - t) / 0.05)
        breath = noise.normal(0, 0.08, t.size)
        out[burst.party, lo - start : hi - start] = (
            burst.level * syllables * fade * (voiced * 0.5 + breath)
        )
    return out


def render(spec: AudioSpec, target: Path) -> None:
    bursts = plan_bursts(spec)
    layout = "stereo" if spec.channels == 2 else "mono"
    container_format = {"mp3": "mp3", "wav": "wav", "opus": "ogg"}[spec.format]
    codec = {"mp3": "libmp3lame", "wav": "pcm_s16le", "opus": "libopus"}[spec.format]
    with av.open(str(target), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=spec.sample_rate, layout=layout)
        bitrate = BITRATES.get((spec.format, spec.sample_rate))
        if spec.format != "wav":
            stream.bit_rate = bitrate or 24_000
        resampler = av.AudioResampler(
            format=stream.format.name,
            layout=layout,
            rate=spec.sample_rate,
            frame_size=stream.codec_context.frame_size or None,
        )
        total = spec.duration * spec.sample_rate
        window = WINDOW_SECONDS * spec.sample_rate
        pts = 0
        for start in range(0, total, window):
            end = min(start + window, total)
            both = render_window(spec, bursts, start, end)
            samples = both if spec.channels == 2 else both.sum(axis=0, keepdims=True)
            pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(
                pcm.T.reshape(1, -1).copy(), format="s16", layout=layout
            )
            frame.sample_rate = spec.sample_rate
            frame.pts = pts
            pts += end - start
            for converted in resampler.resample(frame):
                container.mux(stream.encode(converted))
        for converted in resampler.resample(None):
            container.mux(stream.encode(converted))
        container.mux(stream.encode(None))
