"""The masking engine, measured on the decoded output of real encoded files."""

import math

import av
import numpy as np
import pytest

from recordings_portal.audio.decode import AudioError
from recordings_portal.audio.masking import (
    BEEP_AMPLITUDE,
    MaskRequestError,
    MaskSpan,
    beep_over,
    mask_file,
    plan_mask,
)
from recordings_portal.audio.verify_mask import verify_masked

from .sound import (
    FORMATS,
    LIBRARY,
    beep_rms,
    decode,
    rms,
    similarity,
    source,
    stretch,
    tone_fraction,
)

EDGE = 0.1  # seconds kept away from span edges, where codecs smear the change
# Opus at 16 kb/s codes a stereo pair as one mix, so a one-channel span beeps both.
JOINT = {("opus", 2, 8000)}


def aligned_similarity(a, b, reach=8):
    """Best correlation within a few samples of shift (resampling moves Opus by a handful)."""
    core = slice(reach, a.size - reach)
    return max(
        similarity(a[core], b[reach + k : b.size - reach + k]) for k in range(-reach, reach + 1)
    )


def assert_beep(samples, rate):
    assert tone_fraction(samples, rate) > 0.95
    assert abs(20 * math.log10(rms(samples) / beep_rms())) < 2  # dB


def assert_untouched(original, masked, rate, start, end, similar=0.95):
    """Every half second of speech is the source's; silence stays (nearly: -34 dBFS) silent."""
    for at in np.arange(start, end - 0.5 + 1e-9, 0.5):
        a, b = stretch(original, rate, at, at + 0.5), stretch(masked, rate, at, at + 0.5)
        if rms(a) > 0.01:
            assert aligned_similarity(a, b) > similar, f"changed at {at:.1f} s"
        else:
            assert rms(b) < 0.02, f"sound added at {at:.1f} s"


@pytest.mark.parametrize("spec", FORMATS, ids=lambda spec: spec.key)
def test_it_beeps_where_asked_and_only_there(spec, tmp_path):
    audio = LIBRARY.get(spec)
    target = tmp_path / f"masked.{spec.format}"
    spans = [MaskSpan(2.0, 3.5, None), MaskSpan(6.0, 7.25, 0)]

    result = mask_file(audio.path, target, spans)

    original, rate = decode(audio.path)
    masked, masked_rate = decode(target)
    assert masked_rate == rate and masked.shape[0] == spec.channels
    for channel in range(spec.channels):
        assert_beep(stretch(masked[channel], rate, 2.0 + EDGE, 3.5 - EDGE), rate)
    assert_beep(stretch(masked[0], rate, 6.0 + EDGE, 7.25 - EDGE), rate)
    joint = (spec.format, spec.channels, spec.sample_rate) in JOINT
    if spec.channels == 2 and joint:
        assert_beep(stretch(masked[1], rate, 6.0 + EDGE, 7.25 - EDGE), rate)
        assert "both channels" in result.notes[0]
    elif spec.channels == 2:  # the callee is left alone while the caller is beeped
        # Stereo Opus at 24 kb/s codes the channels together: about -26 dB of the caller's
        # beep reaches the callee, and the callee's speech stays.
        similar = 0.9 if spec.format == "opus" else 0.95
        assert_untouched(original[1], masked[1], rate, 6.0, 7.0, similar)
        assert not result.notes
    for channel in range(spec.channels):
        assert_untouched(original[channel], masked[channel], rate, 0, 2.0 - EDGE)
        assert_untouched(original[channel], masked[channel], rate, 3.5 + EDGE, 6.0 - EDGE)
        assert_untouched(original[channel], masked[channel], rate, 7.25 + EDGE, 12)
    assert verify_masked(audio.path, target, spans).ok


@pytest.mark.parametrize("spec", FORMATS, ids=lambda spec: spec.key)
def test_it_keeps_the_container_codec_rate_layout_and_bitrate(spec, tmp_path):
    audio = LIBRARY.get(spec)
    target = tmp_path / f"masked.{spec.format}"

    result = mask_file(audio.path, target, [MaskSpan(1, 2, None)])

    with av.open(str(audio.path)) as before, av.open(str(target)) as after:
        old, new = before.streams.audio[0], after.streams.audio[0]
        assert after.format.name == before.format.name
        assert new.codec_context.name == old.codec_context.name
        assert new.codec_context.sample_rate == old.codec_context.sample_rate
        assert new.codec_context.channels == old.codec_context.channels
        if spec.format == "opus":  # decoders give 48 kHz; the file keeps its input rate
            input_rate = int.from_bytes(new.codec_context.extradata[12:16], "little")
            assert input_rate == spec.sample_rate == result.sample_rate
    assert result.format == spec.format and result.channels == spec.channels
    # Same bitrate within what VBR and a beep change: the size tells.
    assert 0.8 < result.size / audio.size < 1.25


