"""Masking: beep over spans of a recording and cut it to a trim, in its own format, in one pass.

decode (float32 blocks) -> a 1 kHz beep replaces each span on its channel(s) -> cut to the trim
-> encode in the source's container, codec, sample rate, channel layout and about its bitrate.
The file streams through in blocks, so an hour-long call never sits in memory, and the output
goes to a temporary name that is renamed to the target only once it is complete.

Check the result with verify_mask.verify_masked() before it replaces anything.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

# The connectors already describe a span this way (vendors that mask on their side take it too).
from recordings_portal.vendors.connectors.base import MaskSpan

from .decode import AudioError, StreamInfo, blocks, open_audio, stream_info

BEEP_HZ = 1000
BEEP_DBFS = -12.0
BEEP_AMPLITUDE = 10 ** (BEEP_DBFS / 20)
FADE_SECONDS = 0.005  # the beep fades in and out inside its span, so its edges do not click
# Span edges are rounded outwards (a masked word must not keep a sliver); this keeps a span
# given in exact samples (1.0 s at 8 kHz) from growing by one through float error.
EDGE_EPSILON = 1e-6
PREFETCH_BLOCKS = 4
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
# PCM that decode.as_float scales to [-1, 1] (8-bit unsigned, say, it does not).
WAV_CODECS = {"pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_mulaw", "pcm_alaw"}
# Ogg Opus stores no bitrate and is VBR, which averages below its target on speech with pauses:
# the measured average is snapped up to the rate it was most likely encoded at.
BITRATE_LADDER = (6_000, 8_000, 12_000, 16_000, 24_000, 32_000, 48_000, 64_000, 96_000,
                  128_000, 160_000, 192_000, 256_000, 320_000)  # fmt: skip
VBR_OVERSHOOT = 0.97
# Below about 20 kb/s libopus codes a stereo input as one channel (its voice threshold is
# 19 kb/s, plus 1 kb/s hysteresis): both channels decode to the same mix, so neither party can
# be masked alone and a one-channel span must beep both.
OPUS_STEREO_BITRATE = 20_000


class MaskRequestError(ValueError):
    """The spans or the trim cannot apply to this recording; the message says why."""


@dataclass(frozen=True)
class Plan:
    """A mask request in samples at the rate the source decodes to."""

    rate: int
    channels: int
    first: int  # keep samples [first, last) of the source
    last: int | None  # None: to the end
    spans: tuple[tuple[int, int, int], ...]  # (channel, start, end): sorted, merged per channel


@dataclass(frozen=True)
class OutputSpec:
    container: str
    codec: str
    rate: int
    layout: str
    bit_rate: int | None
    joint: bool = False  # the codec carries the channels as one mix: spans cover them all


@dataclass(frozen=True)
class MaskResult:
    path: Path
    format: str  # our name: mp3, wav, opus
    codec: str  # the encoder used
    sample_rate: int  # of the encoded stream
    channels: int
    bit_rate: int | None
    duration: float  # seconds of output
    size: int
    spans: list[MaskSpan]  # as applied, one per channel: clamped to the audio, merged
    trim: tuple[float, float]  # as applied, seconds of the source
    seconds: float  # wall time
    notes: list[str]  # what was done differently from the request, and why


# --- the request ------------------------------------------------------------------------


def plan_mask(
    spans: Iterable[MaskSpan],
    trim: tuple[float, float] | None,
    *,
    rate: int,
    channels: int,
    duration: float | None,
    joint: bool = False,
) -> Plan:
    """Check a request against a recording and turn it into samples; refuse what cannot apply.

    `duration` is what the file's header says (None when it says nothing); spans reaching past
    it are not clamped here, because headers can be short of the truth: the decoder ends them.
    """
    first, last = 0, None
    if trim is not None:
        start, end = _seconds(trim[0], "The trim start"), _seconds(trim[1], "The trim end")
        if start < 0:
            raise MaskRequestError(f"The trim starts before the recording ({start:g} s).")
        if end <= start:
            raise MaskRequestError(f"The trim ends ({end:g} s) before it starts ({start:g} s).")
        if duration is not None and start >= duration:
            raise MaskRequestError(
                f"The trim starts at {start:g} s, after the recording's end ({duration:.3f} s)."
            )
        first, last = round(start * rate), round(end * rate)
    per_channel: dict[int, list[tuple[int, int]]] = {channel: [] for channel in range(channels)}
    for number, span in enumerate(spans, 1):
        start, end = _seconds(span.start, f"Span {number}"), _seconds(span.end, f"Span {number}")
        label = f"Span {number} ({start:g} to {end:g} s)"
        if end <= start:
            problem = "is empty" if end == start else "ends before it starts"
            raise MaskRequestError(f"{label} {problem}.")
        if end <= 0 or (duration is not None and start >= duration):
            where = f"0 to {duration:.3f} s" if duration is not None else "the recording"
            raise MaskRequestError(f"{label} lies entirely outside the recording ({where}).")
        chosen = _channels(span.channel, channels, label)
        for channel in range(channels) if joint else chosen:
            low = max(0, math.floor(start * rate + EDGE_EPSILON))
            per_channel[channel].append((low, math.ceil(end * rate - EDGE_EPSILON)))
    merged = []
    for channel, intervals in per_channel.items():
        for low, high in _merge(intervals):
            merged.append((channel, low, high))
    return Plan(rate=rate, channels=channels, first=first, last=last, spans=tuple(merged))


def _seconds(value, what: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise MaskRequestError(f"{what} is not a number of seconds: {value!r}.") from None
    if not math.isfinite(seconds):
        raise MaskRequestError(f"{what} is not a number of seconds: {value!r}.")
    return seconds


def _channels(channel, channels: int, label: str) -> range:
    if channel is None:
        return range(channels)
    if isinstance(channel, bool) or not isinstance(channel, int):
        raise MaskRequestError(f"{label}: channel must be 0, 1 or None, not {channel!r}.")
    if not 0 <= channel < channels:
        which = "a mono recording has only channel 0" if channels == 1 else (
            f"the recording has channels 0 to {channels - 1}"
        )  # fmt: skip
        raise MaskRequestError(f"{label}: there is no channel {channel}; {which}.")
    return range(channel, channel + 1)


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching spans become one, so fades never dip inside a masked stretch."""
    merged: list[list[int]] = []
    for low, high in sorted(intervals):
        if merged and low <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return [(low, high) for low, high in merged]


