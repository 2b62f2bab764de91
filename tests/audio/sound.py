"""Measuring decoded audio in tests, independently of the code under test."""

import av
import numpy as np

from recordings_portal.audio.masking import BEEP_AMPLITUDE
from recordings_portal.simulators.audio import AudioLibrary, AudioSpec

LIBRARY = AudioLibrary()
FORMATS = [
    AudioSpec(fmt, channels, rate, 12)
    for fmt in ("mp3", "wav", "opus")
    for channels in (1, 2)
    for rate in (8000, 16000)
]


def source(fmt="mp3", channels=2, rate=8000, seconds=12):
    return LIBRARY.get(AudioSpec(fmt, channels, rate, seconds)).path


def decode(path):
    """All samples as float32 (channels, n) and the decoded rate."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        frames = [frame.to_ndarray() for frame in container.decode(stream)]
        channels = stream.codec_context.channels
        rate = stream.codec_context.sample_rate
        name = stream.codec_context.format.name
    planar = np.concatenate(frames, axis=1)
    if planar.shape[0] != channels:  # packed samples
        planar = planar.reshape(-1, channels).T
    scale = 32768.0 if name.startswith("s16") else 1.0
    return planar.astype(np.float32) / scale, rate


def tone_fraction(samples, rate, hz=1000, band=50):
    """Share of the energy within `band` Hz of `hz` (Hann-windowed spectrum)."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size))) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / rate)
    return spectrum[np.abs(freqs - hz) <= band].sum() / max(spectrum.sum(), 1e-20)


def rms(samples):
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def beep_rms():
    return BEEP_AMPLITUDE / np.sqrt(2)


def similarity(a, b):
    """Correlation of two equally long stretches (1.0: the same sound)."""
    return float(np.dot(a, b) / np.sqrt(max(np.dot(a, a) * np.dot(b, b), 1e-20)))


def stretch(samples, rate, start, end):
    return samples[..., round(start * rate) : round(end * rate)]
