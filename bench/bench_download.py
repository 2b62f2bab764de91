"""Download: a large file from the simulator through the real download service, next to curl.

The service streams to a temporary file while hashing (sha256), checks length and checksum,
fsyncs, decodes the file once for its duration and waveform peaks, and renames it into
storage. curl only writes the bytes. Memory is the peak RSS of a process that does nothing but
one download, for a small and for the large file: flat means the same whatever the size.

    .venv/bin/python bench/bench_download.py [--seconds 4200]  # 16 kHz stereo WAV: 269 MB
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, machine, setup_django, stamp, timed

HERE = Path(__file__).resolve().parent


def download_in_child(recording_id: int) -> dict:
    result = subprocess.run(
        [sys.executable, str(HERE / "download_one.py"), str(recording_id)],
        capture_output=True, text=True, check=True, env=os.environ,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=4200)
    args = parser.parse_args()
    setup_django()
    from recordings_portal.catalog import storage
    from recordings_portal.catalog.models import Recording
    from recordings_portal.simulators.testing import SimulatorControl, running_simulators
    from recordings_portal.vendors.models import VendorAccount
    from recordings_portal.vendors.services import account_create

    print(f"Download benchmark — {stamp()} — {machine()}")
    with running_simulators(seed=5, recordings={"audian": 1}, vendors=["audian"]) as sims:
        control = SimulatorControl(sims.url)
        offered = sims.vendors["audian"].credentials()
        Recording.objects.filter(account__name="bench download").delete()
        VendorAccount.objects.filter(name="bench download").delete()
        account = account_create(
            name="bench download", kind="audian", base_url=sims.url + offered["path"],
            config=offered["config"], secrets=offered["secrets"],
        )  # fmt: skip
        with timed() as made:
            big = control.knob("audian", "add_recording", format="wav", channels=2,
                               sample_rate=16000, duration=args.seconds).json()  # fmt: skip
            small = control.knob("audian", "add_recording", format="wav", channels=2,
                                 sample_rate=16000, duration=60).json()  # fmt: skip
        print(f"simulator files ready in {made['seconds']:.1f} s")
        figures = {}
        for label, created in (("small", small), ("large", big)):
            remote_id = created["recording"]["recording_id"]
            row = Recording.objects.create(account=account, external_id=remote_id)
            figures[label] = download_in_child(row.id)
            row.refresh_from_db()
            figures[label]["size"] = row.size
            assert row.state == "available", figures[label]

        large_id = big["recording"]["recording_id"]
        url = f"{sims.url}{offered['path']}/v2/recordings/{large_id}/download"
        target = ROOT / "data" / "bench-curl.out"
        start = time.perf_counter()
        subprocess.run(
            ["curl", "-sS", "-L", "-o", str(target), "-H",
             f"X-Auth-Token: {offered['secrets']['api_key']}", url],
            check=True,
        )  # fmt: skip
        curl_seconds = time.perf_counter() - start
        curl_bytes = target.stat().st_size
        target.unlink()

    leftovers = list((storage.root() / storage.TEMP_DIR).glob("*"))
    mb = 1024 * 1024
    large = figures["large"]
    ours_rate = large["size"] / mb / large["seconds"]
    curl_rate = curl_bytes / mb / curl_seconds
    print(f"file: {large['size'] / mb:.0f} MB WAV")
    receive_rate = large["size"] / mb / large["receive"]
    print(f"curl -o (bytes only):      {curl_seconds:6.2f} s = {curl_rate:7.1f} MB/s")
    print(
        f"portal, receiving:         {large['receive']:6.2f} s = {receive_rate:7.1f} MB/s "
        f"(stream + sha256 + write + fsync): {receive_rate / curl_rate:.2f}x curl (target >= 0.5x)"
    )
    print(f"portal, analysing:         {large['analyse']:6.2f} s (decode once: duration, peaks)")
    print(
        f"portal, whole service:     {large['seconds']:6.2f} s = {ours_rate:7.1f} MB/s "
        f"({ours_rate / curl_rate:.2f}x curl)"
    )
    for label in ("small", "large"):
        f = figures[label]
        print(f"peak RSS, {label:5} file ({f['size'] / mb:6.1f} MB): "
              f"{f['rss_peak_kb'] / 1024:6.1f} MB"
              f" (after start-up {f['rss_before_kb'] / 1024:.1f} MB)")  # fmt: skip
    print(f"temporary files left behind: {len(leftovers)}")


if __name__ == "__main__":
    main()
