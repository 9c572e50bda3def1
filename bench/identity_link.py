"""Benchmark of identity linkage: our batch pipeline beside a plain Splink model, same data,
same run; and the online matcher's latency beside Splink's own pair scoring.

    .venv/bin/python bench/identity_link.py --identities 10000 100000 [--seed 3]
    .venv/bin/python bench/identity_link.py --online-base 100000 [--online 500] [--online-db base.db]

For each size a synthetic territory is generated (about 1.38 local identities per person);
each linker runs in its own process so that its peak memory (max RSS) is its own: `ght` is
`ght identity link` as run without a base (the links file only), `splink` a plain Splink model,
`ght-base` the initial load of an identity base into a SQLite file (`--database`: the same
linkage, then the base written). Quality is pairwise, against the generator's ground truth
(ght.identity.evaluate).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IDENTITIES_PER_PERSON = 1.38


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """CPU time of this process, all threads (DuckDB uses both cores): on a machine shared with
    other work, wall time grows with the load, this much less."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _score(links: Path, truth: Path) -> dict:
    from ght.identity.evaluate import evaluate

    result = evaluate(links, truth)
    return {"precision": result.precision, "recall": result.recall, "f1": result.f1,
            "false_merges": len(result.false_merges), "missed_links": len(result.missed_links),
            "review": result.review_queue, "identities": result.identities}


def run_ght(folder: Path, *, base: bool = False) -> dict:
    """`ght identity link` on the file: the links alone (its default, no base), or with `base`
    the initial load of an identity base into a SQLite file (`--database`), split into the
    linkage and the storing of the base."""
    from ght.db.engine import make_engine, session_factory
    from ght.db.migrate import upgrade
    from ght.identity.batch import link_rows
    from ght.identity.csvio import read_identities, write_links

    started = time.perf_counter()
    engine = None
    if base:
        engine = make_engine(f"sqlite:///{folder / 'base.db'}")
        upgrade(engine)
        _register_establishments(engine, folder / "identities.csv")
    path = folder / "identities.csv"
    rows = read_identities(path)
    marks: dict[str, float] = {}
    mark = lambda step, done, total: marks.setdefault(step, time.perf_counter())  # noqa: E731
    if engine is None:
        patient_ids, linkage, _ = link_rows(None, path, rows, actor="bench", register_unknown=False, progress=mark)
    else:
        with session_factory(engine)() as db:
            patient_ids, linkage, _ = link_rows(db, path, rows, actor="bench", register_unknown=False, progress=mark)
            db.commit()
        engine.dispose()
    stored = time.perf_counter()
    links = folder / "links-ght.csv"
    write_links(links, ((r.data.finess, r.data.ipp, p, d) for r, p, d in zip(rows, patient_ids, linkage.decisions, strict=True)))
    result = {"seconds": time.perf_counter() - started, "peak_mb": _peak_mb(), "cpu_seconds": _cpu_seconds(),
              **_score(links, folder / "ground_truth.csv")}
    if base:
        # Linkage proper (read, normalise, train, score, cluster), then the writing of the identity
        # base (identities, history, link events, features, blocking keys), which Splink does not do.
        result |= {"link_seconds": marks["regroupement"] - started, "store_seconds": stored - marks["regroupement"]}
        (folder / "base.db").unlink()
    return result


def _register_establishments(engine, path: Path) -> None:
    """The establishments of the file, as the GHT directory would hold them before a load."""
    import csv

    from ght.db.engine import session_factory
    from ght.directory.models import Establishment

    with path.open() as handle:
        sources = sorted({row["source"] for row in csv.DictReader(handle)})
    with session_factory(engine)() as db:
        db.add_all(Establishment(finess_ej=f, name=f, short_name=f, role="partie") for f in sources)
        db.commit()


