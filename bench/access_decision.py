"""Benchmark of the access decision on the read path (issue 5: "the decision adds ≤ 2 ms p99 to
a read"), on PostgreSQL, over a generated territory with its clinical record.

    .venv/bin/python bench/access_decision.py [--patients 2000] [--reads 5000]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--seal-every 1.0]

A fresh database (dropped at the end) holds the demo territory of --patients persons (directory,
accounts, identities, record as `ght demo start` loads it). The subject is the clinician named in
the most encounters. For --reads reads of Observations, half of patients the record links to that
clinician (allowed where the relation is still current: a stay ended less than a year ago...) and
half of the others (refused), one read at a time:
- the read alone: the reader's query of the row (ght.record.reader, on the asynchronous pool);
- what the gate adds to it, on each of its two paths, alternated read by read:
  - "event loop", the read route's on PostgreSQL (ght.access.async_gate): the facts on the
    asynchronous pool, the decision, the entry handed to the group-commit writer and waited for;
  - "thread", every other door's: the facts through an ORM session, the decision, the entry
    autocommitted (refused: in a transaction of its own);
  with the sealer chaining the trace every second beside it, in its own process, as `ght serve`
  runs it.
Figures: medians and p99 of each, and the ratio of the added p99 to the 2 ms limit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import func, select, text  # noqa: E402

from ght.access import facts as access_facts  # noqa: E402
from ght.access.facts import AccessRules  # noqa: E402
from ght.access.gate import AccessDenied, Gate  # noqa: E402
from ght.access.subject import subject_of_account  # noqa: E402
from ght.audit.models import AuditEntry  # noqa: E402
from ght.audit.sealer import SealerProcess  # noqa: E402
from ght.audit.trail import Action, Door  # noqa: E402
from ght.config import Settings  # noqa: E402
from ght.db.engine import make_engine, session_factory  # noqa: E402
from ght.db.scratch import scratch_database  # noqa: E402
from ght.demo.bootstrap import generate_and_load, load_identities, load_record  # noqa: E402
from ght.directory.models import Account, AccountRole, Professional  # noqa: E402
from ght.interop.fhir.resource_routes import target_of  # noqa: E402
from ght.record.models import ReferenceIndex, Resource  # noqa: E402
from ght.record.reader import PostgresReader  # noqa: E402
from ght.access.async_gate import AsyncAccess  # noqa: E402
from ght.db.async_pool import make_pool  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def busiest_clinician(db) -> tuple[Account, str]:
    """The clinician account named in the most encounters (its Practitioner id)."""
    rows = db.execute(
        select(ReferenceIndex.target_id, func.count()).where(
            ReferenceIndex.resource_type == "Encounter", ReferenceIndex.target_type == "Practitioner",
            ReferenceIndex.param == "participant").group_by(ReferenceIndex.target_id)
        .order_by(func.count().desc()).limit(50)).all()
    for practitioner_id, _ in rows:
        rpps = practitioner_id.removeprefix("pr-")
        professional = db.scalar(select(Professional).where(Professional.rpps == rpps))
        if professional is None:
            continue
        account = db.scalar(select(Account).where(Account.professional_id == professional.id))
        if account is None:  # bind an account to that professional, as a hospital would
            account = Account(username=f"bench.{rpps}", password_hash=None, professional=professional,
                              establishment_id=professional.exercises[0].establishment_id,
                              role_rows=[AccountRole(role="clinician")])
            db.add(account)
            db.commit()
        return account, practitioner_id
    raise SystemExit("no clinician named in an encounter")


def observations(db, practitioner_id: str, n: int) -> tuple[list, list]:
    """Observations of patients in the clinician's care team, and of patients outside it."""
    team = select(Resource.ght_patient_id).join(ReferenceIndex, ReferenceIndex.resource_id == Resource.id).where(
        ReferenceIndex.target_type == "Practitioner", ReferenceIndex.target_id == practitioner_id).distinct()
    inside = db.execute(select(Resource.fhir_id).where(Resource.resource_type == "Observation",
                                                       Resource.ght_patient_id.in_(team)).limit(n)).scalars().all()
    outside = db.execute(select(Resource.fhir_id).where(Resource.resource_type == "Observation",
                                                        Resource.ght_patient_id.not_in(team)).limit(n)).scalars().all()
    return list(inside), list(outside)


def explain(engine, subject, fhir_id: str) -> None:
    from datetime import UTC, datetime

    from ght.access.facts import FACTS

    with engine.connect() as connection:
        patient = connection.scalar(select(Resource.ght_patient_id).where(Resource.fhir_id == fhir_id))
        parameters = access_facts.parameters(subject, [patient], datetime.now(UTC))
        statement = FACTS[True, True].params(**parameters)
        literal = str(statement.compile(engine, compile_kwargs={"literal_binds": True, "render_postcompile": True}))
        for line in connection.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + literal)):
            print(line[0])


PATHS = ("event loop", "thread")


class Row:
    resource_type = "Observation"

    def __init__(self, current):
        self.body, self.ght_patient_id = current.body, current.ght_patient_id
        self.source_establishment_id = current.source_establishment_id


@dataclass
class Results:
    read: list = field(default_factory=list)
    paths: dict = field(default_factory=lambda: {p: {"allowed": [], "refused": [], "decision": [], "trace": []}
                                                 for p in PATHS})
    outcomes: dict = field(default_factory=lambda: {True: 0, False: 0})
    entries: int = 0
    commits: int = 0


