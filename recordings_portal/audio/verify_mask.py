"""Checking a masked file against its source, by decoding both, before it replaces anything.

What must hold: the format is the source's; the duration is the source's minus the trim, within
one codec frame; inside each masked span (away from its edges by a codec frame) the channel is
the beep at its level and nothing else; everywhere else the audio is the source's within codec
tolerance. Both files stream through in lockstep, so an hour-long call never sits in memory.

Lossy codecs may shift the audio by a few samples (resampling, encoder delay the container did
not fully describe): the shift is found by cross-correlating the first seconds outside the
spans, and every comparison is made at that shift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .decode import AudioError, blocks, open_audio, stream_info
from .masking import BEEP_DBFS, BEEP_HZ, FADE_SECONDS, MaskSpan, Plan, output_spec, prepare

WINDOW_SECONDS = 0.1  # 10 Hz bins: the ±50 Hz band around the beep is 11 of them
MIN_MEASURE_SECONDS = 0.04  # shortest stretch whose spectrum still resolves ±50 Hz
TONE_FRACTION = 0.9  # of a window's energy within ±50 Hz of the beep
TONE_BAND_HZ = 50
LEVEL_TOLERANCE_DB = 3.0
# Outside the spans a 0.1 s window has changed when the difference is louder than this share
# of the source (re-encoding leaves at most about a third on the simulators' speech at the
# lowest bitrates) and louder than -30 dBFS (codec noise in near-silence is below that).
CHANGE_RATIO = 0.75
CHANGE_FLOOR = 10 ** (-30 / 20)
LAG_SECONDS = 20
CHUNK_WINDOWS = 64
REPORTED_PLACES = 3
# One codec frame at the decoded rate: MP3 (MPEG-2/2.5 below 32 kHz), Opus (20 ms at 48 kHz).
FRAME_SAMPLES = {"mp3": lambda rate: 1152 if rate >= 32000 else 576, "opus": lambda rate: 960}


@dataclass
class Verification:
    ok: bool
    reasons: list[str]  # why not, in words a compliance officer can act on
    figures: dict = field(default_factory=dict)


def verify_masked(
    source: Path,
    masked: Path,
    spans: list[MaskSpan],
    trim: tuple[float, float] | None = None,
) -> Verification:
    """Whether `masked` is `source` with `spans` beeped over and cut to `trim`, and why not."""
    with open_audio(source) as original, open_audio(masked) as output:
        info, spec, plan = prepare(original, spans, trim)
        got = stream_info(output)
        try:  # for Opus, the rate it was encoded from (decoders always give 48 kHz)
            encoded_rate = output_spec(output, got).rate
        except AudioError:
            encoded_rate = None
        if (got.format, got.codec, got.channels, encoded_rate) != (
            info.format, info.codec, info.channels, spec.rate
        ):  # fmt: skip
            return Verification(False, [
                f"The masked file is {got.format} ({got.codec}), {got.channels} channel(s) "
                f"at {encoded_rate or got.sample_rate} Hz; the source is {info.format} "
                f"({info.codec}), {info.channels} channel(s) at {spec.rate} Hz."
            ], {})  # fmt: skip
        frame = FRAME_SAMPLES.get(info.format, lambda rate: 1)(plan.rate)
        check = Check(plan, frame, names=party_names(info.channels))
        check.lag = find_lag(source, masked, plan, check)
        check.run(original, output)
    check.figures["bit_rate"] = {"source": info.bit_rate, "masked": got.bit_rate}
    if spec.joint:
        check.figures["joint_channels"] = True
    return Verification(not check.reasons, check.reasons, check.figures)


def party_names(channels: int) -> list[str]:
    if channels == 1:
        return ["the recording"]
    return ["the caller (left)", "the callee (right)"] + [f"channel {n}" for n in range(2, 8)]


class Reader:
    """Exact-size reads of a file's decoded samples, after `offset` (negative: silence first)."""

    def __init__(self, container, offset: int = 0):
        self.blocks = blocks(container)
        self.pending: list[np.ndarray] = []
        self.buffered = 0
        self.channels = container.streams.audio[0].codec_context.channels
        if offset < 0:
            self.pending, self.buffered = [np.zeros((self.channels, -offset), np.float32)], -offset
        self.skip(max(offset, 0))

    def read(self, count: int) -> np.ndarray:
        while self.buffered < count:
            block = next(self.blocks, None)
            if block is None:
                break
            self.pending.append(block)
            self.buffered += block.shape[1]
        joined = np.concatenate(self.pending, axis=1) if self.pending else None
        if joined is None:
            return np.zeros((self.channels, 0), np.float32)
        taken, rest = joined[:, :count], joined[:, count:]
        self.pending, self.buffered = ([rest], rest.shape[1]) if rest.shape[1] else ([], 0)
        return taken

    def skip(self, count: int) -> int:
        skipped = 0
        while count > 0:
            piece = self.read(min(count, 1 << 18)).shape[1]
            if not piece:
                break
            skipped, count = skipped + piece, count - piece
        return skipped


