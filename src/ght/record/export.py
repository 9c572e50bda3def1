"""Bulk `$export` jobs (FHIR Bulk Data Access IG): the NDJSON files of a system, patient or group
export, written in the background under <var>/bulk-export/<job id>/.

- system: every resource of the record, every local Patient and GHT Patient;
- patient: the resources of the patient compartment (those with a patient), and the Patients;
- group: the patients of one establishment (Group id = its FINESS EJ, or a FINESS ET of one of
  its sites): each GHT patient with an active local identity there, with its territory-wide
  record (every establishment's resources), its local Patients and its GHT Patient.

Rows are streamed (yield_per), files written as they come: memory does not grow with the export.
The transaction time is taken when the job starts; resources changed after it are left for the
next export (`_since` = this transactionTime). Patients are rendered at their current version.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Protocol

import orjson
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, selectinload

from ght.db.base import utcnow
from ght.db.engine import session_factory
from ght.directory.lookup import juridique_finess
from ght.directory.models import Establishment
from ght.identity.models import GhtPatient, LocalIdentity
from ght.interop.fhir import patient_versions
from ght.record.export_models import (
    ACCEPTED, CANCELLED, COMPLETED, FAILED, RUNNING, UNFINISHED, BulkExportJob,
)
from ght.record.loader import LOADABLE_TYPES
from ght.record.models import Resource

log = logging.getLogger("ght.bulk_export")

EXPORT_TYPES = ("Patient", *sorted(LOADABLE_TYPES))
FETCH = 1000  # rows per fetch from the database
FILE_LINES = 100_000  # resources per NDJSON file; a bigger type gets several files
CHUNK = 500  # patients per query of a group export
PROGRESS_SECONDS = 2.0
HOST = socket.gethostname()
_LIVE_WORKERS: set[str] = set()  # the job runners of this process (one per application)
INTERRUPTED = "export interrompu : le serveur a redémarré pendant son exécution ; relancer la demande"


def new_job_id() -> str:
    return str(uuid.uuid4())


def job_dir(root: Path, job_id: str) -> Path:
    return root / job_id


class Cancelled(Exception):
    pass


# ------------------------------------------------------------------------------ files


class Writer:
    """The NDJSON files of one job: `<Type>-<n>.ndjson`, FILE_LINES resources each at most."""

    def __init__(self, directory: Path, tick: Callable[[str, int], None]) -> None:
        self.directory, self.tick = directory, tick
        self.open: dict[str, tuple[IO[bytes], dict]] = {}
        self.output: list[dict] = []  # {"type", "file", "count"} in the order files were begun
        self.total = 0

    def write(self, resource_type: str, body: dict) -> None:
        handle, entry = self.open.get(resource_type, (None, None))
        if entry is None or entry["count"] >= FILE_LINES:
            if handle:
                handle.close()
            n = sum(1 for e in self.output if e["type"] == resource_type) + 1
            entry = {"type": resource_type, "file": f"{resource_type}-{n}.ndjson", "count": 0}
            handle = (self.directory / entry["file"]).open("wb")
            self.open[resource_type] = (handle, entry)
            self.output.append(entry)
        handle.write(orjson.dumps(body) + b"\n")
        entry["count"] += 1
        self.total += 1
        if self.total % FETCH == 0:
            self.tick(resource_type, self.total)

    def close(self) -> None:
        for handle, _ in self.open.values():
            handle.close()
        self.open = {}


# ------------------------------------------------------------------------------ what to export


@dataclass(frozen=True)
class Scope:
    level: str  # system | patient | group
    types: tuple[str, ...]
    since: datetime | None
    until: datetime
    members: list[str] | None = None  # group: its GHT patients (survivors)
    related: list[str] | None = None  # group: those and the patients merged into them


def group_establishment(db: Session, group_id: str) -> Establishment | None:
    finess = juridique_finess(db, group_id)
    return db.scalar(select(Establishment).where(Establishment.finess_ej == finess))


def group_patients(db: Session, establishment_id: int) -> tuple[list[str], list[str]]:
    """The GHT patients of an establishment's active local identities (their merge survivors), and
    every GHT patient id that resolves to one of them (resources keep the id they were written with)."""
    merged = dict(db.execute(select(GhtPatient.id, GhtPatient.merged_into).where(GhtPatient.merged_into.is_not(None))).all())

    def survivor(patient_id: str) -> str:
        seen = set()
        while patient_id in merged and patient_id not in seen:
            seen.add(patient_id)
            patient_id = merged[patient_id]
        return patient_id

    direct = db.scalars(select(LocalIdentity.patient_id).where(
        LocalIdentity.establishment_id == establishment_id, LocalIdentity.active.is_(True)))
    members = {survivor(p) for p in direct}
    related = members | {p for p in merged if survivor(p) in members}
    return sorted(members), sorted(related)


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


# What the access gate decides on (ght.access.gate.Gate.keep), beside the body.
_COLUMNS = (Resource.resource_type, Resource.fhir_id, Resource.ght_patient_id, Resource.source_establishment_id,
            Resource.body)


def _resource_queries(scope: Scope, resource_types: list[str]) -> Iterable:
    def base(query):
        query = query.where(Resource.deleted.is_(False), Resource.last_updated <= scope.until)
        if scope.since is not None:
            query = query.where(Resource.last_updated > scope.since)
        return query

    if scope.level == "group":
        for chunk in _chunks(scope.related or []):
            yield base(select(*_COLUMNS).where(
                Resource.resource_type.in_(resource_types), Resource.ght_patient_id.in_(chunk))).order_by(Resource.id)
        return
    for resource_type in resource_types:
        query = base(select(*_COLUMNS).where(Resource.resource_type == resource_type))
        if scope.level == "patient":
            query = query.where(Resource.ght_patient_id.is_not(None))
        yield query.order_by(Resource.id)


def _local_patients(db: Session, scope: Scope) -> Iterator[dict]:
    def rendered(query) -> Iterator[dict]:
        if scope.since is not None:
            query = query.where(LocalIdentity.updated_at > scope.since)
        for identity in db.scalars(query.order_by(LocalIdentity.id).execution_options(yield_per=FETCH)):
            found = patient_versions.read(db, identity)
            if found is not None:
                yield _Identity(str(identity.id), identity.patient_id, found.body)

    if scope.level == "group":
        for chunk in _chunks(scope.related or []):
            yield from rendered(select(LocalIdentity).where(LocalIdentity.patient_id.in_(chunk)))
    else:
        yield from rendered(select(LocalIdentity))


def _ght_patients(db: Session, scope: Scope, ght_oid: str) -> Iterator[dict]:
    def rendered(query) -> Iterator[dict]:
        query = query.options(selectinload(GhtPatient.identities)).order_by(GhtPatient.id)
        for patient in db.scalars(query.execution_options(yield_per=FETCH)):
            if scope.since is not None and patient.created_at <= scope.since and \
                    all(i.updated_at <= scope.since for i in patient.identities):
                continue
            yield _Identity(patient.id, patient.id, patient_versions.ght_patient(db, patient, ght_oid))

    if scope.level == "group":
        for chunk in _chunks(scope.members or []):
            yield from rendered(select(GhtPatient).where(GhtPatient.id.in_(chunk)))
    else:
        yield from rendered(select(GhtPatient))


@dataclass(frozen=True, slots=True)
class _Identity:
    """A Patient seen as a row of the record, for the access gate."""

    fhir_id: str
    ght_patient_id: str
    body: dict
    resource_type: str = "Patient"
    source_establishment_id: int | None = None


class ExportGate(Protocol):
    """The requester's access gate for an export (see ght.interop.fhir.bulk_routes)."""

    def keep(self, rows: list) -> list: ...  # the rows the requester may see (others traced as refused)
    def flush(self) -> None: ...  # trace what was kept so far


