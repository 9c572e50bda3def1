"""Loading FHIR NDJSON files (bulk-data style, one resource a line) into the shared record.

- Patient lines are not stored: patients are the identity server's (its local identities).
- `Patient/<FINESS EJ>-<IPP>` references (how the establishments' exports name their
  patients) are rewritten to `Patient/<local identity id>` by looking the IPP up.
- Resources keep their ids (update-as-create): a re-run finds them and, unchanged, makes no
  new version; a corrected file re-run updates what changed.
- Commit per batch. A faulty line stops the load with `file:line` and the FHIR reason; every
  line before it is committed (the batch it sits in is replayed up to it).
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ght.db.engine import session_factory
from ght.directory.models import Establishment, Site
from ght.identity.models import GhtPatient, LocalIdentity
from ght.interop.fhir.outcome import FhirError, error
from ght.interop.fhir.resource_routes import RECORD_TYPES
from ght.interop.fhir.validation import ID_PATTERN, validate
from ght.record import bulk_store, store
from ght.record.models import Resource

# The directory first, so the clinical resources that name its practitioners and units follow it.
DIRECTORY_TYPES = ("Organization", "Location", "Endpoint", "Practitioner", "PractitionerRole")
# Endpoint is not (yet) served by the REST routes, but ImagingStudy names its PACS endpoint and
# $everything returns the endpoints the record references: it is stored.
LOADABLE_TYPES = frozenset(RECORD_TYPES) | {"Endpoint"}
BATCH = 1000
ACTOR = "ght record load"
_LOCAL_PATIENT = re.compile(r"Patient/(\d{9})-(.+)")

Progress = Callable[[int, int], None]


class LoadError(Exception):
    """A line that could not be loaded: where, why, and how much had been committed."""

    def __init__(self, path: Path, line: int, reason: str, committed: int) -> None:
        super().__init__(f"{path}:{line} : {reason}")
        self.path, self.line, self.reason, self.committed = path, line, reason, committed


@dataclass
class LoadResult:
    files: int = 0
    lines: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    patients_skipped: int = 0
    seconds: float = 0.0
    by_type: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def stored(self) -> int:
        return self.created + self.updated + self.unchanged

    @property
    def rate(self) -> float:
        return self.stored / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return (f"Dossier partagé : {self.stored} ressources chargées de {self.files} fichier(s) en "
                f"{self.seconds:.1f} s ({self.rate:.0f} ressources/s) : {self.created} créées, "
                f"{self.updated} modifiées, {self.unchanged} inchangées ; {self.patients_skipped} "
                f"Patient ignorés (les patients sont ceux du serveur d'identité).")


# ------------------------------------------------------------------------------ files


def _type_rank(path: Path) -> tuple[int, str]:
    stem = path.name.split(".")[0]
    if stem in DIRECTORY_TYPES:
        return DIRECTORY_TYPES.index(stem), path.name
    return len(DIRECTORY_TYPES), path.name


def ndjson_files(paths: list[Path]) -> list[Path]:
    """The files to load: each file as given; a folder's *.ndjson, its directory types first."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(path.glob("*.ndjson"), key=_type_rank)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path} : fichier ou dossier introuvable")
    return files


def count_lines(files: list[Path]) -> int:
    total = 0
    for path in files:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                total += chunk.count(b"\n")
    return total


@dataclass(frozen=True, slots=True)
class Line:
    path: Path
    number: int
    body: dict


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            if raw.strip():
                yield number, raw


