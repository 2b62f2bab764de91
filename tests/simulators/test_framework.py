"""What every simulated vendor shares: the audio, the control endpoint, the fault knobs."""

import subprocess
import sys
import time

import av
import httpx
import numpy as np
import pytest

from recordings_portal.simulators.audio import AudioLibrary, AudioSpec
from recordings_portal.simulators.calls import generate_calls
from recordings_portal.simulators.flyflow import API_KEY, FIRST_ID


def decode(path):
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray() for frame in container.decode(audio=0)]
        stream = container.streams.audio[0]
        layout = stream.codec_context.channels
        rate = stream.codec_context.sample_rate
    planar = np.concatenate(frames, axis=1)
    if planar.shape[0] != layout:  # packed samples
        planar = planar.reshape(-1, layout).T
    return planar.astype(np.float32), rate


@pytest.mark.parametrize(
    "spec",
    [
        AudioSpec("mp3", 2, 8000, 12),
        AudioSpec("wav", 1, 16000, 10),
        AudioSpec("opus", 2, 16000, 11),
    ],
    ids=lambda spec: spec.key,
)
def test_generated_audio_decodes_to_its_reported_shape(spec, tmp_path):
    audio = AudioLibrary(tmp_path).get(spec)
    samples, rate = decode(audio.path)
    assert samples.shape[0] == spec.channels
    assert abs(samples.shape[1] / rate - spec.duration) < 0.1
    assert abs(audio.duration - spec.duration) < 0.1
    assert audio.size == audio.path.stat().st_size


def test_stereo_calls_are_two_parties_taking_turns(tmp_path):
    audio = AudioLibrary(tmp_path).get(AudioSpec("wav", 2, 8000, 60, voice=3))
    samples, rate = decode(audio.path)
    window = rate // 10
    usable = samples.shape[1] // window * window
    energy = np.sqrt((samples[:, :usable].reshape(2, -1, window) ** 2).mean(axis=2))
    talking = energy > 0.02
    assert 0.2 < talking[0].mean() < 0.8  # the caller talks part of the time, not all of it
    assert 0.2 < talking[1].mean() < 0.8
    both = (talking[0] & talking[1]).mean()
    assert both < 0.1  # and they mostly do not talk over each other


def test_the_audio_is_cached_on_disk(tmp_path):
    spec = AudioSpec("mp3", 1, 8000, 10)
    first = AudioLibrary(tmp_path).get(spec)
    modified = first.path.stat().st_mtime_ns
    again = AudioLibrary(tmp_path).get(spec)
    assert again.path.stat().st_mtime_ns == modified
    assert again.sha256 == first.sha256


def test_calls_are_seeded_deterministically_over_the_last_30_days():
    now = 1_800_000_000
    first = generate_calls(vendor="x", seed=4, count=40, now=now)
    assert first == generate_calls(vendor="x", seed=4, count=40, now=now)
    assert first != generate_calls(vendor="x", seed=5, count=40, now=now)
    assert all(now - 30 * 86400 <= call.started_at < now for call in first)
    assert all(10 <= call.duration <= 1800 for call in first)


@pytest.fixture
def flyflow(simulators):
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=f"{simulators.url}/flyflow/v1", headers=headers) as client:
        yield client


def test_latency_delays_every_answer(flyflow, simulator_control):
    simulator_control.faults("flyflow", latency=0.3)
    start = time.perf_counter()
    assert flyflow.get("/calls").status_code == 200
    assert time.perf_counter() - start >= 0.3


def test_slow_bodies_trickle(flyflow, simulator_control, simulators):
    size = simulators.audio.get(simulators.vendors["flyflow"].calls[FIRST_ID].audio).size
    simulator_control.faults("flyflow", slow_body=size * 2)  # about half a second
    start = time.perf_counter()
    response = flyflow.get(f"/call/recording/{FIRST_ID}.mp3")
    assert len(response.content) == size
    assert time.perf_counter() - start >= 0.4


def test_an_error_rate_fails_about_that_share_of_requests(flyflow, simulator_control):
    simulator_control.faults("flyflow", error_rate=0.5)
    statuses = [flyflow.get("/calls", params={"limit": 1}).status_code for _ in range(60)]
    assert 15 <= statuses.count(500) <= 45
    assert set(statuses) == {200, 500}


def test_unknown_fault_settings_are_refused(simulator_control):
    response = simulator_control.client.post("/flyflow/faults", json={"gremlins": 3})
    assert response.status_code == 400
    assert "gremlins" in response.json()["error"]


def test_the_clock_moves_forward_on_request(simulator_control, simulators):
    before = simulators.clock.now()
    simulator_control.advance_clock(3600)
    assert simulators.clock.now() - before >= 3600


def test_accounts_lists_what_a_portal_account_needs(simulator_control):
    offered = simulator_control.client.get("/accounts").json()
    assert set(offered) == {"kaleyra", "koreai", "flyflow", "audian", "iotcomms"}
    assert offered["flyflow"] == {
        "path": "/flyflow/v1",
        "config": {},
        "secrets": {"api_key": API_KEY},
    }


def test_run_simulators_serves_all_five_vendors(tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_simulators", "--port", str(port), "--recordings", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                offered = httpx.get(f"http://127.0.0.1:{port}/_control/accounts").json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, process.stdout.read()
                time.sleep(0.2)
        assert len(offered) == 5
        response = httpx.get(
            f"http://127.0.0.1:{port}/flyflow/v1/calls",
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        assert len(response.json()["data"]) == 3
    finally:
        process.terminate()
        process.wait(timeout=20)
