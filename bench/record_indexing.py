"""Micro-benchmark of search-index extraction (ght.record.indexing.extract), the step every
write of the shared record goes through.

    .venv/bin/python bench/record_indexing.py [--resources 50000] [--runs 5]

The resources are the official FHIR R4 examples of ../shared (those of the record's types,
Bundle entries included), repeated up to --resources. Each run extracts every resource once,
from an empty string-normalisation cache; the figure is the median of the runs, single thread.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from itertools import cycle, islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ght.record.indexing import extract, normalise_string  # noqa: E402
from ght.record.search_parameters import SEARCH_PARAMETERS  # noqa: E402

EXAMPLES = ROOT / ".." / "shared" / "fhir-r4-examples"


def load_examples() -> list[dict]:
    resources = []
    for path in sorted(EXAMPLES.glob("*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        candidates = [e.get("resource") or {} for e in body.get("entry", [])] \
            if body.get("resourceType") == "Bundle" else [body]
        resources += [r for r in candidates if r.get("resourceType") in SEARCH_PARAMETERS]
    return resources


def run_once(resources: list[dict]) -> tuple[float, int]:
    normalise_string.cache_clear()
    values = 0
    start = time.perf_counter()
    for resource in resources:
        ex = extract(resource)
        values += (len(ex.tokens) + len(ex.strings) + len(ex.dates) + len(ex.references)
                   + len(ex.reference_identifiers) + len(ex.quantities) + len(ex.uris))
    return time.perf_counter() - start, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not EXAMPLES.is_dir():
        sys.exit(f"examples not found at {EXAMPLES} (see ../shared/README.md)")
    examples = load_examples()
    resources = list(islice(cycle(examples), args.resources))
    run_once(resources[:1000])  # warm-up
    timings = []
    for _ in range(args.runs):
        seconds, values = run_once(resources)
        timings.append(seconds)
    median = statistics.median(timings)
    print(f"{len(examples)} distinct example resources repeated to {len(resources):,}; "
          f"{values / len(resources):.1f} index values per resource")
    print(f"Python {platform.python_version()}, {platform.machine()}, single thread")
    print("runs (s): " + ", ".join(f"{t:.3f}" for t in timings))
    print(f"extract: {len(resources) / median:,.0f} resources/s (median of {args.runs}), "
          f"{median / len(resources) * 1e6:.1f} µs per resource")


if __name__ == "__main__":
    main()