def export_into(db: Session, scope: Scope, writer: Writer, ght_oid: str, gate: ExportGate) -> None:
    """Write what the scope selects and the requester may see: the gate decides on each
    resource and traces the export, patient by patient, a batch of rows at a time."""
    def kept(rows) -> Iterator:
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) == FETCH:
                yield from gate.keep(batch)
                gate.flush()
                batch = []
        yield from gate.keep(batch)
        gate.flush()

    if "Patient" in scope.types:
        for row in kept(_local_patients(db, scope)):
            writer.write("Patient", row.body)
        for row in kept(_ght_patients(db, scope, ght_oid)):
            writer.write("Patient", row.body)
    others = [t for t in scope.types if t != "Patient"]
    if not others:
        return
    for query in _resource_queries(scope, others):
        for row in kept(db.execute(query.execution_options(yield_per=FETCH))):
            writer.write(row.resource_type, row.body)


# ------------------------------------------------------------------------------ jobs


class BulkExports:
    """Runs the jobs of this server process in background threads, one at a time (an export reads
    the whole record: two at once would only share the same disk and cores)."""

    def __init__(self, engine: Engine, root: Path, ght_oid: str, gate_for: Callable[[Session, int], ExportGate]) -> None:
        """`gate_for(db, account_id)`: the access gate of the job's requester."""
        self.engine, self.root, self.ght_oid, self.gate_for = engine, root, ght_oid, gate_for
        self.worker = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        _LIVE_WORKERS.add(self.worker)
        self.sessions = session_factory(engine)
        self.slot = threading.Semaphore(1)
        self.cancels: dict[str, threading.Event] = {}

    def submit(self, job_id: str) -> None:
        event = threading.Event()
        self.cancels[job_id] = event
        threading.Thread(target=self._run, args=(job_id, event), name=f"export-{job_id[:8]}", daemon=True).start()

    def cancel(self, job_id: str) -> bool:
        """Ask a job of this process to stop; it removes its files and row. False if it has no thread here."""
        event = self.cancels.get(job_id)
        if event is None:
            return False
        event.set()
        return True

    def remove(self, job_id: str) -> None:
        shutil.rmtree(job_dir(self.root, job_id), ignore_errors=True)
        with self.sessions() as db:
            job = db.get(BulkExportJob, job_id)
            if job is not None:
                db.delete(job)
                db.commit()

    def _run(self, job_id: str, cancel: threading.Event) -> None:
        with self.slot:
            try:
                self._execute(job_id, cancel)
            except Cancelled:
                self.remove(job_id)
            except Exception:  # noqa: BLE001 - a failed job must say so, whatever the cause
                log.exception("bulk export failed", extra={"job": job_id})
                shutil.rmtree(job_dir(self.root, job_id), ignore_errors=True)
                self._finish(job_id, FAILED, error="échec de l'export (erreur interne, voir le journal du serveur)")
            finally:
                self.cancels.pop(job_id, None)

    def _execute(self, job_id: str, cancel: threading.Event) -> None:
        with self.sessions() as control, self.sessions() as db:
            job = control.get(BulkExportJob, job_id)
            if job is None:
                return
            if job.status != ACCEPTED or cancel.is_set():
                raise Cancelled()
            # Started only if still accepted: a DELETE committed since the read above set it
            # cancelled, which a plain write of the object would overwrite (the job then
            # looked running again to its client until its thread saw the cancel).
            now = utcnow()
            started = control.execute(update(BulkExportJob).where(
                BulkExportJob.id == job_id, BulkExportJob.status == ACCEPTED,
            ).values(status=RUNNING, transaction_time=now, updated_at=now))
            control.commit()
            if started.rowcount != 1:
                raise Cancelled()
            scope = Scope(job.level, tuple(job.types or EXPORT_TYPES), job.since, now)
            if job.level == "group":
                establishment = group_establishment(db, job.group_id)
                members, related = group_patients(db, establishment.id) if establishment else ([], [])
                scope = Scope(job.level, scope.types, scope.since, scope.until, members, related)
            last = [time.monotonic()]

            def tick(resource_type: str, total: int) -> None:
                if cancel.is_set():
                    raise Cancelled()
                if time.monotonic() - last[0] >= PROGRESS_SECONDS:
                    last[0] = time.monotonic()
                    control.execute(update(BulkExportJob).where(BulkExportJob.id == job_id).values(
                        progress=f"{total} ressources ({resource_type})", updated_at=utcnow()))
                    control.commit()

            directory = job_dir(self.root, job_id)
            directory.mkdir(parents=True, exist_ok=True)
            writer = Writer(directory, tick)
            try:
                export_into(db, scope, writer, self.ght_oid, self.gate_for(db, job.account_id))
            finally:
                writer.close()
            db.rollback()
            if cancel.is_set() or not self._finish(job_id, COMPLETED, output=writer.output,
                                                   progress=f"{writer.total} ressources"):
                raise Cancelled()

    def _finish(self, job_id: str, status: str, **values) -> bool:
        """Record the outcome of a running job; False when it was cancelled meanwhile."""
        with self.sessions() as db:
            done = db.execute(update(BulkExportJob).where(
                BulkExportJob.id == job_id, BulkExportJob.status == RUNNING,
            ).values(status=status, finished_at=utcnow(), updated_at=utcnow(), **values))
            db.commit()
            return done.rowcount == 1


def _worker_gone(worker: str) -> bool:
    """Whether the process that ran a job has ended. Another machine's jobs are its own to recover
    (several `ght serve` may share the database); on this one, a process that no longer exists."""
    host, _, rest = worker.partition(":")
    pid, _, _ = rest.partition(":")
    if host != HOST:
        return not host  # a job with no worker was never started by anyone
    if pid == str(os.getpid()):
        return worker not in _LIVE_WORKERS
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, OverflowError):
        return False
    return False


def recover_interrupted(engine: Engine, root: Path) -> int:
    """At start: unfinished jobs whose process is gone are failed (the client learns it on its next
    poll) and their partial files removed; cancelled ones are removed."""
    failed = 0
    with session_factory(engine)() as db:
        for job in db.scalars(select(BulkExportJob).where(BulkExportJob.status.in_((*UNFINISHED, CANCELLED)))):
            if not _worker_gone(job.worker):
                continue
            shutil.rmtree(job_dir(root, job.id), ignore_errors=True)
            if job.status == CANCELLED:
                db.delete(job)
            else:
                job.status, job.error, job.finished_at, job.updated_at = FAILED, INTERRUPTED, utcnow(), utcnow()
                failed += 1
        db.commit()
    return failed
