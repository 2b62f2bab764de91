"""The verifier: it passes a correct masking and names what is wrong with a wrong one."""

import av
import numpy as np
import pytest

from recordings_portal.audio import masking
from recordings_portal.audio.masking import MaskSpan, mask_file
from recordings_portal.audio.verify_mask import verify_masked

from .sound import decode, source

SPANS = [MaskSpan(2.0, 3.5, None), MaskSpan(6.0, 7.25, 0)]


@pytest.fixture
def masked_mp3(tmp_path):
    path = source("mp3", 2, 8000)
    target = tmp_path / "masked.mp3"
    mask_file(path, target, SPANS)
    return path, target


def test_it_passes_a_correct_masking_with_its_figures(masked_mp3):
    path, target = masked_mp3

    result = verify_masked(path, target, SPANS)

    assert result.ok and result.reasons == []
    figures = result.figures
    assert figures["duration"]["masked"] == figures["duration"]["expected"] == 12.0
    assert figures["lag_samples"] == 0
    assert [span["channel"] for span in figures["spans"]] == [0, 0, 1]
    assert all(span["tone_fraction"] > 0.99 for span in figures["spans"])
    assert all(abs(span["level_dbfs"][0] + 12) < 1.5 for span in figures["spans"])
    assert all(channel["correlation"] > 0.99 for channel in figures["channels"])
    assert all(channel["changed_windows"] == 0 for channel in figures["channels"])


def test_it_fails_a_file_masked_at_other_spans(masked_mp3):
    path, target = masked_mp3

    result = verify_masked(path, target, [MaskSpan(8.0, 9.5, None)])

    assert not result.ok
    assert any(
        "8.00 to 9.50 s on the caller (left) is not only the beep" in r for r in result.reasons
    )
    changed = [r for r in result.reasons if r.startswith("Outside the masked spans")]
    assert any(
        "the caller (left) differs from the source" in r and "at 2.0 s" in r for r in changed
    )


def test_it_fails_the_unmasked_original(tmp_path):
    path = source("wav", 1, 16000)

    result = verify_masked(path, path, SPANS)

    assert not result.ok
    assert any("2.00 to 3.50 s on the recording is not only the beep" in r for r in result.reasons)
    assert any("6.00 to 7.25 s" in r for r in result.reasons)


def test_it_fails_a_beep_on_the_wrong_channel(tmp_path):
    path = source("mp3", 2, 16000)
    target = tmp_path / "masked.mp3"
    mask_file(path, target, [MaskSpan(4.0, 6.0, 1)])

    result = verify_masked(path, target, [MaskSpan(4.0, 6.0, 0)])

    assert not result.ok
    assert any("on the caller (left) is not only the beep" in r for r in result.reasons)
    assert any("the callee (right) differs from the source" in r for r in result.reasons)


def test_it_fails_a_beep_at_the_wrong_level(tmp_path, monkeypatch):
    path = source("wav", 2, 8000)
    target = tmp_path / "quiet.wav"
    monkeypatch.setattr(masking, "BEEP_AMPLITUDE", 10 ** (-30 / 20))
    mask_file(path, target, [MaskSpan(4.0, 6.0, None)])
    monkeypatch.undo()

    result = verify_masked(path, target, [MaskSpan(4.0, 6.0, None)])

    assert not result.ok
    assert any("beeps at -30.0 to -30.0 dBFS" in r for r in result.reasons)


def test_it_fails_a_wrong_trim(tmp_path):
    path = source("opus", 1, 8000)
    target = tmp_path / "trimmed.opus"
    mask_file(path, target, [], trim=(2.0, 10.0))

    assert verify_masked(path, target, [], trim=(2.0, 10.0)).ok
    result = verify_masked(path, target, [], trim=(2.0, 11.0))

    assert not result.ok
    assert "lasts 8.000 s; it should last 9.000 s" in result.reasons[0]


def test_it_fails_a_file_in_another_format(tmp_path):
    result = verify_masked(source("mp3", 2, 8000), source("wav", 2, 8000), [])

    assert not result.ok
    assert "The masked file is wav" in result.reasons[0]


def test_it_measures_short_spans_at_their_centre(tmp_path):
    path = source("mp3", 1, 8000)
    target = tmp_path / "short.mp3"
    spans = [MaskSpan(5.0, 5.15, None)]  # shorter than two MP3 frames either side
    mask_file(path, target, spans)

    result = verify_masked(path, target, spans)

    assert result.ok
    assert result.figures["spans"][0]["windows"] == 1
    assert not verify_masked(path, path, spans).ok


def test_it_says_when_channels_were_masked_together(tmp_path):
    path = source("opus", 2, 8000)
    target = tmp_path / "joint.opus"
    mask_file(path, target, [MaskSpan(4.0, 6.0, 0)])

    result = verify_masked(path, target, [MaskSpan(4.0, 6.0, 0)])

    assert result.ok, result.reasons
    assert result.figures["joint_channels"] is True
    assert [span["channel"] for span in result.figures["spans"]] == [0, 1]


def test_it_lines_up_audio_that_the_codec_shifted(tmp_path):
    """A copy three samples late (and as long) is the same audio: the lag is found."""
    path = source("wav", 1, 8000)
    samples, rate = decode(path)
    late = np.concatenate([np.zeros((1, 3), np.float32), samples[:, :-3]], axis=1)
    shifted = tmp_path / "late.wav"
    with av.open(str(shifted), "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="mono")
        pcm = np.round(late * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        container.mux(stream.encode(None))

    result = verify_masked(path, shifted, [])

    assert result.figures["lag_samples"] == -3
    assert result.ok, result.reasons
