"""Masking: ten spans beeped over an hour of stereo 8 kHz MP3 (32 kb/s), next to ffmpeg.

In the same run, best of --repeat each (the machine may be shared):
  portal      recordings_portal.audio.masking.mask_file, in a child process doing only that
              (its ru_maxrss is the masking's peak memory)
  graph       ffmpeg doing the same masking with a volume + aevalsrc filter graph, libmp3lame
  re-encode   ffmpeg decoding and re-encoding the file, nothing else: the floor for any masking
              that re-encodes
and, to explain the figures: the portal re-encoding with no spans (the same PyAV encoder, no
masking), and the portal with the system's libmp3lame preloaded in place of the one bundled
in PyAV's wheel. The portal's output is then checked with verify_mask.verify_masked().

    .venv/bin/python bench/bench_masking.py [--seconds 3600] [--repeat 3]

Needs ffmpeg on PATH (Debian: apt-get install -y ffmpeg). No database.

The parent imports nothing but the standard library and leaves every piece of work to child
processes: Linux carries a process's peak RSS across fork and exec, so a parent holding NumPy
and PyAV would lend its own size to every child's ru_maxrss.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, stamp

HERE = Path(__file__).resolve().parent
SYSTEM_LAME = Path("/usr/lib/x86_64-linux-gnu/libmp3lame.so.0")
# (start, end, channel): 0 caller, 1 callee, None both; spread over the hour, 1 to 30 s long.
SPANS = [
    (100, 110, None), (400, 405, 1), (700, 712.5, 0), (1100, 1120, 1), (1500, 1503, 0),
    (1900, 1907, 1), (2200, 2230, None), (2600, 2602, 1), (3000, 3008, 0), (3500, 3501, 0),
]  # fmt: skip


def spans_for(seconds: int) -> list[tuple[float, float, int | None]]:
    scale = seconds / 3600
    return [(start * scale, end * scale, channel) for start, end, channel in SPANS]


# --- the children: one job each --------------------------------------------------------


def child_generate(seconds: int) -> dict:
    from recordings_portal.simulators.audio import AudioLibrary, AudioSpec

    audio = AudioLibrary().get(AudioSpec("mp3", 2, 8000, seconds))
    return {"path": str(audio.path), "size": audio.size, "duration": audio.duration}


def child_mask(source: str, target: str, seconds: int, no_spans: bool) -> dict:
    from recordings_portal.audio.masking import MaskSpan, mask_file

    spans = [] if no_spans else [MaskSpan(*span) for span in spans_for(seconds)]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu, main_cpu = time.process_time(), time.thread_time()
    result = mask_file(Path(source), Path(target), spans)
    return {
        "seconds": result.seconds,
        "cpu": time.process_time() - cpu,
        # The encoding thread's own CPU: the wall time when the decoding thread has a core.
        "encoder_cpu": time.thread_time() - main_cpu,
        "rss_before_kb": before,
        "rss_peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def child_verify(source: str, masked: str, seconds: int) -> dict:
    from recordings_portal.audio.masking import MaskSpan
    from recordings_portal.audio.verify_mask import verify_masked

    began = time.perf_counter()
    verdict = verify_masked(Path(source), Path(masked), [MaskSpan(*s) for s in spans_for(seconds)])
    return {"ok": verdict.ok, "reasons": verdict.reasons, "seconds": time.perf_counter() - began}


CHILDREN = {"generate": child_generate, "mask": child_mask, "verify": child_verify}


# --- the parent -------------------------------------------------------------------------


def run(command: list[str], env: dict | None = None) -> dict:
    """Run a process to the end: wall seconds, CPU seconds, peak RSS, and its stdout."""
    start = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, env=env) as process:
        out = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"failed ({process.returncode}): {' '.join(command)}")
    return {
        "seconds": time.perf_counter() - start,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_peak_kb": usage.ru_maxrss,
        "stdout": out.decode(),
    }


def portal(source: Path, target: Path, seconds: int, no_spans=False, preload=None) -> dict:
    env = dict(os.environ)
    if preload:
        env["LD_PRELOAD"] = str(preload)
    outside = run(child_command("mask", source, target, seconds, no_spans), env)
    inside = json.loads(outside["stdout"].strip().splitlines()[-1])
    return {**inside, "process_seconds": outside["seconds"]}


def child_command(job: str, *arguments) -> list[str]:
    words = [str(a) for a in arguments if not isinstance(a, bool)]
    flags = ["--no-spans"] if True in arguments else []
    return [sys.executable, __file__, "--child", job, *words, *flags]


def in_child(job: str, *arguments) -> dict:
    return json.loads(run(child_command(job, *arguments))["stdout"].strip().splitlines()[-1])


def ffmpeg_graph(source: Path, target: Path, seconds: int) -> list[str]:
    """The same masking in ffmpeg: silence each channel's spans, add the gated beep, re-join."""
    gates = []
    for channel in (0, 1):
        terms = [
            f"between(t,{start},{end})"
            for start, end, which in spans_for(seconds)
            if which is None or which == channel
        ]
        gates.append("+".join(terms) or "0")
    left, right = gates
    beep = "0.2512*sin(2*PI*1000*t)"
    graph = (
        f"[0:a]channelsplit=channel_layout=stereo[l][r];"
        f"[l]volume=0:enable='{left}'[lq];[r]volume=0:enable='{right}'[rq];"
        f"aevalsrc='{beep}*({left})|{beep}*({right})':s=8000:c=stereo:d={seconds},"
        f"channelsplit=channel_layout=stereo[bl][br];"
        f"[lq][bl]amix=inputs=2:normalize=0:duration=first[lo];"
        f"[rq][br]amix=inputs=2:normalize=0:duration=first[ro];"
        f"[lo][ro]join=inputs=2:channel_layout=stereo[out]"
    )
    return ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-filter_complex", graph,
            "-map", "[out]", "-c:a", "libmp3lame", "-b:a", "32k", str(target)]  # fmt: skip


