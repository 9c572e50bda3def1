"""Benchmark of `ght record load`: a generated territory's clinical record loaded into the shared
record, in resources per second.

    .venv/bin/python bench/record_load.py [--persons 2000] [--runs 3] [--postgres postgresql://...]

The territory (--persons, seed 1) is generated once. Each run starts from a new database (a
SQLite file, or a database created on the --postgres server and dropped after) holding the
directory and the linked identities, as `ght demo start` leaves it; only the record load is
timed (parse, validation, reference rewriting, store writes with their search index, commits
per 1,000 lines). The figure is the median of the runs.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


from ght.db.engine import make_engine  # noqa: E402
from ght.db.migrate import upgrade  # noqa: E402
from ght.db.scratch import scratch_database  # noqa: E402
from ght.demo import GeneratorConfig, generate  # noqa: E402
from ght.demo.bootstrap import load_territory_base  # noqa: E402
from ght.record.loader import load  # noqa: E402


def new_database(work: Path, postgres: str | None, run: int):
    """(url, drop) of an empty database for one run."""
    if postgres is None:
        return f"sqlite:///{work / f'run-{run}.db'}", lambda: None
    return scratch_database(postgres, "ght_bench")


def one_run(territory, directory: Path, url: str) -> tuple[float, int]:
    engine = make_engine(url)
    try:
        upgrade(engine)
        load_territory_base(engine, territory, directory)
        result = load(engine, [directory / "fhir"])
        return result.rate, result.stored
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", help="PostgreSQL server URL (a database is created per run)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ght-bench-") as tmp:
        work = Path(tmp)
        territory = generate(GeneratorConfig(patients=args.persons, seed=1), work / "territory")
        rates = []
        for run in range(args.runs):
            url, drop = new_database(work, args.postgres, run)
            try:
                rate, stored = one_run(territory, work / "territory", url)
            finally:
                drop()
            rates.append(rate)
            print(f"run {run + 1}: {stored} resources, {rate:,.0f} resources/s", flush=True)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"record load, {args.persons} persons ({stored} resources), {backend}, Python {platform.python_version()}: "
          f"median {statistics.median(rates):,.0f} resources/s over {args.runs} runs")


if __name__ == "__main__":
    main()
