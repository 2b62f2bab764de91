"""Range streaming: 64 KB range requests over loopback, three ways, in one run.

(a) Django streams the bytes itself: gunicorn (gthread), production settings (DEBUG off), the
    session checked and `catalog.play_recording` authorised on every request, sendfile(2) for
    the span through `wsgi.file_wrapper`;
(b) the same authorisation, then `X-Accel-Redirect`: nginx proxies to gunicorn over a unix
    socket and serves the bytes and the range from its `internal` location;
(c) nginx serving the file directly with Range, no authorisation (the ceiling);
(d) nginx asking the portal first (auth_request) and reusing its yes for a few seconds per
    session and recording (MEDIA_AUTH_REQUEST_SECONDS): every request is checked by nginx
    against that decision, Django decides once per session and recording in that time.

Load comes from wrk (Debian: apt-get install -y wrk nginx-light), with a Lua script that asks
for a random 64 KB range of the file with the signed-in session's cookie. Each mode runs for
--seconds after a short warm-up; every response is checked to be a 206 first, byte for byte
against the file, and wrk's count of non-2xx answers must stay at zero.

    .venv/bin/python bench/bench_range.py [--seconds 10] [--connections 16] [--workers 4]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from common import ROOT, machine, setup_django, stamp

from tests.lib.nginx import free_port, nginx_installed, process, running_nginx

CHUNK = 64 * 1024
ACCEL_PREFIX = "/protected-media/"

WRK_SCRIPT = """
local size, chunk = {size}, {chunk}
local cookie = "{cookie}"
math.randomseed(os.time() + tonumber(tostring({{}}):sub(8), 16))

request = function()
  local first = math.random(0, size - chunk)
  local range = "bytes=" .. first .. "-" .. (first + chunk - 1)
  return wrk.format("GET", nil, {{["Range"] = range, ["Cookie"] = cookie}})
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d micros=%d bytes=%d p50=%d p95=%d p99=%d "
    .. "status=%d connect=%d read=%d timeout=%d\\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.status, e.connect, e.read, e.timeout))
end
"""

# (c) the file straight from disk, the ceiling, beside the portal's own configuration for
# (b) and (d) from `catalog.nginx` (what `manage.py nginx_config` prints).
DIRECT_SERVER = """
  types {{ audio/mpeg mp3; audio/wav wav; audio/ogg opus ogg; }}
  server {{
    listen 127.0.0.1:{port};
    sendfile on;
    tcp_nopush off;
    location /files/ {{
      alias {media}/;
    }}
  }}
"""


def wait_until(check, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} did not come up in {timeout:.0f} s")


def gunicorn(bind: str, env: dict, args, log: Path):
    command = [
        sys.executable, "-m", "gunicorn", "recordings_portal.wsgi",
        "--bind", bind, "--workers", str(args.workers), "--threads", str(args.threads),
        "--worker-class", "gthread", "--keep-alive", "30", "--log-level", "warning",
        "--chdir", str(ROOT),
    ]  # fmt: skip
    return process(command, env=env, log=log)


def prepare(args):
    """A real stereo WAV in storage as an available recording, and a supervisor's session."""
    from django.contrib.auth.models import Group, User
    from django.test import Client
    from django.utils import timezone

    from recordings_portal.catalog import storage
    from recordings_portal.catalog.models import Recording, RecordingState
    from recordings_portal.simulators.audio import AudioLibrary, AudioSpec
    from recordings_portal.vendors.models import VendorAccount

    audio = AudioLibrary().get(AudioSpec("wav", 2, 16000, args.audio_seconds))
    data = audio.path.read_bytes()
    account, _ = VendorAccount.objects.get_or_create(
        name="bench range", defaults={"kind": "flyflow", "base_url": "https://api.flyflow.dev/v1"}
    )
    recording, _ = Recording.objects.get_or_create(account=account, external_id="bench-range")
    key = f"recordings/{account.pk}/{recording.pk}/{audio.sha256}.wav"
    if not storage.exists(key):
        storage.write_bytes(key, data)
    Recording.objects.filter(pk=recording.pk).update(
        state=RecordingState.AVAILABLE, storage_key=key, format="wav", channels=2,
        sample_rate=16000, size=len(data), sha256=audio.sha256, duration=args.audio_seconds,
        downloaded_at=timezone.now(),
    )  # fmt: skip
    user = User.objects.filter(username="bench-range").first()
    if user is None:
        user = User.objects.create_user("bench-range", password=None)
    user.groups.set(Group.objects.filter(name="supervisor"))
    from django.core.cache import cache

    from recordings_portal.catalog import listening

    cache.delete(listening.marker_key(user.pk, recording.pk))  # so this run starts a listening
    client = Client()
    client.force_login(user)
    from django.conf import settings

    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return recording, key, data, cookie