# --- the beep ---------------------------------------------------------------------------


def beep_over(block: np.ndarray, position: int, plan: Plan) -> None:
    """Replace the planned spans inside a block whose first sample is `position`, in place.

    The tone's phase comes from the absolute sample index, so it runs on unbroken across
    blocks; the block's tone is built once (one arange), only when a span touches it.
    """
    count = block.shape[1]
    fade = max(1, round(FADE_SECONDS * plan.rate))
    index = tone = None
    for channel, start, end in plan.spans:
        low, high = max(start, position), min(end, position + count)
        if low >= high:
            continue
        if tone is None:
            index = np.arange(position, position + count, dtype=np.int64)
            tone = beep(index, plan.rate)
        piece = slice(low - position, high - position)
        at = index[piece]
        envelope = np.minimum(np.minimum(at - start + 1, end - at), fade) / fade
        block[channel, piece] = tone[piece] * envelope.astype(np.float32)


def beep(index: np.ndarray, rate: int) -> np.ndarray:
    # Integer phase (index * f mod rate) stays exact however far into a long call we are.
    phase = (index * BEEP_HZ) % rate
    return (BEEP_AMPLITUDE * np.sin(2 * np.pi / rate * phase)).astype(np.float32)


# --- the pass ---------------------------------------------------------------------------


@dataclass
class Progress:
    """What the decoding side saw: samples decoded, and whether it stopped at the trim end."""

    total: int = 0
    stopped_early: bool = False


def masked_blocks(container, plan: Plan, progress: Progress) -> Iterator[np.ndarray]:
    """The source's blocks, beeped over and cut to the trim."""
    position = 0
    for block in blocks(container):
        count = block.shape[1]
        keep_from = max(plan.first, position)
        keep_to = position + count if plan.last is None else min(plan.last, position + count)
        if keep_from < keep_to:
            beep_over(block, position, plan)
            yield block[:, keep_from - position : keep_to - position]
        position += count
        progress.total = position
        if plan.last is not None and position >= plan.last:
            progress.stopped_early = True  # nothing after the trim is needed: stop decoding
            return