class ToneMeter:
    """Whether a stretch of one channel is the beep: fed in pieces, judged in 0.1 s windows."""

    def __init__(self, rate: int, window: int, label: str, start: int):
        self.rate, self.window, self.label, self.start = rate, window, label, start
        self.pending = np.zeros(0, np.float32)
        self.last = np.zeros(0, np.float32)  # the latest whole window, to right-align the end
        self.seen = self.windows = 0
        self.worst = (1.0, start)  # (fraction, output sample where that window starts)
        self.levels: list[float] = []

    def feed(self, samples: np.ndarray) -> None:
        data = np.concatenate([self.pending, samples]) if self.pending.size else samples
        whole = data.shape[0] // self.window
        if whole:
            cut = whole * self.window
            self._judge(data[:cut].reshape(whole, self.window), self.start + self.seen)
            self.last = data[cut - self.window : cut]
            self.seen += cut
        self.pending = data[whole * self.window :]

    def finish(self) -> None:
        if self.pending.size and self.seen:
            tail = np.concatenate([self.last, self.pending])[-self.window :]
            self._judge(tail[None, :], self.start + self.seen + self.pending.size - self.window)
        elif self.pending.size >= MIN_MEASURE_SECONDS * self.rate:
            self._judge(self.pending[None, :], self.start)

    def _judge(self, windows: np.ndarray, first: int) -> None:
        spectrum = np.abs(np.fft.rfft(windows * np.hanning(windows.shape[1]), axis=1)) ** 2
        freqs = np.fft.rfftfreq(windows.shape[1], 1 / self.rate)
        band = np.abs(freqs - BEEP_HZ) <= TONE_BAND_HZ
        total = np.maximum(spectrum.sum(axis=1), 1e-20)
        fractions = spectrum[:, band].sum(axis=1) / total
        worst = int(np.argmin(fractions))
        if fractions[worst] < self.worst[0]:
            self.worst = (float(fractions[worst]), first + worst * windows.shape[1])
        rms = np.sqrt(np.mean(windows.astype(np.float64) ** 2, axis=1))
        self.levels += (20 * np.log10(np.maximum(rms * np.sqrt(2), 1e-10))).tolist()
        self.windows += windows.shape[0]