def check_bytes(url: str, cookie: str, data: bytes, *, refused: int | None,
                redirected: bool = False):  # fmt: skip
    """A few ranges, byte for byte, before any load: a fast wrong answer is no answer."""
    import httpx

    with httpx.Client(timeout=10) as client:
        for first in (0, 12345, len(data) - CHUNK):
            last = first + CHUNK - 1
            answer = client.get(url, headers={"Range": f"bytes={first}-{last}", "Cookie": cookie})
            assert answer.status_code == 206, (url, answer.status_code, answer.text[:200])
            assert answer.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
            assert answer.content == data[first : last + 1], url
            if redirected:  # nginx sent it, and kept the portal's headers
                assert answer.headers["content-type"] == "audio/wav", answer.headers
                assert answer.headers["cache-control"] == "private, no-cache", answer.headers
        if refused:  # no session, no bytes
            answer = client.get(url, headers={"Range": "bytes=0-1"})
            assert answer.status_code == refused, answer.status_code


def run_wrk(url: str, script: Path, args) -> dict:
    def once(seconds: int) -> dict:
        command = ["wrk", "-t", str(args.threads_wrk), "-c", str(args.connections),
                   "-d", f"{seconds}s", "--timeout", "5s", "-s", str(script), url]  # fmt: skip
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        line = next(line for line in output.splitlines() if line.startswith("RESULT "))
        return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line)}

    once(2)  # warm-up: connections, worker imports, page cache
    result = once(args.seconds)
    errors = result["status"] + result["connect"] + result["read"] + result["timeout"]
    assert errors == 0, f"{url}: {result}"
    result["rps"] = result["requests"] / (result["micros"] / 1e6)
    result["mb_s"] = result["bytes"] / (result["micros"] / 1e6) / 1e6
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10, help="load per mode, after warm-up")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads-wrk", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=2, help="gunicorn threads per worker")
    parser.add_argument("--auth-seconds", type=int, default=5, help="(d): nginx keeps a yes")
    parser.add_argument("--audio-seconds", type=int, default=600, help="length of the WAV")
    args = parser.parse_args()
    if not nginx_installed() or not shutil.which("wrk"):
        raise SystemExit("nginx and wrk are needed: apt-get install -y nginx-light wrk")

    setup_django()
    from django.conf import settings
    from django.test import override_settings
    from django.utils import timezone

    from recordings_portal.catalog.nginx import Site, http_config

    recording, key, data, cookie = prepare(args)
    started = timezone.now()
    media = Path(settings.MEDIA_ROOT).resolve()
    print(f"Range benchmark — {stamp()} — {machine()}")
    print(f"file: {len(data) / 1e6:.1f} MB WAV; random {CHUNK // 1024} KB ranges; "
          f"wrk -t{args.threads_wrk} -c{args.connections} -d{args.seconds}s; gunicorn gthread "
          f"{args.workers} workers x {args.threads} threads; cache: "
          f"{'Redis' if settings.REDIS_URL else 'per-process memory'}")  # fmt: skip

    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-range-") as tmp, ExitStack() as stack:
        tmp = Path(tmp)
        script = tmp / "range.lua"
        script.write_text(WRK_SCRIPT.format(size=len(data), chunk=CHUNK, cookie=cookie))
        env = {
            **os.environ, "DEBUG": "false", "LOG_LEVEL": "WARNING", "MEDIA_ROOT": str(media),
            "ALLOWED_HOSTS": "127.0.0.1,localhost", "PYTHONPATH": str(ROOT),
        }  # fmt: skip
        stream_path = f"/recordings/{recording.pk}/audio"

        # (a) Django streams.
        port = free_port()
        with gunicorn(f"127.0.0.1:{port}", {**env, "MEDIA_ACCEL_REDIRECT_PREFIX": ""}, args,
                      tmp / "gunicorn-a.log"):  # fmt: skip
            url = f"http://127.0.0.1:{port}{stream_path}"
            wait_until(lambda: socket.create_connection(("127.0.0.1", port)).close() or True,
                       "gunicorn")  # fmt: skip
            check_bytes(url, cookie, data, refused=302)
            results["a"] = run_wrk(url, script, args)

        # (b), (c) and (d): one nginx with three servers; gunicorn behind it on a unix socket.
        sock = tmp / "gunicorn.sock"
        accel_port, direct_port, auth_port = free_port(), free_port(), free_port()
        upstream = f"unix:{sock}"
        with override_settings(MEDIA_ACCEL_REDIRECT_PREFIX=ACCEL_PREFIX):
            with override_settings(MEDIA_AUTH_REQUEST_SECONDS=0):
                accel = http_config(Site(upstream, f"127.0.0.1:{accel_port}", name="accel"))
            with override_settings(MEDIA_AUTH_REQUEST_SECONDS=args.auth_seconds):
                auth = http_config(Site(upstream, f"127.0.0.1:{auth_port}",
                                        cache_dir=tmp / "auth-cache", name="auth"))  # fmt: skip
        direct = DIRECT_SERVER.format(port=direct_port, media=media)
        stack.enter_context(gunicorn(upstream,
                                     {**env, "MEDIA_ACCEL_REDIRECT_PREFIX": ACCEL_PREFIX,
                                      "MEDIA_AUTH_REQUEST_SECONDS": str(args.auth_seconds)},
                                     args, tmp / "gunicorn-b.log"))  # fmt: skip
        wait_until(lambda: sock.exists(), "gunicorn (unix socket)")
        stack.enter_context(running_nginx("\n".join([accel, auth, direct]), tmp,
                                          [accel_port, direct_port, auth_port]))  # fmt: skip
        accel_url = f"http://127.0.0.1:{accel_port}{stream_path}"
        direct_url = f"http://127.0.0.1:{direct_port}/files/{key}"
        auth_url = f"http://127.0.0.1:{auth_port}{stream_path}"
        check_bytes(accel_url, cookie, data, refused=302, redirected=True)
        check_bytes(direct_url, cookie, data, refused=None)
        check_bytes(auth_url, cookie, data, refused=401, redirected=True)
        results["b"] = run_wrk(accel_url, script, args)
        results["c"] = run_wrk(direct_url, script, args)
        results["d"] = run_wrk(auth_url, script, args)

    plays = _plays(recording, started)
    labels = {
        "a": "(a) Django streams (gunicorn, sendfile)",
        "b": "(b) Django authorises, X-Accel-Redirect, nginx sends",
        "c": "(c) nginx alone, no authorisation",
        "d": f"(d) nginx auth_request, the portal's yes kept {args.auth_seconds} s",
    }
    ceiling = results["c"]["rps"]
    print()
    print("| | requests/s | p50 ms | p95 ms | p99 ms | MB/s | x nginx alone |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode, label in labels.items():
        r = results[mode]
        p50, p95, p99 = (r[p] / 1000 for p in ("p50", "p95", "p99"))
        print(f"| {label} | {r['rps']:,.0f} | {p50:.2f} | {p95:.2f} | {p99:.2f} | "
              f"{r['mb_s']:,.0f} | {r['rps'] / ceiling:.2f}x |")  # fmt: skip
    print()
    for mode in ("b", "d"):
        ratio = results[mode]["rps"] / ceiling
        print(f"({mode}) is {ratio:.2f}x of (c) (target >= 0.3x: "
              f"{'met' if ratio >= 0.3 else 'NOT met'}); "
              f"{results[mode]['rps'] / results['a']['rps']:.2f}x of (a).")  # fmt: skip
    total = sum(results[mode]["requests"] for mode in ("a", "b", "d"))
    expected = "1: one listening" if settings.REDIS_URL else "one per web process at most"
    print(f"recording.play events for {total:,} authorised range requests: {plays} "
          f"(expected {expected})")  # fmt: skip


def _plays(recording, since) -> int:
    from recordings_portal.audit.models import AccessEvent

    events = AccessEvent.objects.filter(action="recording.play", object_id=str(recording.pk))
    return events.filter(at__gte=since).count()


if __name__ == "__main__":
    random.seed(7)
    main()