def prefetched(items: Iterator, depth: int = PREFETCH_BLOCKS) -> Iterator:
    """The items of an iterator, produced in a thread while the caller works on earlier ones.

    PyAV releases the GIL while the codecs run, so the decoder (and the NumPy masking) works
    on the next blocks while the encoder, by far the slower half, works on this one.
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((False, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put((False, exc))

    worker = threading.Thread(target=produce, name="mask-decode", daemon=True)
    worker.start()
    try:
        while True:
            more, item = handoff.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        worker.join()


class Encoder:
    """Encodes float blocks (channels, n) at the decoded rate into a file of the given spec."""

    def __init__(self, path: Path, spec: OutputSpec, input_rate: int):
        self.spec, self.input_rate, self.pts = spec, input_rate, 0
        self.container = av.open(str(path), mode="w", format=spec.container)
        try:
            stream = self.container.add_stream(spec.codec, rate=spec.rate, layout=spec.layout)
            context = stream.codec_context
            offered = {f.name for f in context.codec.audio_formats or ()}
            # Float in, when the encoder takes it: no conversion of our float blocks.
            preferred = next((f for f in ("fltp", "flt") if f in offered), None)
            if preferred:
                context.format = preferred
            if spec.bit_rate:
                context.bit_rate = spec.bit_rate
            context.open()  # now frame_size is known (576 for MP3 at 8-24 kHz, 20 ms for Opus)
            self.stream = stream
            self.resampler = av.AudioResampler(
                format=context.format.name,
                layout=spec.layout,
                rate=spec.rate,
                frame_size=context.frame_size or None,
            )
        except BaseException:
            self.container.close()
            raise

    def frames(self, block: np.ndarray) -> list:
        """A block as frames the encoder takes (its format, rate and frame size)."""
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(block, dtype=np.float32), format="fltp", layout=self.spec.layout
        )
        frame.sample_rate = self.input_rate
        frame.pts = self.pts
        self.pts += block.shape[1]
        return self.resampler.resample(frame)

    def encode(self, frames: list) -> None:
        for frame in frames:
            self.container.mux(self.stream.encode(frame))

    def finish(self) -> None:
        self.encode(self.resampler.resample(None))
        self.container.mux(self.stream.encode(None))
        self.container.close()

    def abandon(self) -> None:
        with contextlib.suppress(av.FFmpegError, OSError):  # the file is being thrown away
            self.container.close()


def output_spec(container, info: StreamInfo) -> OutputSpec:
    """How to encode the output: the source's container, codec, rate, layout, about its bitrate."""
    stream = container.streams.audio[0]
    layout = {1: "mono", 2: "stereo"}.get(info.channels) or stream.layout.name
    if info.format == "mp3" and info.codec in ("mp3", "mp3float"):
        return OutputSpec("mp3", "libmp3lame", info.sample_rate, layout, info.bit_rate)
    if info.format == "wav" and info.codec in WAV_CODECS:
        return OutputSpec("wav", info.codec, info.sample_rate, layout, None)
    if info.format == "opus" and info.codec in ("opus", "libopus"):
        bit_rate = vbr_bitrate(info)
        joint = info.channels == 2 and bit_rate is not None and bit_rate < OPUS_STEREO_BITRATE
        return OutputSpec("ogg", "libopus", opus_input_rate(stream), layout, bit_rate, joint)
    raise AudioError(
        f"Masking handles MP3, PCM WAV and Ogg Opus; this file is {info.format} ({info.codec})."
    )


def opus_input_rate(stream) -> int:
    """The rate the Opus file was made from (OpusHead bytes 12-15): decoders always give 48 kHz."""
    head = stream.codec_context.extradata or b""
    rate = int.from_bytes(head[12:16], "little") if len(head) >= 16 else 0
    return rate if rate in OPUS_RATES else 48000


def vbr_bitrate(info: StreamInfo) -> int | None:
    if not info.bit_rate:
        return None
    wanted = info.bit_rate * VBR_OVERSHOOT
    return next((rate for rate in BITRATE_LADDER if rate >= wanted), BITRATE_LADDER[-1])


