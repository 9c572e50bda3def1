"""Benchmark of the access trace (issue 5, point 6) on PostgreSQL: appends, sealing, verify.

    .venv/bin/python bench/audit_trail.py [--entries 1000000] [--threads 8] [--seconds 10]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

A fresh database is created (and dropped at the end). Scenarios:
1. appends: --threads threads, each one entry per transaction (`record` then COMMIT, as a
   request does), for --seconds; then the same with the sealer running beside them (every
   second, as `ght serve` will run it), and the backlog it leaves (the sealer shares this
   process, and its interpreter lock, with the appending threads);
2. sealing: the trail filled to --entries unsealed entries, then `seal_pending` (batches of
   10,000, one transaction each) until everything is sealed;
3. verify: the whole chain of --entries entries.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import func, select  # noqa: E402

from ght.audit.models import AuditEntry  # noqa: E402
from ght.audit.sealer import run_sealer, seal_pending  # noqa: E402
from ght.audit.trail import AccessEvent, record, record_many  # noqa: E402
from ght.audit.verify import verify  # noqa: E402
from ght.db.engine import make_engine, session_factory  # noqa: E402
from ght.db.migrate import upgrade  # noqa: E402
from ght.db.scratch import scratch_database  # noqa: E402

FILL_BATCH = 10_000


def access(n: int, at: datetime | None = None) -> AccessEvent:
    """A clinician's FHIR read of one of 10,000 patients' observations."""
    return AccessEvent(account=f"medecin{n % 300}", account_id=n % 300 + 1, rpps=f"1{n % 300:010d}",
                       role="clinician", action="read", purpose="care", outcome="allowed", door="fhir",
                       establishment_id=n % 5 + 1, ght_patient_id=f"P{n % 10_000:07d}",
                       resources=(f"Observation/{n}",), client_address="10.0.0.1", recorded_at=at)


def appends(sessions, threads: int, seconds: float) -> dict:
    """Appends per second by `threads` threads, one committed transaction per entry."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    end = time.perf_counter() + seconds

    def loop(k: int) -> None:
        n = k * 10_000_000
        with sessions() as db:
            while time.perf_counter() < end:
                started = time.perf_counter()
                record(db, access(n))
                db.commit()
                latencies[k].append(time.perf_counter() - started)
                n += 1

    workers = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    lat = sorted(x for per_thread in latencies for x in per_thread)
    return {"appends": len(lat), "rate": len(lat) / elapsed, "p50_ms": lat[len(lat) // 2] * 1000,
            "p99_ms": lat[int(len(lat) * 0.99)] * 1000}


def appends_while_sealing(sessions, threads: int, seconds: float) -> dict:
    stop = threading.Event()
    sealer = threading.Thread(target=run_sealer, args=(sessions, stop), kwargs={"every": 1.0})
    sealer.start()
    try:
        result = appends(sessions, threads, seconds)
    finally:
        stop.set()
        sealer.join()
    with sessions() as db:
        result["backlog"] = db.scalar(select(func.count()).where(AuditEntry.chain_seq.is_(None)))
    return result


def fill(sessions, entries: int) -> float:
    """Unsealed entries up to `entries` in all (multi-row INSERTs, not measured as appends)."""
    with sessions() as db:
        present = db.scalar(select(func.count()).select_from(AuditEntry))
    start = datetime.now(UTC) - timedelta(days=30)
    started = time.perf_counter()
    for first in range(present, entries, FILL_BATCH):
        with sessions() as db:
            record_many(db, (access(n, start + timedelta(milliseconds=n))
                             for n in range(first, min(first + FILL_BATCH, entries))))
            db.commit()
    return time.perf_counter() - started


def timed(what, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = what(*args)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="size of the trail sealed and verified")
    parser.add_argument("--threads", type=int, default=8, help="appending threads")
    parser.add_argument("--seconds", type=float, default=10.0, help="per append scenario")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
          + " / ".join(f"{x:.1f}" for x in os.getloadavg()), flush=True)
    url, drop = scratch_database(args.postgres, "ght_bench_audit")
    engine = make_engine(url)
    try:
        upgrade(engine)
        sessions = session_factory(engine)
        alone = appends(sessions, args.threads, args.seconds)
        print(f"appends, {args.threads} threads, one transaction each: {alone['rate']:.0f}/s "
              f"(p50 {alone['p50_ms']:.2f} ms, p99 {alone['p99_ms']:.2f} ms, {alone['appends']} entries)", flush=True)
        beside = appends_while_sealing(sessions, args.threads, args.seconds)
        print(f"appends with the sealer running: {beside['rate']:.0f}/s (p50 {beside['p50_ms']:.2f} ms, "
              f"p99 {beside['p99_ms']:.2f} ms); unsealed backlog at the end: {beside['backlog']}", flush=True)
        seal_pending(sessions)
        filled = fill(sessions, args.entries)
        with sessions() as db:
            total = db.scalar(select(func.count()).select_from(AuditEntry))
            unsealed = db.scalar(select(func.count()).where(AuditEntry.chain_seq.is_(None)))
        print(f"filled to {total} entries in {filled:.0f} s", flush=True)
        seconds, sealed = timed(seal_pending, sessions)
        print(f"sealing: {sealed} entries in {seconds:.1f} s: {sealed / seconds:.0f} entries/s", flush=True)
        assert sealed == unsealed
        with sessions() as db:
            seconds, report = timed(lambda: verify(db))
        assert report.intact, report.breaks[:5]
        print(f"verify: {report.checked} entries in {seconds:.1f} s: {report.checked / seconds:.0f} entries/s",
              flush=True)
    finally:
        engine.dispose()
        drop()


if __name__ == "__main__":
    main()