def _parse(path: Path, number: int, raw: bytes) -> dict:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise error(400, "invalid", f"JSON illisible : {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
        raise error(400, "structure", "une ressource FHIR (objet JSON avec resourceType) est attendue")
    resource_type = body["resourceType"]
    if resource_type != "Patient":
        if resource_type not in LOADABLE_TYPES:
            raise error(400, "not-supported", f"type de ressource non pris en charge : {resource_type}",
                              "resourceType")
        fhir_id = body.get("id")
        if not isinstance(fhir_id, str) or not ID_PATTERN.match(fhir_id):
            raise error(400, "required", f"id absent ou invalide « {fhir_id} » : le chargement garde les ids "
                                               "(une reprise ne doit rien dupliquer)", f"{resource_type}.id")
        validate(body, resource_type)
    return body


# ------------------------------------------------------------------------------ patients


def _patient_references(node, found: list[dict]) -> None:
    """Every Reference element naming a Patient as <FINESS EJ>-<IPP>."""
    if isinstance(node, dict):
        reference = node.get("reference")
        if isinstance(reference, str) and _LOCAL_PATIENT.fullmatch(reference):
            found.append(node)
        for value in node.values():
            if isinstance(value, dict | list):
                _patient_references(value, found)
    elif isinstance(node, list):
        for value in node:
            if isinstance(value, dict | list):
                _patient_references(value, found)


class Patients:
    """(FINESS, IPP) -> local identity id, looked up a batch at a time. The identities and their
    GHT patients stay referenced for the batch, so the store's lookups hit the session."""

    def __init__(self, db: Session) -> None:
        self.db = db
        # A sender may give its site's FINESS (géographique) where the EJ is expected.
        self.establishments = dict(db.execute(select(Site.finess_et, Site.establishment_id)).all())
        self.establishments |= dict(db.execute(select(Establishment.finess_ej, Establishment.id)).all())  # EJ first
        self.held: list = []
        self.refs: dict[int, list[dict]] = {}  # id(body) -> its Patient references, found by prefetch

    def prefetch(self, bodies: list[dict]) -> dict[tuple[str, str], int]:
        wanted: dict[int, set[str]] = defaultdict(set)
        self.refs = {}
        for body in bodies:
            refs: list[dict] = []
            _patient_references(body, refs)
            self.refs[id(body)] = refs
            for ref in refs:
                finess, ipp = _LOCAL_PATIENT.fullmatch(ref["reference"]).groups()
                if finess in self.establishments:
                    wanted[self.establishments[finess]].add(ipp)
        self.held = []
        found: dict[tuple[int, str], int] = {}
        for establishment_id, ipps in wanted.items():
            rows = self.db.scalars(select(LocalIdentity).where(
                LocalIdentity.establishment_id == establishment_id, LocalIdentity.ipp.in_(sorted(ipps)),
            ).execution_options(populate_existing=True)).all()
            self.held += rows
            found |= {(r.establishment_id, r.ipp): r.id for r in rows}
        patient_ids = {r.patient_id for r in self.held}
        if patient_ids:
            self.held += self.db.scalars(select(GhtPatient).where(GhtPatient.id.in_(sorted(patient_ids)))
                                         .execution_options(populate_existing=True)).all()
        return {(finess, ipp): found[(est, ipp)] for finess, est in self.establishments.items()
                for ipp in wanted.get(est, ()) if (est, ipp) in found}

    def rewrite(self, body: dict, known: dict[tuple[str, str], int]) -> None:
        for ref in self.refs.get(id(body), ()):
            finess, ipp = _LOCAL_PATIENT.fullmatch(ref["reference"]).groups()
            identity_id = known.get((finess, ipp))
            if identity_id is None:
                where = "établissement inconnu du GHT" if finess not in self.establishments else \
                    f"IPP {ipp} inconnu du serveur d'identité pour le FINESS {finess}"
                raise error(422, "processing", f"patient inconnu : {ref['reference']} ({where})")
            ref["reference"] = f"Patient/{identity_id}"


# ------------------------------------------------------------------------------ load


def _existing(db: Session, lines: list[Line]) -> dict[tuple[str, str], int]:
    """(type, id) -> current version of the batch's resources already stored."""
    ids: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        ids[line.body["resourceType"]].append(line.body["id"])
    found: dict[tuple[str, str], int] = {}
    for resource_type, fhir_ids in ids.items():
        found |= {(resource_type, fhir_id): version for fhir_id, version in db.execute(
            select(Resource.fhir_id, Resource.version).where(
                Resource.resource_type == resource_type, Resource.fhir_id.in_(fhir_ids)))}
    return found


def _reason(exc: Exception) -> str:
    if isinstance(exc, FhirError):
        return " ; ".join(f"{i.diagnostics} ({i.expression})" if i.expression else i.diagnostics for i in exc.issues)
    return f"erreur de la base de données : {str(getattr(exc, 'orig', None) or exc).strip().splitlines()[0]}"


class Loader:
    def __init__(self, db: Session, context: store.WriteContext, result: LoadResult) -> None:
        self.db, self.context, self.result = db, context, result
        self.patients = Patients(db)

    def write(self, lines: list[Line], *, bulk: bool = True) -> None:
        """Write a batch in the session (not committed). A line that fails raises _LineFailed;
        a failure of a multi-row insert raises _BulkFailed (rerun with bulk=False to find the line)."""
        known = self.patients.prefetch([line.body for line in lines])
        existing = _existing(self.db, lines)
        sources = bulk_store.SourceCache()
        new: list[bulk_store.Prepared] = []
        pending: set[tuple[str, str]] = set()
        for line in lines:
            body, key = line.body, (line.body["resourceType"], line.body["id"])
            if key in pending:  # the same resource twice in a batch: the first must be stored first
                self._insert(new)
                new, pending = [], set()
            try:
                self.patients.rewrite(body, known)
                if key in existing:
                    written = store.update(self.db, body, body["id"], self.context)
                    self._count(key, existing[key], written.version)
                    existing[key] = written.version
                elif bulk:
                    new.append(bulk_store.prepare(self.db, body, body["id"], self.context, sources))
                    pending.add(key)
                    self._count(key, None, 1)
                    existing[key] = 1
                else:
                    store.create(self.db, body, self.context, fhir_id=body["id"])
                    self._count(key, None, 1)
                    existing[key] = 1
            except (FhirError, SQLAlchemyError) as exc:
                raise _LineFailed(line, exc) from exc
        self._insert(new)

    def _insert(self, new: list[bulk_store.Prepared]) -> None:
        if not new:
            return
        try:
            bulk_store.insert_all(self.db, new)
        except SQLAlchemyError as exc:
            raise _BulkFailed() from exc

    def _count(self, key: tuple[str, str], before: int | None, after: int) -> None:
        if before is None:
            self.result.created += 1
        elif before == after:
            self.result.unchanged += 1
        else:
            self.result.updated += 1
        self.result.by_type[key[0]] += 1


class _BulkFailed(Exception):
    pass


class _LineFailed(Exception):
    def __init__(self, line: Line, cause: Exception) -> None:
        self.line, self.cause = line, cause


def load(engine: Engine, paths: list[Path], *, batch: int = BATCH, progress: Progress | None = None,
         actor: str = ACTOR, trace=None) -> LoadResult:
    """Load NDJSON files or folders into the record; LoadError on the first faulty line.
    `trace`: the access trace of this door (ght.access.gate.SystemTrace), written with each
    committed batch."""
    files = ndjson_files(paths)
    total = count_lines(files) if progress else 0
    result = LoadResult(files=len(files))
    started = time.perf_counter()
    with session_factory(engine)() as db:
        loader = Loader(db, store.WriteContext(actor=actor, authorize=trace.authorize_write if trace else None),
                        result)

        def commit() -> None:
            if trace is not None:
                trace.flush(db)
            db.commit()

        def rollback() -> None:
            db.rollback()
            if trace is not None:
                trace.discard()
        pending: list[Line] = []
        committed = 0

        def flush() -> None:
            nonlocal committed, pending
            if not pending:
                return
            saved = _snapshot(result)
            try:
                try:
                    loader.write(pending)
                    commit()
                except _BulkFailed:  # a multi-row insert failed: line by line to name the faulty one
                    rollback()
                    _restore(result, saved)
                    loader.write(pending, bulk=False)
                    commit()
            except _LineFailed as failed:
                rollback()
                _restore(result, saved)
                done = pending[:pending.index(failed.line)]
                if done:  # replay what preceded the faulty line: it was valid
                    loader.write(done)
                    commit()
                    committed += len(done)
                raise LoadError(failed.line.path, failed.line.number, _reason(failed.cause), committed) from None
            committed += len(pending)
            pending = []

        for path in files:
            for number, raw in _lines(path):
                result.lines += 1
                try:
                    body = _parse(path, number, raw)
                except FhirError as exc:
                    flush()
                    raise LoadError(path, number, _reason(exc), committed) from None
                if body["resourceType"] == "Patient":
                    result.patients_skipped += 1
                else:
                    pending.append(Line(path, number, body))
                if len(pending) >= batch:
                    flush()
                    if progress:
                        progress(result.lines, total)
            flush()
            if progress:
                progress(result.lines, total)
    result.seconds = time.perf_counter() - started
    return result


def _snapshot(result: LoadResult) -> tuple:
    return result.created, result.updated, result.unchanged, dict(result.by_type)


def _restore(result: LoadResult, saved: tuple) -> None:
    result.created, result.updated, result.unchanged, by_type = saved
    result.by_type = defaultdict(int, by_type)