async def measure(url: str, engine, subject, ids, args) -> Results:
    """Each read, one at a time: the row alone, then the gate on each path, alternated so that
    the machine's swings fall on both alike."""
    results = Results()
    pool = make_pool(url)
    await pool.open()
    access = AsyncAccess(pool, url, engine.dialect)
    await access.start()
    reader = PostgresReader(pool)
    reads = session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))
    rules = AccessRules()
    # The sealer as `ght serve` runs it: its own process, every second.
    sealer = SealerProcess(Settings(database_url=url, audit_seal_seconds=args.seal_every))
    sealer.start()
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        for n, (fhir_id, _) in enumerate(ids):
            started = time.perf_counter()
            current = await reader.current("Observation", fhir_id)
            results.read.append(time.perf_counter() - started)
            target = target_of(Row(current))
            reference = [f"Observation/{fhir_id}"]
            for path in (PATHS if n % 2 else PATHS[::-1]):
                timings = results.paths[path]
                started = time.perf_counter()
                with reads() as db:
                    gate = Gate(engine, db, subject, Door.FHIR, client_address="10.0.0.1", rules=rules,
                                request=(Action.READ, f"/fhir/Observation/{fhir_id}"), autocommit=True)
                    if path == "event loop":  # AsyncAccess.require, in its two steps
                        gate.know(await access.facts.load_many(subject, [target.ght_patient_id], rules, gate.now))
                        gate.decide(Action.READ, target)
                        decided = time.perf_counter()
                        try:
                            with gate.deferred() as events:
                                try:
                                    gate.require(Action.READ, target, reference)
                                    gate.flush()
                                finally:
                                    await access.trail.append(events)
                            allowed = True
                        except AccessDenied:
                            allowed = False
                    else:  # the thread's gate, as every other door runs it: the decision, then the trace
                        gate.decide(Action.READ, target)
                        decided = time.perf_counter()
                        try:
                            gate.require(Action.READ, target, reference)
                            gate.flush()
                            allowed = True
                        except AccessDenied:
                            allowed = False
                ended = time.perf_counter()
                timings["allowed" if allowed else "refused"].append(ended - started)
                timings["decision"].append(decided - started)
                timings["trace"].append(ended - decided)
                if path == "event loop":
                    results.outcomes[allowed] += 1
    finally:
        sealer.stop()
        results.entries, results.commits = access.trail.entries, access.trail.commits
        await access.stop()
        await pool.close()
        if profiler is not None:
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seal-every", type=float, default=1.0, help="seconds between two sealing rounds")
    parser.add_argument("--profile", action="store_true", help="print where the gate's time goes (cProfile)")
    parser.add_argument("--explain", action="store_true", help="print the plan of the facts query (EXPLAIN ANALYZE)")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
          + " / ".join(f"{x:.1f}" for x in os.getloadavg()), flush=True)
    url, drop = scratch_database(args.postgres, "ght_bench_access")
    engine = make_engine(url)
    try:
        with tempfile.TemporaryDirectory() as work:
            work = Path(work)
            started = time.perf_counter()
            generate_and_load(Settings(database_url=url, var_dir=work), patients=args.patients, seed=1,
                              out_dir=work / "territory", load=True, engine=engine, as_of=date.today())
            load_identities(engine, work / "territory")
            load_record(engine, work / "territory")
            print(f"territory of {args.patients} persons loaded in {time.perf_counter() - started:.0f} s", flush=True)
        sessions = session_factory(engine)
        with sessions() as db:
            db.execute(text("ANALYZE"))
            db.commit()
            resources = db.scalar(select(func.count()).select_from(Resource))
            account, practitioner_id = busiest_clinician(db)
            subject = subject_of_account(account)
            inside, outside = observations(db, practitioner_id, args.reads // 2)
        print(f"{resources} resources; subject {subject.username} ({practitioner_id}): "
              f"{len(inside)} observations in its care team, {len(outside)} outside", flush=True)
        if args.explain:
            explain(engine, subject, inside[0])
        ids = [(i, True) for i in inside] + [(i, False) for i in outside]
        random.Random(1).shuffle(ids)
        results = asyncio.run(measure(url, engine, subject, ids, args))
        with sessions() as db:
            entries = db.scalar(select(func.count()).select_from(AuditEntry))
            backlog = db.scalar(select(func.count()).where(AuditEntry.chain_seq.is_(None)))
        print(f"decisions: {results.outcomes[True]} allowed, {results.outcomes[False]} refused (each path); "
              f"{entries} trace entries, {backlog} left unsealed at the end; the event loop's trace: "
              f"{results.entries} entries in {results.commits} commits", flush=True)
        ms = lambda values, q: percentile(values, q) * 1000  # noqa: E731
        print(f"read alone (reader query): p50 {statistics.median(results.read) * 1000:.2f} ms, "
              f"p99 {ms(results.read, 0.99):.2f} ms", flush=True)
        for path in PATHS:
            timings = results.paths[path]
            everything = timings["allowed"] + timings["refused"]
            for label, values in (("allowed (care team)", timings["allowed"]), ("refused (not in it)", timings["refused"]),
                                  ("all", everything), ("all, the decision alone (facts + policy)", timings["decision"]),
                                  ("all, the trace entry alone (durable)", timings["trace"])):
                print(f"{path}: added by the gate, {label}: p50 {statistics.median(values) * 1000:.2f} ms, "
                      f"p99 {ms(values, 0.99):.2f} ms, max {max(values) * 1000:.2f} ms", flush=True)
            print(f"{path}: added p99 / 2 ms limit: {ms(everything, 0.99) / 2:.2f} (decision alone: "
                  f"{ms(timings['decision'], 0.99) / 2:.2f})", flush=True)
    finally:
        engine.dispose()
        drop()


if __name__ == "__main__":
    main()
