"""Orchestration: plan in the parent, build persons in worker processes, write in order.

1. The directory (establishments, professionals) is built; it does not depend on the seed.
2. Plan: every person's NIR is drawn (in parallel), then, in index order, the homonym
   copies are made and NIR collisions moved to the next free order number.
3. Persons are built by chunks of fixed size in worker processes; the parent writes the
   chunks in index order. A person's output depends only on (seed, index, plan), so the
   files are byte-identical whatever the number of workers.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import IO, Any

import orjson

from ght.demo import fhir
from ght.demo.config import GeneratorConfig, IdentityErrorRates
from ght.demo.model import Establishment, Professional, Territory
from ght.demo.persons import PersonPlan, nir13s, plan_homonyms, plan_persons
from ght.demo.records import (
    GROUND_TRUTH_HEADER,
    IDENTITIES_HEADER,
    PERSONS_HEADER,
    RESOURCE_TYPES,
    Context,
    build_chunk,
    new_context,
)
from ght.demo import pmsi
from ght.demo.territory import CATCHMENT, build_establishments, build_professionals

CHUNK = 500  # persons per task; it shapes no output, so it may change freely
PLAN_CHUNK = 10_000
DIRECTORY_TYPES = ("Organization", "Location", "Practitioner", "Endpoint")

Progress = Callable[[int, int], None]

# Per-worker state, set by _init_worker.
_WORKER: dict[str, Any] = {}

Chunk = dict[str, bytes | bytearray]
Counts = dict[str, int]


def _directory() -> tuple[list[Establishment], list[Professional]]:
    establishments = build_establishments()
    return establishments, build_professionals(establishments)


def _init_worker(seed: int, as_of: date, rates: IdentityErrorRates, clinical: bool) -> None:
    establishments, professionals = _directory()
    _WORKER.update(seed=seed, as_of=as_of, rates=rates, clinical=clinical,
                   establishments=establishments, professionals=professionals)


def _nirs_task(bounds: tuple[int, int]) -> list[str]:
    return nir13s(_WORKER["seed"], range(*bounds), _WORKER["as_of"])


def _build(start: int, stop: int, plan: PersonPlan) -> tuple[Chunk, Counts]:
    ctx: Context | None = _WORKER.get("ctx")
    if ctx is None:
        ctx = new_context(_WORKER["seed"], _WORKER["as_of"], _WORKER["rates"], _WORKER["clinical"],
                          plan, _WORKER["establishments"], _WORKER["professionals"], CATCHMENT)
        _WORKER["ctx"] = ctx
    ctx.plan = plan
    return build_chunk(ctx, start, stop)


def _part_name(parts: Path, start: int, name: str) -> Path:
    return parts / f"{start:010d}-{name.replace('/', '-')}"


def _records_task(task: tuple[int, int, PersonPlan, Path]) -> tuple[list[str], Counts]:
    """Build a chunk into part files: the parent appends them with a kernel copy, cheaper
    than sending hundreds of megabytes through a pipe."""
    start, stop, plan, parts = task
    chunk, counts = _build(start, stop, plan)
    written = []
    for name, data in chunk.items():
        if data:
            _part_name(parts, start, name).write_bytes(data)
            written.append(name)
    return written, counts


def _bounds(total: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, total)) for start in range(0, total, size)]


def _append(dst: int, src_path: Path) -> None:
    with open(src_path, "rb") as src:
        size = os.fstat(src.fileno()).st_size
        copy_range = getattr(os, "copy_file_range", None)
        copied = 0
        if copy_range is not None:
            try:
                while copied < size:
                    step = copy_range(src.fileno(), dst, size - copied)
                    if step == 0:
                        break
                    copied += step
            except OSError:
                pass  # file systems without copy_file_range: plain copy below
        if copied < size:
            src.seek(copied)
            while block := src.read(1 << 20):
                os.write(dst, block)
    src_path.unlink()


class _Files:
    """The output files, opened once, written in chunk order."""

    def __init__(self, out: Path, clinical: bool) -> None:
        (out / "fhir").mkdir(parents=True, exist_ok=True)
        for rtype in RESOURCE_TYPES:
            # A previous run with clinical data must not leave stale files behind.
            (out / "fhir" / f"{rtype}.ndjson").unlink(missing_ok=True)
        names = ["identities.csv", "ground_truth.csv", "persons.csv"]
        if clinical:
            names += [f"fhir/{rtype}.ndjson" for rtype in RESOURCE_TYPES]
        # Unbuffered: chunks are written whole, or appended at the descriptor level.
        self._stack = ExitStack()
        self.handles: dict[str, IO[bytes]] = {
            name: self._stack.enter_context(open(out / name, "wb", buffering=0))
            for name in names}
        self.counts: Counts = dict.fromkeys(names, 0)
        for name, header in (("identities.csv", IDENTITIES_HEADER),
                             ("ground_truth.csv", GROUND_TRUTH_HEADER),
                             ("persons.csv", PERSONS_HEADER)):
            self.handles[name].write((",".join(header) + "\n").encode("utf-8"))

    def count(self, counts: Counts) -> None:
        self.counts["identities.csv"] += counts["identities"]
        self.counts["ground_truth.csv"] += counts["identities"]
        self.counts["persons.csv"] += counts["persons"]
        for name, count in counts.items():
            if name.startswith("fhir/"):
                self.counts[name] += count

    def write(self, chunk: Chunk) -> None:
        for name, data in chunk.items():
            view = memoryview(data)
            while view:
                view = view[self.handles[name].write(view):]

    def append_parts(self, parts: Path, start: int, names: list[str]) -> None:
        for name in names:
            _append(self.handles[name].fileno(), _part_name(parts, start, name))

    def close(self) -> None:
        self._stack.close()


def _write_directory(out: Path, establishments: list[Establishment],
                     professionals: list[Professional]) -> dict[str, int]:
    resources: dict[str, list[dict[str, Any]]] = {rtype: [] for rtype in DIRECTORY_TYPES}
    for est in establishments:
        resources["Organization"] += fhir.organizations(est)
        resources["Location"] += fhir.locations(est)
        resources["Endpoint"] += fhir.endpoints(est)
    support_ej = establishments[0].finess_ej
    resources["Practitioner"] = [fhir.practitioner(pro, support_ej) for pro in professionals
                                 if pro.rpps or pro.adeli or pro.directory_id]
    counts = {}
    for rtype, items in resources.items():
        name = f"fhir/{rtype}.ndjson"
        (out / name).write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in items))
        counts[name] = len(items)
    return counts


def _run(config: GeneratorConfig, out: Path, files: _Files,
         homonyms: list[tuple[int, int]]) -> Iterator[int]:
    """Build every chunk into `files`, in index order; yield the persons done so far."""
    total = config.patients
    init_args = (config.seed, config.as_of, config.rates, config.clinical)
    plan_bounds = _bounds(total, PLAN_CHUNK)
    if config.workers == 1 or total <= CHUNK:
        _init_worker(*init_args)
        try:
            nirs = [n for bounds in plan_bounds for n in _nirs_task(bounds)]
            plan = plan_persons(config.seed, config.as_of, nirs, homonyms)
            for start, stop in _bounds(total, CHUNK):
                chunk, counts = _build(start, stop, plan.subset(start, stop))
                files.write(chunk)
                files.count(counts)
                yield stop
        finally:
            _WORKER.clear()
        return
    # fork where there is one: workers start at once with the tables already loaded, and
    # scripts calling generate() need no `if __name__ == "__main__"` guard. The generator
    # starts no thread, so nothing is inherited half-locked.
    methods = multiprocessing.get_all_start_methods()
    mp = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    parts = Path(tempfile.mkdtemp(prefix=".parts-", dir=out))
    try:
        with mp.Pool(config.workers, initializer=_init_worker, initargs=init_args) as pool:
            nirs = [n for part in pool.imap(_nirs_task, plan_bounds) for n in part]
            plan = plan_persons(config.seed, config.as_of, nirs, homonyms)
            tasks = [(start, stop, plan.subset(start, stop), parts)
                     for start, stop in _bounds(total, CHUNK)]
            for (start, stop, _, _), (names, counts) in zip(
                    tasks, pool.imap(_records_task, tasks), strict=True):
                files.append_parts(parts, start, names)
                files.count(counts)
                yield stop
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def generate(config: GeneratorConfig, out_dir: str | Path,
             progress: Progress | None = None) -> Territory:
    """Build the territory into `out_dir` (created if needed) and describe it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    establishments, professionals = _directory()
    total = config.patients
    homonyms = plan_homonyms(config.seed, total, config.homonym_pair_count)

    files = _Files(out, config.clinical)
    if progress:
        progress(0, total)
    try:
        for done in _run(config, out, files, homonyms):
            if progress:
                progress(done, total)
    finally:
        files.close()
    counts = dict(files.counts)
    counts.update(_write_directory(out, establishments, professionals))
    counts.update(pmsi.write(out, config.seed, config.as_of))
    counts = dict(sorted(counts.items()))
    manifest = {
        "generator": "ght.demo",
        "format_version": 1,
        "seed": config.seed,
        "patients": config.patients,
        "as_of": config.as_of.isoformat(),
        "rates": asdict(config.rates),
        "homonym_pairs": len(homonyms),
        "clinical": config.clinical,
        "persons": counts["persons.csv"],
        "identities": counts["identities.csv"],
        "establishments": [
            {"finess_ej": e.finess_ej, "name": e.name, "role": e.role} for e in establishments
        ],
        "files": counts,
    }
    (out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    return Territory(
        establishments=establishments,
        professionals=professionals,
        person_count=counts["persons.csv"],
        identity_count=counts["identities.csv"],
        files=counts,
        seed=config.seed,
        generated_on=config.as_of,
    )