class Check:
    """One lockstep pass over the source (from the trim start, at the lag) and the masked file."""

    def __init__(self, plan: Plan, frame: int, names: list[str]):
        self.plan, self.frame, self.names = plan, frame, names
        self.rate = plan.rate
        self.window = max(1, round(WINDOW_SECONDS * self.rate))
        self.lag = 0
        self.reasons: list[str] = []
        self.figures: dict = {}
        fade = round(FADE_SECONDS * self.rate)
        self.inner_guard, self.outer_guard = frame + fade, frame
        # The spans in output samples (the trim start is output sample 0).
        self.spans = [
            (channel, start - plan.first, end - plan.first) for channel, start, end in plan.spans
        ]
        self.meters = [self._meter(channel, start, end) for channel, start, end in self.spans]
        self.sums = np.zeros((plan.channels, 4))  # per channel: source², diff², source·out, out²
        self.changed: list[list[int]] = [[] for _ in range(plan.channels)]  # windows' starts
        self.compared = np.zeros(plan.channels, np.int64)  # samples compared outside the spans

    def _meter(self, channel: int, start: int, end: int):
        """The stretch of a span that must be pure beep: away from each edge by a frame."""
        length = end - start
        shortest = round(MIN_MEASURE_SECONDS * self.rate)
        guard = min(self.inner_guard, max(0, (length - shortest) // 2))
        label = self._span_label(channel, start, end)
        meter = ToneMeter(self.rate, self.window, label, start + guard)
        return channel, start + guard, end - guard, meter

    def _span_label(self, channel: int, start: int, end: int) -> str:
        first = self.plan.first
        return (
            f"The span {(start + first) / self.rate:.2f} to {(end + first) / self.rate:.2f} s "
            f"on {self.names[channel]}"
        )

    def run(self, original, output) -> None:
        plan = self.plan
        # Output sample j is compared with source sample first + lag + j ("reader" index j).
        source = Reader(original, plan.first + self.lag)
        masked = Reader(output)
        limit = None if plan.last is None else plan.last - plan.first - self.lag
        chunk = self.window * CHUNK_WINDOWS
        produced = taken = 0
        while True:
            out = masked.read(chunk)
            if not out.shape[1]:
                break
            wanted = out.shape[1] if limit is None else max(0, min(out.shape[1], limit - taken))
            src = source.read(wanted)
            self._inside(out, produced)
            count = min(out.shape[1], src.shape[1])
            if count:
                self._outside(out[:, :count], src[:, :count], produced)
            produced += out.shape[1]
            taken += src.shape[1]
        taken += source.skip((1 << 62) if limit is None else max(0, limit - taken))
        self._durations(produced, taken + self.lag)
        self._conclude()

    # --- inside the spans -------------------------------------------------------------

    def _inside(self, out: np.ndarray, position: int) -> None:
        end_of_chunk = position + out.shape[1]
        for channel, low, high, meter in self.meters:
            a, b = max(low, position), min(high, end_of_chunk)
            if a < b:
                meter.feed(out[channel, a - position : b - position])

    # --- outside the spans ------------------------------------------------------------

    def _outside(self, out: np.ndarray, src: np.ndarray, position: int) -> None:
        channels, count = out.shape
        keep = np.ones((channels, count), dtype=bool)
        for channel, start, end in self.spans:
            a = max(start - self.outer_guard, position)
            b = min(end + self.outer_guard, position + count)
            if a < b:
                keep[channel, a - position : b - position] = False
        diff = (out - src) * keep
        src_kept = src * keep
        self.sums[:, 0] += np.einsum("ij,ij->i", src_kept, src_kept)
        self.sums[:, 1] += np.einsum("ij,ij->i", diff, diff)
        self.sums[:, 2] += np.einsum("ij,ij->i", src_kept, out * keep)
        self.sums[:, 3] += np.einsum("ij,ij->i", out * keep, out * keep)
        self.compared += keep.sum(axis=1)
        # Window by window (0.1 s on a grid from the output start), so that a beep in the
        # wrong place shows up even in an hour of otherwise perfect audio.
        whole = count // self.window
        if not whole:
            return
        cut = whole * self.window
        shape = (channels, whole, self.window)
        kept = keep[:, :cut].reshape(shape).sum(axis=2)
        diff_power = (diff[:, :cut] ** 2).reshape(shape).sum(axis=2) / np.maximum(kept, 1)
        src_power = (src_kept[:, :cut] ** 2).reshape(shape).sum(axis=2) / np.maximum(kept, 1)
        bad = (kept >= self.window // 2) & (
            diff_power > np.maximum(CHANGE_RATIO**2 * src_power, CHANGE_FLOOR**2)
        )
        for channel, index in zip(*np.nonzero(bad), strict=True):
            self.changed[channel].append(position + int(index) * self.window)

    # --- verdicts ---------------------------------------------------------------------

    def _durations(self, produced: int, wanted: int) -> None:
        """`wanted`: the source's samples from the trim start to the trim end (or its end)."""
        self.figures["duration"] = {
            "expected": wanted / self.rate,
            "masked": produced / self.rate,
            "tolerance": self.frame / self.rate,
        }
        self.figures["lag_samples"] = self.lag
        if abs(produced - wanted) > self.frame:
            self.reasons.append(
                f"The masked file lasts {produced / self.rate:.3f} s; it should last "
                f"{wanted / self.rate:.3f} s (within {self.frame / self.rate:.3f} s)."
            )

    def _conclude(self) -> None:
        spans = []
        for channel, low, high, meter in self.meters:
            meter.finish()
            figure = {
                "channel": channel,
                "start": (low + self.plan.first) / self.rate,
                "end": (high + self.plan.first) / self.rate,
                "windows": meter.windows,
            }
            spans.append(figure)
            if high <= 0 or low >= high or meter.windows == 0:
                figure["measured"] = False  # trimmed away, or too short to resolve the beep
                continue
            fraction, where = meter.worst
            low_db, high_db = min(meter.levels), max(meter.levels)
            figure.update(tone_fraction=round(fraction, 4), level_dbfs=[low_db, high_db])
            if fraction < TONE_FRACTION:
                at = (where + self.plan.first) / self.rate
                self.reasons.append(
                    f"{meter.label} is not only the beep at {at:.2f} s: {fraction:.0%} of "
                    f"the sound is at {BEEP_HZ} Hz (needs {TONE_FRACTION:.0%})."
                )
            elif abs(low_db - BEEP_DBFS) > LEVEL_TOLERANCE_DB or (
                abs(high_db - BEEP_DBFS) > LEVEL_TOLERANCE_DB
            ):
                self.reasons.append(
                    f"{meter.label} beeps at {low_db:.1f} to {high_db:.1f} dBFS; the beep is "
                    f"{BEEP_DBFS:.0f} dBFS (within {LEVEL_TOLERANCE_DB:.0f} dB)."
                )
        self.figures["spans"] = spans
        channels = []
        for channel, places in enumerate(self.changed):
            source_energy, diff_energy, product, out_energy = self.sums[channel]
            correlation = product / np.sqrt(max(source_energy * out_energy, 1e-20))
            snr = 10 * np.log10(max(source_energy, 1e-20) / max(diff_energy, 1e-20))
            channels.append({
                "channel": channel,
                "compared_seconds": int(self.compared[channel]) / self.rate,
                "changed_windows": len(places),
                "correlation": round(float(correlation), 4),
                "snr_db": round(float(snr), 1),
            })  # fmt: skip
            if places:
                times = ", ".join(
                    f"{(p + self.plan.first) / self.rate:.1f} s" for p in places[:REPORTED_PLACES]
                )
                more = f" and {len(places) - REPORTED_PLACES} more" if len(places) > 3 else ""
                self.reasons.append(
                    f"Outside the masked spans, {self.names[channel]} differs from the source "
                    f"in {len(places)} stretch(es) of {WINDOW_SECONDS:g} s, at {times}{more}."
                )
        self.figures["channels"] = channels


def find_lag(source: Path, masked: Path, plan: Plan, check: Check) -> int:
    """How many samples the masked audio runs behind the source (cut to the trim), or 0.

    Cross-correlates the first LAG_SECONDS of both, spans blanked out, within one codec frame
    either way (at least 64 samples: resamplers shift by a few).
    """
    reach = max(check.frame, 64)
    count = LAG_SECONDS * plan.rate
    with open_audio(source) as original, open_audio(masked) as output:
        src = Reader(original, plan.first).read(count)
        out = Reader(output).read(count)
    count = min(src.shape[1], out.shape[1])
    if count < 2 * reach:
        return 0
    src, out = src[:, :count].copy(), out[:, :count].copy()
    for channel, start, end in check.spans:
        a = max(0, start - check.outer_guard - reach)
        b = min(count, end + check.outer_guard + reach)
        if a < b:
            src[channel, a:b] = out[channel, a:b] = 0
    size = 1 << int(np.ceil(np.log2(2 * count)))
    spectrum = (np.fft.rfft(out, size, axis=1) * np.conj(np.fft.rfft(src, size, axis=1))).sum(0)
    correlation = np.fft.irfft(spectrum, size)
    lags = np.concatenate([np.arange(0, reach + 1), np.arange(-reach, 0)])
    values = np.concatenate([correlation[: reach + 1], correlation[-reach:]])
    energy = np.sqrt(float((src**2).sum()) * float((out**2).sum()))
    if energy < 1e-9 or values.max() < 0.3 * energy:
        return 0  # silence, or nothing alike: compare as is and let the checks say so
    # A peak at k: out[j + k] matches src[j], so out[j] is compared with src[j - k].
    return -int(lags[int(np.argmax(values))])