@pytest.mark.parametrize(
    ("fmt", "rate", "exact", "similar"),
    # Opus at 16 kHz: at 8 kHz its stereo is one mix, and a one-channel span beeps both.
    [("mp3", 8000, True, 0.95), ("wav", 8000, True, 0.95), ("opus", 16000, False, 0.9)],
    ids=["mp3", "wav", "opus"],
)
def test_it_cuts_to_the_trim_exactly(fmt, rate, exact, similar, tmp_path):
    path = source(fmt, 2, rate)
    target = tmp_path / f"trimmed.{fmt}"

    result = mask_file(path, target, [MaskSpan(4.0, 5.0, 1)], trim=(2.5, 9.25))

    original, rate = decode(path)
    masked, _ = decode(target)
    expected = round(9.25 * rate) - round(2.5 * rate)
    if exact:
        assert masked.shape[1] == expected
    else:
        assert abs(masked.shape[1] - expected) <= 0.02 * rate  # one Opus frame
    assert result.duration == pytest.approx(6.75)
    assert result.trim == pytest.approx((2.5, 9.25))
    # Output time 0 is source time 2.5: speech lines up, the beep sits 1.5 s in.
    kept = stretch(original, rate, 2.5, 9.25)
    assert rms(kept[:, : round(1.5 * rate)]) > 0.02  # there is speech to line up
    assert_untouched(kept[0], masked[0], rate, 0, 6.75, similar)
    assert_untouched(kept[1], masked[1], rate, 0, 1.5 - EDGE, similar)
    assert_untouched(kept[1], masked[1], rate, 2.5 + EDGE, 6.75, similar)
    assert_beep(stretch(masked[1], rate, 1.5 + EDGE, 2.5 - EDGE), rate)
    assert verify_masked(path, target, [MaskSpan(4.0, 5.0, 1)], trim=(2.5, 9.25)).ok


def test_it_masks_the_caller_and_leaves_the_callee_untouched(tmp_path):
    path = source("mp3", 2, 16000)
    target = tmp_path / "caller.mp3"

    mask_file(path, target, [MaskSpan(3.0, 9.0, 0)])

    original, rate = decode(path)
    masked, _ = decode(target)
    assert_beep(stretch(masked[0], rate, 3.0 + EDGE, 9.0 - EDGE), rate)
    assert_untouched(original[1], masked[1], rate, 0, 12)


def test_its_beep_is_a_continuous_sine_across_blocks(tmp_path):
    """WAV is lossless, so the beep can be checked sample by sample, across a block edge."""
    path = source("wav", 1, 8000)
    target = tmp_path / "beep.wav"

    mask_file(path, target, [MaskSpan(7.0, 10.0, None)])  # decoding blocks end at 8.192 s

    masked, rate = decode(target)
    start, end = 7 * rate, 10 * rate
    fade = round(0.005 * rate)
    index = np.arange(start + fade, end - fade)
    ideal = BEEP_AMPLITUDE * np.sin(2 * np.pi * 1000 * index / rate)
    assert np.abs(masked[0, start + fade : end - fade] - ideal).max() < 2 / 32768
    # The fades stay inside the span: beep from its first sample to its last.
    assert np.abs(masked[0, start]) <= BEEP_AMPLITUDE / fade + 1 / 32768
    assert np.abs(masked[0, start : start + fade]).max() > 0.5 * BEEP_AMPLITUDE


def test_it_beeps_a_block_in_place_with_one_tone():
    plan = plan_mask([MaskSpan(0.5, 1.5, 1)], None, rate=8000, channels=2, duration=2.0)
    block = np.ones((2, 8000), dtype=np.float32)  # samples 8000..15999: 1.0 to 2.0 s

    beep_over(block, 8000, plan)

    assert np.all(block[0] == 1.0)
    assert np.all(block[1, 4000:] == 1.0)
    assert tone_fraction(block[1, 40:3960], 8000) > 0.99


def test_it_merges_overlapping_spans_per_channel():
    spans = [MaskSpan(2, 4, None), MaskSpan(3, 5, 0), MaskSpan(5, 6, 0), MaskSpan(8, 9, 1)]

    plan = plan_mask(spans, None, rate=8000, channels=2, duration=12)

    assert plan.spans == ((0, 16000, 48000), (1, 16000, 32000), (1, 64000, 72000))


def test_it_clamps_spans_that_run_over_the_ends(tmp_path):
    path = source("mp3", 1, 8000)

    result = mask_file(path, tmp_path / "out.mp3", [MaskSpan(-1, 1, None), MaskSpan(11, 20, 0)])

    assert [(span.start, span.end, span.channel) for span in result.spans] == [
        (0.0, 1.0, 0),
        (11.0, 12.0, 0),
    ]
    assert result.duration == pytest.approx(12.0)