def ffmpeg_reencode(source: Path, target: Path) -> list[str]:
    return ["ffmpeg", "-v", "error", "-y", "-i", str(source),
            "-c:a", "libmp3lame", "-b:a", "32k", str(target)]  # fmt: skip


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=3600)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs="+", metavar="JOB")
    parser.add_argument("--no-spans", action="store_true")
    args = parser.parse_args()
    if args.child:
        job, *arguments = args.child
        extra = [args.no_spans] if job == "mask" else []
        typed = [int(a) if a.isdigit() else a for a in arguments]
        print(json.dumps(CHILDREN[job](*typed, *extra)))
        return
    if not shutil.which("ffmpeg"):
        raise SystemExit("ffmpeg is not on PATH (Debian: apt-get install -y ffmpeg)")

    print(f"Masking benchmark — {stamp()} — {machine()}")
    began = time.perf_counter()
    audio = in_child("generate", args.seconds)
    source, length = Path(audio["path"]), audio["duration"]
    print(f"source: {source.name}, {audio['size'] / 1e6:.1f} MB, {length:.0f} s "
          f"(ready in {time.perf_counter() - began:.1f} s)")  # fmt: skip
    ffmpeg_version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True)
    print(ffmpeg_version.stdout.splitlines()[0])

    work = Path(tempfile.mkdtemp(prefix="bench-masking-", dir=ROOT / "data"))
    ours, graph = work / "portal.mp3", work / "graph.mp3"
    variants = {
        "portal": lambda: portal(source, ours, args.seconds),
        "graph": lambda: run(ffmpeg_graph(source, graph, args.seconds)),
        "re-encode": lambda: run(ffmpeg_reencode(source, work / "plain.mp3")),
        "portal, no spans": lambda: portal(source, work / "same.mp3", args.seconds, True),
    }
    if SYSTEM_LAME.exists():
        variants["portal, system LAME"] = lambda: portal(
            source, work / "lame.mp3", args.seconds, preload=SYSTEM_LAME
        )
    runs: dict[str, list[dict]] = {}
    try:
        for _ in range(args.repeat):  # interleaved, so a busy moment does not favour one
            for name, go in variants.items():
                runs.setdefault(name, []).append(go())
        verdicts = {
            "the portal's output": in_child("verify", source, ours, args.seconds),
            "the ffmpeg graph's output": in_child("verify", source, graph, args.seconds),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    report(runs, length)
    for name, verdict in verdicts.items():
        print(f"verify_masked on {name}: ok={verdict['ok']} in {verdict['seconds']:.2f} s")
        for reason in verdict["reasons"][:3]:
            print(f"  {reason}")


def report(runs: dict[str, list[dict]], length: float) -> None:
    best = {name: min(found, key=lambda r: r["seconds"]) for name, found in runs.items()}
    print(f"\n{'best of runs':22} {'seconds':>8} {'x realtime':>11} {'CPU s':>7} {'peak RSS':>10}")
    for name, f in best.items():
        rate, rss = length / f["seconds"], f["rss_peak_kb"] / 1024
        print(f"{name:22} {f['seconds']:8.2f} {rate:11.0f} {f['cpu']:7.2f} {rss:7.1f} MB")
    for name, found in runs.items():
        print(f"  {name} runs: " + ", ".join(f"{r['seconds']:.2f} s" for r in found))
    mine, graph, plain = best["portal"], best["graph"], best["re-encode"]
    print(f"\nportal: {length / mine['seconds']:.0f}x realtime (target >= 300x)")
    print(f"vs the ffmpeg filter graph: {graph['seconds'] / mine['seconds']:.2f}x faster (>= 5x)")
    print(
        f"vs ffmpeg's plain re-encode: {mine['seconds'] / plain['seconds']:.2f}x its time (<= 1.2x)"
    )
    critical = mine["encoder_cpu"]
    print(
        f"portal's encoding thread: {critical:.2f} s CPU = {length / critical:.0f}x realtime "
        f"(the decoding thread runs beside it: {mine['cpu'] - mine['encoder_cpu']:.2f} s CPU)"
    )
    peak, base = mine["rss_peak_kb"] / 1024, mine["rss_before_kb"] / 1024
    print(f"peak RSS {peak:.1f} MB, {base:.1f} MB of it before masking (target < 200 MB)")
    same_encoder = mine["seconds"] / best["portal, no spans"]["seconds"]
    print(f"masking vs the portal's own re-encode without spans: {same_encoder:.2f}x its time")
    lame = best.get("portal, system LAME")
    if lame:
        print(
            f"with the system libmp3lame preloaded: {lame['seconds']:.2f} s = "
            f"{length / lame['seconds']:.0f}x realtime, "
            f"{graph['seconds'] / lame['seconds']:.2f}x faster than the graph, "
            f"{lame['seconds'] / plain['seconds']:.2f}x the plain re-encode"
        )


if __name__ == "__main__":
    main()
