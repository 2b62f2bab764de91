"""Run every benchmark in this folder (bench_*.py), one after another, printing their figures."""

import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
scripts = sorted(here.glob("bench_*.py"))
if not scripts:
    print("No benchmarks yet.")
for script in scripts:
    print(f"== {script.name}", flush=True)
    subprocess.run([sys.executable, str(script), *sys.argv[1:]], check=True)