@pytest.mark.parametrize(
    ("spans", "trim", "channels", "message"),
    [
        ([MaskSpan(5, 5, None)], None, 2, r"Span 1 \(5 to 5 s\) is empty"),
        (
            [MaskSpan(1, 2, 0), MaskSpan(6, 5, None)],
            None,
            2,
            r"Span 2 \(6 to 5 s\) ends before it starts",
        ),
        ([MaskSpan(12.5, 14, None)], None, 2, "entirely outside"),
        ([MaskSpan(-3, -1, None)], None, 2, "entirely outside"),
        ([MaskSpan(1, 2, 2)], None, 2, "no channel 2"),
        ([MaskSpan(1, 2, 1)], None, 1, "mono recording has only channel 0"),
        ([MaskSpan(1, 2, True)], None, 2, "channel must be"),
        ([MaskSpan(float("nan"), 2, None)], None, 2, "not a number"),
        ([], (5, 4), 2, "trim ends"),
        ([], (-1, 4), 2, "before the recording"),
        ([], (13, 20), 2, "after the recording's end"),
    ],
)
def test_it_refuses_requests_that_cannot_apply(spans, trim, channels, message, tmp_path):
    target = tmp_path / "out.mp3"

    with pytest.raises(MaskRequestError, match=message):
        mask_file(source("mp3", channels, 8000), target, spans, trim=trim)

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"this is not audio at all\n" * 100,
        bytes(np.random.default_rng(3).integers(0, 256, 50_000, dtype=np.uint8)),
    ],
    ids=["empty", "text", "noise"],
)
def test_it_fails_cleanly_on_a_corrupt_file(content, tmp_path):
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(content)
    out = tmp_path / "out"
    out.mkdir()

    with pytest.raises(AudioError):
        mask_file(broken, out / "masked.mp3", [MaskSpan(1, 2, None)])

    assert list(out.iterdir()) == []


def test_it_refuses_a_format_it_cannot_write_back(tmp_path):
    flac = tmp_path / "call.flac"
    with av.open(str(flac), "w") as container:
        stream = container.add_stream("flac", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 8000), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        container.mux(stream.encode(None))
    out = tmp_path / "out"
    out.mkdir()

    with pytest.raises(AudioError, match="MP3, PCM WAV and Ogg Opus"):
        mask_file(flac, out / "masked.flac", [MaskSpan(0.2, 0.4, None)])

    assert list(out.iterdir()) == []


def test_it_never_writes_over_its_source(tmp_path):
    path = tmp_path / "call.mp3"
    path.write_bytes(source("mp3", 1, 8000).read_bytes())

    with pytest.raises(MaskRequestError, match="overwrite its source"):
        mask_file(path, path, [MaskSpan(1, 2, None)])


def test_it_replaces_an_existing_target_only_when_done(tmp_path):
    target = tmp_path / "masked.mp3"
    target.write_bytes(b"previous")

    with pytest.raises(MaskRequestError):
        mask_file(source("mp3", 1, 8000), target, [MaskSpan(20, 30, None)])
    assert target.read_bytes() == b"previous"

    mask_file(source("mp3", 1, 8000), target, [MaskSpan(1, 2, None)])
    assert decode(target)[0].shape[1] == 12 * 8000
    assert [p.name for p in tmp_path.iterdir()] == ["masked.mp3"]


def write_wav(path, codec, seconds=6, rate=8000):
    """A tone that comes and goes, as `codec` in WAV."""
    t = np.arange(seconds * rate) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)
    with av.open(str(path), "w", format="wav") as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(tone[None].astype(np.float32), "fltp", "mono")
        frame.sample_rate, frame.pts = rate, 0
        resampler = av.AudioResampler(stream.codec_context.format.name, "mono", rate)
        for converted in resampler.resample(frame):
            container.mux(stream.encode(converted))
        container.mux(stream.encode(None))


@pytest.mark.parametrize("codec", ["pcm_mulaw", "pcm_alaw", "pcm_s24le"])
def test_it_keeps_telephony_pcm_codecs(codec, tmp_path):
    path, target = tmp_path / "call.wav", tmp_path / "masked.wav"
    write_wav(path, codec)

    mask_file(path, target, [MaskSpan(2, 3, None)])

    with av.open(str(target)) as container:
        assert container.streams.audio[0].codec_context.name == codec
    assert verify_masked(path, target, [MaskSpan(2, 3, None)]).ok


def test_it_refuses_pcm_it_cannot_scale(tmp_path):
    path, out = tmp_path / "call.wav", tmp_path / "out"
    write_wav(path, "pcm_u8")
    out.mkdir()

    with pytest.raises(AudioError, match=r"this file is wav \(pcm_u8\)"):
        mask_file(path, out / "masked.wav", [MaskSpan(2, 3, None)])

    assert list(out.iterdir()) == []


def test_it_clamps_a_trim_that_runs_past_the_end(tmp_path):
    path, target = source("mp3", 2, 8000), tmp_path / "out.mp3"

    result = mask_file(path, target, [MaskSpan(3, 4, None)], trim=(2, 15))

    assert result.trim == pytest.approx((2.0, 12.0))
    assert decode(target)[0].shape[1] == 10 * 8000
    assert verify_masked(path, target, [MaskSpan(3, 4, None)], trim=(2, 15)).ok