def run_splink(folder: Path) -> dict:
    """Splink as its documentation sets it up for people data: its comparison library, u by
    random sampling, m by EM, clusters at a match probability of 0.999 (our link threshold)."""
    import csv
    import logging

    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"""CREATE TABLE people AS SELECT source || '|' || local_id AS unique_id, *
                    FROM read_csv('{folder / 'identities.csv'}', all_varchar = true)""")
    api = DuckDBAPI(connection=con)
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.NameComparison("birth_name"), cl.NameComparison("given_names"),
            cl.DateOfBirthComparison("birth_date", input_is_string=True),
            cl.ExactMatch("sex"), cl.ExactMatch("birth_place"), cl.ExactMatch("postcode"),
            cl.ExactMatch("phone"), cl.ExactMatch("ins"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("birth_date"), block_on("birth_name", "substr(birth_date, 1, 4)"), block_on("ins"),
        ],
    )
    linker = Linker(api.register("people"), settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("ins"), block_on("birth_name", "given_names", "birth_date")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_name", "given_names"))
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.999)
    rows = con.execute(f"SELECT unique_id, cluster_id FROM {clusters.physical_name}").fetchall()
    review_ids = {r[0] for r in con.execute(
        f"SELECT unique_id_l FROM {predictions.physical_name} WHERE match_probability < 0.999 "
        f"UNION SELECT unique_id_r FROM {predictions.physical_name} WHERE match_probability < 0.999").fetchall()}
    clustered = dict(rows)
    links = folder / "links-splink.csv"
    with links.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["source", "local_id", "patient_id", "decision"])
        for uid, cluster_id in clustered.items():
            source, local_id = uid.split("|", 1)
            writer.writerow([source, local_id, cluster_id, "review" if uid in review_ids else "linked"])
    return {"seconds": time.perf_counter() - started, "peak_mb": _peak_mb(), "cpu_seconds": _cpu_seconds(),
            **_score(links, folder / "ground_truth.csv")}


