"""Benchmark of `ght demo generate`: wall time to build a territory, files included.

    .venv/bin/python bench/demo_generate.py --patients 100000 [--runs 3] [--seed 1] [--workers N]

Each run generates into a fresh temporary folder (removed afterwards); the median wall
time is compared with the 60 s budget of the requirement (100,000 persons in under a
minute).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from ght.demo import GeneratorConfig, generate

LIMIT_SECONDS = 60.0


def _cpu_model() -> str:
    try:
        output = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in output.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _sizes(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_size for p in sorted(out.rglob("*")) if p.is_file()}


def _cpu_seconds() -> float:
    """User + system CPU of this process and of its finished children (the workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None, help="default: the generator's")
    args = parser.parse_args()

    config = GeneratorConfig(patients=args.patients, seed=args.seed)
    if args.workers is not None:
        config = GeneratorConfig(patients=args.patients, seed=args.seed, workers=args.workers)
    print(f"machine: {os.cpu_count()} cores, {_cpu_model()}, Python {platform.python_version()}")
    print(f"generating {args.patients:,} persons, seed {args.seed}, {config.workers} worker(s), "
          f"{args.runs} run(s)")
    times = []
    cpus = []
    sizes: dict[str, int] = {}
    counts: dict[str, int] = {}
    for run in range(1, args.runs + 1):
        out = Path(tempfile.mkdtemp(prefix="ght-bench-"))
        try:
            load = _load()
            cpu_start = _cpu_seconds()
            start = time.perf_counter()
            territory = generate(config, out)
            elapsed = time.perf_counter() - start
            cpu = _cpu_seconds() - cpu_start
            sizes = _sizes(out)
            counts = territory.files
        finally:
            shutil.rmtree(out, ignore_errors=True)
        times.append(elapsed)
        cpus.append(cpu)
        # CPU time tells a slow machine from a busy one: other processes stretch the wall
        # time, not the CPU time.
        print(f"run {run}: {elapsed:.2f} s wall, {cpu:.1f} s CPU (load before: {load})")

    median = statistics.median(times)
    print()
    print(f"{'file':32} {'records':>12} {'size':>12}")
    for name, size in sizes.items():
        print(f"{name:32} {counts.get(name, 1):>12,} {_human(size):>12}")
    print(f"{'total':32} {'':>12} {_human(sum(sizes.values())):>12}")
    print()
    print(f"median wall time: {median:.2f} s (min {min(times):.2f}, max {max(times):.2f})")
    print(f"median CPU time (parent + workers): {statistics.median(cpus):.1f} s")
    print(f"persons/s: {args.patients / median:,.0f}")
    print(f"ratio to the {LIMIT_SECONDS:.0f} s limit: {median / LIMIT_SECONDS:.2f}")


if __name__ == "__main__":
    main()
