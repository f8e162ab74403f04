"""Speed and memory of ``calmline analyze`` against ffmpeg's ebur128 pass.

Builds a long two-party 16 kHz call from the demo call (in benchmarks/.work,
git-ignored), then in one run:

* times ffmpeg's ``ebur128`` filter over the file (the reference);
* times ``calmline analyze`` over the same file, in a fresh process;
* repeats both, alternating, and compares the fastest run of each (wall time,
  the goal; the CPU time of all threads is printed beside it): on a
  shared or virtual machine a run can be slowed by a third or more by other
  work, sometimes for a minute at a time, and the fastest run is the closest
  to each program's own cost;
* measures the peak memory (max RSS) of ``calmline analyze`` on a file twice as long.

Goals (issue 2): analysis time at most 4x ffmpeg's for 60 minutes; peak memory
at most 300 MB for 2 hours. Run: ``.venv/bin/python benchmarks/analysis_speed.py``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work"
sys.path.insert(0, str(ROOT))

from benchmarks.long_calls import long_call  # noqa: E402


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system, all threads) of a child process, in seconds."""
    # A file, not a pipe: ffmpeg's ebur128 logs a line per 100 ms, which would fill a pipe nobody reads.
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        if status != 0:
            stderr.seek(0)
            sys.exit(f"benchmark: {' '.join(cmd[:3])} failed:\n{stderr.read().decode()[-2000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime


def peak_rss_mb(cmd: list[str]) -> float:
    """Peak resident memory of a child process in MB (via wait4)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        sys.exit(f"benchmark: {' '.join(cmd[:3])} failed: {proc.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=60, help="length of the speed test call")
    parser.add_argument("--memory-minutes", type=int, default=120, help="length of the memory test call")
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs of each program, alternating; the fastest counts (default 5)")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("benchmark: ffmpeg is needed as the reference (apt-get install ffmpeg)")

    call = long_call(args.minutes)
    print(f"call: {call.name} ({args.minutes} min, two parties, 16 kHz)")
    ffmpeg = ["ffmpeg", "-nostats", "-hide_banner", "-i", str(call),
              "-filter_complex", "ebur128", "-f", "null", "-"]
    calmline = [sys.executable, "-m", "ui.cli", "analyze", str(call), "--json", str(WORK / "out.json")]
    ffmpeg_runs, ours_runs = [], []
    for _ in range(max(1, args.repeat)):
        ffmpeg_runs.append(timed(ffmpeg))
        ours_runs.append(timed(calmline))
    (ffmpeg_s, ffmpeg_cpu_s), (ours_s, ours_cpu_s) = min(ffmpeg_runs), min(ours_runs)
    print(f"ffmpeg ebur128:   {ffmpeg_s:6.2f} s, CPU {ffmpeg_cpu_s:5.2f} s  "
          f"(runs: {', '.join(f'{t:.2f}' for t, _ in ffmpeg_runs)})")
    print(f"calmline analyze: {ours_s:6.2f} s, CPU {ours_cpu_s:5.2f} s  "
          f"({args.minutes * 60 / ours_s:.0f}x real time; runs: {', '.join(f'{t:.2f}' for t, _ in ours_runs)})")
    ratio = ours_s / ffmpeg_s
    print(f"ratio to ffmpeg:  {ratio:6.2f}x  (goal <= 4x) {'OK' if ratio <= 4 else 'OVER'}; "
          f"CPU time {ours_cpu_s / ffmpeg_cpu_s:.2f}x (the analysis reads ahead in a second thread)")

    if not args.skip_memory:
        longer = long_call(args.memory_minutes)
        rss_mb = peak_rss_mb([sys.executable, "-m", "ui.cli", "analyze", str(longer),
                              "--json", str(WORK / "out_long.json")])
        print(f"peak memory, {args.memory_minutes} min with --json: {rss_mb:.0f} MB "
              f"(goal <= 300 MB) {'OK' if rss_mb <= 300 else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