def declared_duration(container) -> float | None:
    stream = container.streams.audio[0]
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def mask_file(
    source: Path,
    target: Path,
    spans: list[MaskSpan],
    trim: tuple[float, float] | None = None,
) -> MaskResult:
    """Write `source` to `target` with `spans` beeped over and cut to `trim` (source seconds).

    Raises MaskRequestError for a request that cannot apply, AudioError for audio that cannot
    be read or written; either way nothing is left at `target`.
    """
    began = time.perf_counter()
    source, target = Path(source), Path(target)
    if source.resolve() == target.resolve():
        raise MaskRequestError("The masked file must not overwrite its source: verify it first.")
    with open_audio(source) as container:
        info, spec, plan = prepare(container, spans, trim)
        handle, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
        os.close(handle)
        try:
            written = _transcode(container, Path(temporary), spec, plan, info.sample_rate)
            _check_ends(plan, written)
            with open(temporary, "rb+") as output:
                os.fsync(output.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    kept_from = plan.first / plan.rate
    return MaskResult(
        path=target,
        format=info.format,
        codec=spec.codec,
        sample_rate=spec.rate,
        channels=info.channels,
        bit_rate=spec.bit_rate,
        duration=written.samples / plan.rate,
        size=target.stat().st_size,
        spans=[
            MaskSpan(start / plan.rate, min(end, written.total) / plan.rate, channel)
            for channel, start, end in plan.spans
            if start < written.total
        ],
        trim=(kept_from, kept_from + written.samples / plan.rate),
        seconds=time.perf_counter() - began,
        notes=request_notes(spec, spans),
    )


def prepare(container, spans: list[MaskSpan], trim) -> tuple[StreamInfo, OutputSpec, Plan]:
    """The source's stream, how to encode the output, and the request in samples."""
    info = stream_info(container)
    spec = output_spec(container, info)
    plan = plan_mask(
        spans,
        trim,
        rate=info.sample_rate,
        channels=info.channels,
        duration=declared_duration(container),
        joint=spec.joint,
    )
    return info, spec, plan


def request_notes(spec: OutputSpec, spans: list[MaskSpan]) -> list[str]:
    if spec.joint and any(span.channel is not None for span in spans):
        return [
            f"Opus at {spec.bit_rate // 1000} kb/s carries both channels as one mix, so "
            "one-channel spans were beeped on both channels."
        ]
    return []


@dataclass(frozen=True)
class Written:
    samples: int  # output samples, at the decoded rate
    total: int  # source samples decoded (where decoding stopped, if it stopped at the trim end)
    stopped_early: bool


def _transcode(container, temporary: Path, spec: OutputSpec, plan: Plan, rate: int) -> Written:
    progress = Progress()
    try:
        encoder = Encoder(temporary, spec, rate)
    except av.FFmpegError as exc:
        raise AudioError(f"Cannot encode {spec.codec} in {spec.container}: {exc}") from exc

    def prepared() -> Iterator[tuple[int, list]]:
        for block in masked_blocks(container, plan, progress):
            yield block.shape[1], encoder.frames(block)

    # Decoding, masking and framing run in a thread; this one only encodes, the long part.
    samples = 0
    feed = prefetched(prepared())
    try:
        for count, frames in feed:
            encoder.encode(frames)
            samples += count
        encoder.finish()
    except av.FFmpegError as exc:
        encoder.abandon()
        raise AudioError(f"The masked audio could not be encoded: {exc}") from exc
    except BaseException:
        encoder.abandon()
        raise
    finally:
        feed.close()  # stops and joins the decoding thread before the source is closed
    return Written(samples, progress.total, progress.stopped_early)


def _check_ends(plan: Plan, written: Written) -> None:
    """Against the decoded length, which the header may have misstated."""
    if written.total == 0:
        raise AudioError("The file decodes to no audio at all.")
    if written.stopped_early:
        return  # everything past the trim end is cut anyway
    end = written.total / plan.rate
    if plan.first >= written.total:
        raise MaskRequestError(
            f"The trim starts at {plan.first / plan.rate:g} s, after the recording's end "
            f"({end:.3f} s)."
        )
    for channel, start, _ in plan.spans:
        if start >= written.total:
            raise MaskRequestError(
                f"A span on channel {channel} starts at {start / plan.rate:g} s, after the "
                f"recording's end ({end:.3f} s)."
            )
    if written.samples == 0:
        raise AudioError("Nothing is left after the trim.")
