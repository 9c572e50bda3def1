"""Benchmark of the territorial DIM: RUM lines imported (parse and field-by-field check,
linkage by IPP, one transaction, Parquet mirror) and the full territorial report (DuckDB).

    .venv/bin/python bench/dim.py [--lines 1000000] [--runs 3] [--postgres postgresql://...]

The file (--lines RUM lines of one establishment and one month, format 023, one DAS and one
act per line, 100,000 patients with IPPs in the identity server) is written once; each run
imports it into a new database and computes the report. Limits (issue 7): import ≤ 60 s for
1,000,000 lines, report ≤ 5 s. The figures are the medians of the runs."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ght.db.bulk import bulk_insert  # noqa: E402
from ght.db.engine import make_engine, session_factory  # noqa: E402
from ght.db.migrate import upgrade  # noqa: E402
from ght.db.scratch import scratch_database  # noqa: E402
from ght.dim import analysis  # noqa: E402
from ght.dim.format import LAYOUTS  # noqa: E402
from ght.dim.importer import Sources, import_file  # noqa: E402
from ght.dim.writer import rum_line  # noqa: E402
from ght.directory.models import Establishment  # noqa: E402
from ght.identity.models import GhtPatient, LocalIdentity  # noqa: E402

FINESS = "490000031"
PATIENTS = 100_000
DPS = ("I500", "J189", "K358", "E119", "C509", "O800", "S7200", "N390")


def write_file(path: Path, lines: int) -> bytes:
    layout = LAYOUTS[("023", False)]
    corr = ["nas;ipp"]
    with open(path, "w", encoding="latin-1", newline="") as out:
        for n in range(lines):
            entry = date(2026, 3, 1 + n % 25)
            exit_ = entry + timedelta(days=n % 5)
            values = dict(finess=FINESS, rss=str(n), nas=f"S{n}", rum="1", naissance=date(1930 + n % 90, 1 + n % 12, 1),
                          sexe="12"[n % 2], um=f"{1000 + n % 40}", date_entree=entry, mode_entree="8",
                          date_sortie=exit_, mode_sortie="8", residence="49000", dp=DPS[n % len(DPS)])
            act = dict(date=entry, code="DZQM006", phase="0", activite="1", executions=1)
            out.write(rum_line(layout, values, ["E119"], acts=[act]) + "\r\n")
            corr.append(f"S{n};IPP{n % PATIENTS}")
    return ("\n".join(corr) + "\n").encode()


def seed(engine) -> None:
    with session_factory(engine)() as db:
        db.add(Establishment(finess_ej=FINESS, name="CHU (bench)", short_name="CHU", role="support"))
        db.commit()
        est = db.query(Establishment).one().id
        connection = db.connection()
        bulk_insert(connection, GhtPatient.__table__, [(f"G{i}",) for i in range(PATIENTS)], columns=["id"])
        bulk_insert(connection, LocalIdentity.__table__, [(est, f"IPP{i}", f"G{i}") for i in range(PATIENTS)],
                    columns=["establishment_id", "ipp", "patient_id"])
        db.commit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-dim-"))
    rss = work / "rss.txt"
    corr = write_file(rss, args.lines)
    data = rss.read_bytes()
    imports, reports = [], []
    for run in range(args.runs):
        if args.postgres:
            url, drop = scratch_database(args.postgres, "ght_bench")
        else:
            url, drop = f"sqlite:///{work / f'run-{run}.db'}", lambda: None
        engine = make_engine(url)
        try:
            upgrade(engine)
            seed(engine)
            var = work / f"var-{run}"
            start = time.perf_counter()
            result = import_file(engine, data, "rss.txt", 2026, 3, actor="bench", var_dir=var,
                                 sources=Sources(correspondence=corr))
            imports.append(time.perf_counter() - start)
            start = time.perf_counter()
            tables = analysis.report(analysis.connect(var))
            reports.append(time.perf_counter() - start)
            print(f"run {run + 1}: import {imports[-1]:.1f} s ({result.lines} RUM, {result.linked} linked), "
                  f"report {reports[-1]:.2f} s ({len(tables)} tables)", flush=True)
        finally:
            engine.dispose()
            drop()
    imp, rep = statistics.median(imports), statistics.median(reports)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{'PostgreSQL' if args.postgres else 'SQLite'}")
    print(f"{args.lines} RUM lines ({len(data) / 1e6:.0f} MB): import median {imp:.1f} s "
          f"({imp / 60:.2f} of the 60 s limit), report median {rep:.2f} s ({rep / 5:.2f} of the 5 s limit)")


if __name__ == "__main__":
    main()