def _worker(kind: str, folder: Path) -> dict:
    output = subprocess.run([sys.executable, __file__, "--worker", kind, str(folder)],
                            capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _percentiles(timings: list[float]) -> tuple[float, float, float]:
    timings = sorted(timings)
    return statistics.median(timings), timings[int(0.99 * (len(timings) - 1))], timings[-1]


def _splink_scorer(parameters: dict):
    """Splink 5 with our trained model (same comparisons, same m/u): `score_pairs` scores
    the cartesian product of two lists of records, here one probe and its candidates."""
    import logging

    import duckdb
    from splink import DuckDBAPI, Linker

    from ght.identity.features import FEATURE_COLUMNS
    from ght.identity.training import splink_settings

    con = duckdb.connect()
    con.execute(f"CREATE TABLE features (unique_id BIGINT, {', '.join(f'{c} VARCHAR' for c in FEATURE_COLUMNS)})")
    linker = Linker(DuckDBAPI(connection=con).register("features"), splink_settings(parameters), log_level=logging.ERROR)

    def score(probe: dict, candidates: list[dict]) -> list[float]:
        scored = linker.inference.score_pairs([probe], candidates)
        return [row[0] for row in con.execute(f"SELECT match_weight FROM {scored.physical_name}").fetchall()]

    return score


def _warm(database: Path) -> None:
    """Read the base's files once, as a server that has been serving holds them in memory: this
    virtual machine's page cache is sometimes emptied by its host (free showed 0 GB cached after
    an idle hour), and a probe reading a 1.6 GB base from disk measures the disk, not the matcher."""
    started, size = time.perf_counter(), 0
    for path in (database, database.with_name(database.name + "-wal")):
        if path.exists():
            with path.open("rb") as file:
                while chunk := file.read(1 << 24):
                    size += len(chunk)
    print(f"base files read once before timing: {size / 2**20:,.0f} MiB in {time.perf_counter() - started:.1f} s")


def online(base_identities: int, probes: int, seed: int, database: Path | None = None) -> None:
    """p50/p99 of linking one new identity (candidates from the index, scoring, decision,
    writes) against a base loaded by the batch, each probe rolled back so the base stays the
    same; beside it, Splink's own scoring (`score_pairs`) of the same candidates with the same
    model, and our scoring alone of those candidates."""
    from sqlalchemy import func, select

    from ght.db.engine import make_engine, session_factory
    from ght.db.migrate import upgrade
    from ght.demo import GeneratorConfig, generate
    from ght.identity.batch import link_rows
    from ght.identity.csvio import read_identities
    from ght.identity.features import FEATURE_COLUMNS
    from ght.identity.linkage import candidate_rows, identity_features
    from ght.identity.models import LocalIdentity
    from ght.identity.scoring import active_model
    from ght.identity.service import record_identity

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        generate(GeneratorConfig(patients=round((base_identities + probes) / IDENTITIES_PER_PERSON), seed=seed, clinical=False), folder)
        path = folder / "identities.csv"
        rows = read_identities(path)
        base, probe_rows = rows[:-probes], rows[-probes:]
        engine = make_engine(f"sqlite:///{database or folder / 'base.db'}")
        upgrade(engine)
        with session_factory(engine)() as db:
            stored = db.scalar(select(func.count()).select_from(LocalIdentity))
            if stored == 0:
                link_rows(db, path, base, actor="bench", register_unknown=True)
                db.commit()
            elif stored != len(base):
                raise SystemExit(f"{database} holds {stored} identities, not the {len(base)} of this base")
        _warm(Path(engine.url.database))
        timings, cpu_timings, ours, splink, counts, disagree = [], [], [], [], [], 0
        load = os.getloadavg()[0]
        with session_factory(engine)() as db:
            model = active_model(db)
            splink_score = _splink_scorer(model.parameters)
            for row in probe_rows:
                started, cpu = time.perf_counter(), time.process_time()
                result = record_identity(db, row.data, actor="bench", channel="bench")
                db.flush()
                timings.append((time.perf_counter() - started) * 1000)
                cpu_timings.append((time.process_time() - cpu) * 1000)
                # The candidates the matcher compared the probe with (itself now excluded).
                f = identity_features(db.get(LocalIdentity, result.identity_id))
                found = [c for c in candidate_rows(db, f) if c.id != result.identity_id]
                db.rollback()
                counts.append(len(found))
                if not found:
                    continue
                started = time.perf_counter()
                weights = [model.score(f, c.features).weight for c in found]
                ours.append((time.perf_counter() - started) * 1000)
                probe = {"unique_id": 0, **{n: getattr(f, n) for n in FEATURE_COLUMNS}}
                records = [{"unique_id": c.id, **{n: getattr(c.features, n) for n in FEATURE_COLUMNS}} for c in found]
                started = time.perf_counter()
                theirs = splink_score(probe, records)
                splink.append((time.perf_counter() - started) * 1000)
                disagree += max(abs(a - b) for a, b in zip(sorted(weights), sorted(theirs), strict=True)) > 1e-6
        p50, p99, top = _percentiles(timings)
        print(f"online matching against {len(base)} identities ({probes} probes, candidates per probe: "
              f"median {statistics.median(counts):.0f}, max {max(counts)}): "
              f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {top:.2f} ms (limit p99 20 ms: ratio {p99 / 20:.2f})")
        p50, p99, top = _percentiles(cpu_timings)
        print(f"  CPU time of the same probes: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {top:.2f} ms "
              f"(load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at end)")
        for name, values in (("ght scoring only", ours), ("Splink score_pairs", splink)):
            p50, p99, top = _percentiles(values)
            print(f"  {name} of the same candidates ({len(values)} probes with candidates): "
                  f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {top:.2f} ms")
        print(f"  probes where Splink's match weights differ from ght's: {disagree}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--identities", type=int, nargs="*", default=[10000, 100000])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--online-base", type=int)
    parser.add_argument("--online", type=int, default=500)
    parser.add_argument("--online-db", type=Path, help="SQLite file of the online base: built if empty, reused after")
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, folder = args.worker
        runs = {"ght": run_ght, "ght-base": lambda f: run_ght(f, base=True), "splink": run_splink}
        print(json.dumps(runs[kind](Path(folder))))
        return
    if args.online_base:
        online(args.online_base, args.online, args.seed, args.online_db)
        return
    from ght.demo import GeneratorConfig, generate

    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| identities | linker | wall s | of which linkage / storing s | CPU s | peak MB | precision | recall | F1 | false-merge pairs | missed links | review |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for size in args.identities:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            generate(GeneratorConfig(patients=round(size / IDENTITIES_PER_PERSON), seed=args.seed, clinical=False), folder)
            for kind in ("ght", "splink", "ght-base"):
                r = _worker(kind, folder)
                split = f"{r['link_seconds']:.1f} / {r['store_seconds']:.1f}" if "link_seconds" in r else "—"
                print(f"| {r['identities']} | {kind} | {r['seconds']:.1f} | {split} | {r['cpu_seconds']:.0f} | {r['peak_mb']:.0f} | {r['precision']:.5f} | "
                      f"{r['recall']:.5f} | {r['f1']:.5f} | {r['false_merges']} | {r['missed_links']} | {r['review']} |"
                      f" (load {os.getloadavg()[0]:.2f})", flush=True)


if __name__ == "__main__":
    main()
