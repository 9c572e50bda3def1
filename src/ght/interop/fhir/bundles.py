"""`POST /fhir` with a batch or transaction Bundle.

A transaction is atomic: every entry is applied in one database transaction, or none is (the
first failure rolls everything back and answers its OperationOutcome, pointing at the entry).
References to an entry's `urn:uuid:` fullUrl are rewritten to the id the server gives it.
A batch applies each entry on its own (a savepoint each) and reports each outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from ght.access.gate import AccessDenied, Gate
from ght.access.policy import Target
from ght.api.deps import get_db
from ght.audit.trail import Action
from ght.interop.fhir import patient_routes, patient_versions
from ght.interop.fhir.http import PREFIX, fhir_body, full_url, respond
from ght.interop.fhir.outcome import FhirError, Issue, error, operation_outcome
from ght.interop.fhir.resource_routes import (
    RECORD_TYPES, WRITERS, commit, conditional_matches, require_patients, target_of, visible_total,
)
from ght.interop.fhir.validation import validate
from ght.record import search as record_search
from ght.record import bulk_store, store

router = APIRouter(prefix=PREFIX, tags=["FHIR"])

# Processing order of a transaction (FHIR R4 §3.1.0.11.2).
ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


@dataclass
class Entry:
    index: int
    method: str
    url: str
    resource: dict | None
    full_url: str | None
    if_none_exist: str | None
    if_match: str | None

    @property
    def path(self) -> str:
        return f"Bundle.entry[{self.index}]"

    def target(self) -> tuple[str, str | None, str]:
        """(type, id or None, query string) of the request URL."""
        url = self.url.split(PREFIX + "/", 1)[-1].lstrip("/")
        path, _, query = url.partition("?")
        parts = path.split("/")
        return parts[0], parts[1] if len(parts) > 1 and parts[1] else None, query


def _entries(bundle: dict) -> list[Entry]:
    entries = []
    for index, raw in enumerate(bundle.get("entry", [])):
        request = raw.get("request") or {}
        if not request.get("method") or not request.get("url"):
            raise error(400, "required", "request.method et request.url sont requis", f"Bundle.entry[{index}].request")
        entries.append(Entry(index, request["method"], request["url"], raw.get("resource"), raw.get("fullUrl"),
                             request.get("ifNoneExist"), request.get("ifMatch")))
    return entries


def _rewrite(value: Any, ids: dict[str, str]) -> Any:
    """The resource with references to entries' fullUrls replaced by Type/id."""
    if isinstance(value, dict):
        return {k: (ids.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, ids))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, ids) for v in value]
    return value


@dataclass
class Deferred:
    """A creation a transaction inserts together with its neighbours (see _Creations)."""

    entry: Entry
    body: dict
    fhir_id: str


def _apply(db: Session, request: Request, gate: Gate, entry: Entry, ids: dict[str, str],
           creations: _Creations | None = None) -> dict | Deferred:
    """One entry; the access policy's refusal answers 403 for that entry (already traced)."""
    try:
        return _apply_entry(db, request, gate, entry, ids, creations)
    except AccessDenied as exc:
        raise FhirError(403, Issue("forbidden", exc.reason, entry.path)) from None


def _apply_entry(db: Session, request: Request, gate: Gate, entry: Entry, ids: dict[str, str],
                 creations: _Creations | None) -> dict | Deferred:
    resource_type, fhir_id, query = entry.target()
    if resource_type != "Patient" and resource_type not in RECORD_TYPES:
        raise FhirError(404, Issue("not-supported", f"type non pris en charge : {resource_type}", f"{entry.path}.request.url"))
    if entry.method in ("GET", "HEAD"):
        return _read(db, request, gate, resource_type, fhir_id, query, entry)
    if entry.method == "DELETE":
        if resource_type == "Patient" or fhir_id is None:
            raise FhirError(405, Issue("not-supported", "suppression non prise en charge ici", f"{entry.path}.request"))
        version = store.remove(db, resource_type, fhir_id, if_match=entry.if_match, context=gate.write_context())
        return {"status": "204" if version else "404"}
    if entry.resource is None:
        raise FhirError(400, Issue("required", "resource absente", f"{entry.path}.resource"))
    body = _rewrite(entry.resource, ids)
    try:
        validate(body, resource_type)
    except FhirError as exc:
        raise FhirError(exc.status, *[Issue(i.code, i.diagnostics, f"{entry.path}.resource" + (
            i.expression[len(resource_type):] if i.expression and i.expression.startswith(resource_type) else ""))
            for i in exc.issues]) from None
    if resource_type == "Patient":
        return _patient(db, request, gate, entry, body, fhir_id, query)
    context = gate.write_context()
    if entry.method == "POST":
        if entry.if_none_exist:
            matches = conditional_matches(db, gate, resource_type, entry.if_none_exist,
                                          f"{entry.path}.request.ifNoneExist")
            if matches:
                found = matches[0]
                if entry.full_url:
                    ids[entry.full_url] = f"{resource_type}/{found.fhir_id}"
                return _response("200", request, found.body, found.version, found.last_updated)
        assigned = ids.get(entry.full_url) if entry.full_url else None
        new_id = assigned.split("/", 1)[1] if assigned else store.new_id()
        if creations is not None:
            return Deferred(entry, body, new_id)
        written = store.create(db, body, context, fhir_id=new_id)
    elif entry.method == "PUT":
        if fhir_id is None:
            matches = conditional_matches(db, gate, resource_type, query, f"{entry.path}.request.url")
            if len(matches) > 1:
                raise FhirError(412, Issue("multiple-matches", "la condition désigne plusieurs ressources", entry.path))
            fhir_id = matches[0].fhir_id if matches else (body.get("id") or store.new_id())
        written = store.update(db, body, fhir_id, context, if_match=entry.if_match)
    else:
        raise FhirError(405, Issue("not-supported", f"méthode {entry.method} non prise en charge", f"{entry.path}.request.method"))
    return _response("201" if written.created else "200", request, written.body, written.version, written.last_updated)


def _patient(db, request, gate: Gate, entry: Entry, body: dict, fhir_id: str | None, query: str) -> dict:
    existing = None
    if fhir_id is not None:
        existing = patient_routes.identity_of(db, fhir_id)
    elif entry.method == "PUT" or entry.if_none_exist:
        matches = patient_routes.conditional_matches(request, db, query if entry.method == "PUT" else entry.if_none_exist)
        existing = matches[0] if matches else None
        if entry.method == "POST" and existing is not None:
            gate.require(Action.READ, Target("Patient", existing.patient_id), [f"Patient/{existing.id}"])
            found = patient_versions.read(db, existing)
            if entry.full_url:
                request.state.bundle_ids[entry.full_url] = f"Patient/{existing.id}"
            return _response("200", request, found.body, found.version, found.last_updated)
    identity, created = patient_routes.write_patient(db, body, gate, existing)
    if entry.full_url:
        request.state.bundle_ids[entry.full_url] = f"Patient/{identity.id}"
    found = patient_versions.read(db, identity)
    return _response("201" if created else "200", request, found.body, found.version, found.last_updated)


def _read(db, request, gate: Gate, resource_type: str, fhir_id: str | None, query: str, entry: Entry) -> dict:
    if resource_type == "Patient":
        if fhir_id is None:
            raise FhirError(400, Issue("not-supported", "recherche de Patient : utiliser GET /fhir/Patient", entry.path))
        patients = record_search.ght_patients_of(db, fhir_id, "", "id")
        body = patient_versions.patient_body(db, fhir_id, request.app.state.ght_oid) if patients else None
        if body is None:
            raise FhirError(404, Issue("not-found", f"Patient/{fhir_id} inconnu", entry.path))
        gate.require(Action.READ, Target("Patient", patients[0]), [f"Patient/{fhir_id}"])
        return {"status": "200", "resource": body}
    if fhir_id is not None:
        found = store.read(db, resource_type, fhir_id)
        gate.require(Action.READ, target_of(found), [f"{resource_type}/{fhir_id}"])
        return _response("200", request, found.body, found.version, found.last_updated)
    gate.check_role(Action.SEARCH, resource_type)
    compiled = record_search.compile_query(db, resource_type, parse_qsl(query, keep_blank_values=True), lenient=False)
    by_patient = require_patients(db, gate, Action.SEARCH, compiled)
    total, found = record_search.run(db, compiled)
    page = gate.keep(Action.SEARCH, found)
    total = visible_total(total, found, page, by_patient or gate.sees_all_records())
    return {"status": "200", "resource": {"resourceType": "Bundle", "type": "searchset", "total": total, "entry": [
        {"fullUrl": full_url(request, f"{r.resource_type}/{r.fhir_id}"), "resource": r.body, "search": {"mode": "match"}}
        for r in page]}}


def _response(status: str, request: Request, body: dict, version: int, at) -> dict:
    return {"status": status, "resource": body,
            "location": f"{body['resourceType']}/{body['id']}/_history/{version}",
            "etag": f'W/"{version}"', "lastModified": at.isoformat(timespec="milliseconds")}


def _assign_ids(entries: list[Entry]) -> dict[str, str]:
    """Ids for the entries that create, so that references between entries can be rewritten."""
    ids: dict[str, str] = {}
    for entry in entries:
        if not entry.full_url or entry.resource is None:
            continue
        resource_type, fhir_id, query = entry.target()
        if entry.method == "POST" and not entry.if_none_exist and resource_type != "Patient":
            ids[entry.full_url] = f"{resource_type}/{store.new_id()}"
        elif entry.method == "PUT" and fhir_id:
            ids[entry.full_url] = f"{resource_type}/{fhir_id}"
    return ids


@router.post("", summary="Lot (batch) ou transaction")
def bundle(request: Request, db: Session = Depends(get_db), gate: Gate = Depends(WRITERS),
           raw: Any = Depends(fhir_body)):
    if not isinstance(raw, dict) or raw.get("resourceType") != "Bundle" or raw.get("type") not in ("batch", "transaction"):
        raise error(400, "structure", "un Bundle de type batch ou transaction est attendu", "Bundle.type")
    entries = _entries(raw)
    if raw["type"] == "transaction":
        return _transaction(db, request, gate, entries)
    return _batch(db, request, gate, entries)


def _transaction(db: Session, request: Request, gate: Gate, entries: list[Entry]):
    ids = _assign_ids(entries)
    request.state.bundle_ids = ids
    results: dict[int, dict] = {}
    creations = _Creations(db, gate.write_context(), gate)
    # FHIR's order (deletes, creates, updates, reads), Patients first within each: the other
    # entries' patient references can then be rewritten to the identities' ids.
    with gate.refusals_after():
        try:
            for entry in sorted(entries, key=lambda e: (ORDER.get(e.method, 9), e.target()[0] != "Patient", e.index)):
                if entry.method not in ORDER:
                    raise error(400, "not-supported", f"méthode {entry.method} inconnue",
                                f"{entry.path}.request.method")
                outcome = _in_entry(entry, lambda entry=entry: _apply(db, request, gate, entry, ids, creations))
                if isinstance(outcome, Deferred):
                    creations.add(outcome)
                    continue
                results[entry.index] = outcome
                if not _is_plain_creation(entry):  # later entries may read or change what is pending
                    results.update(creations.flush(request))
            results.update(creations.flush(request))
        except FhirError:
            db.rollback()
            raise
        commit(db, gate)
    return respond({"resourceType": "Bundle", "type": "transaction-response", "entry": [
        _response_entry(results[e.index]) for e in entries]})


def _in_entry(entry: Entry, work):
    """`work()`, its FhirError pointing at the entry."""
    try:
        return work()
    except FhirError as exc:
        issues = [Issue(i.code, f"entrée {entry.index} : {i.diagnostics}", i.expression or entry.path)
                  for i in exc.issues]
        raise FhirError(exc.status, *issues) from None


def _is_plain_creation(entry: Entry) -> bool:
    return entry.method == "POST" and not entry.if_none_exist and entry.target()[0] != "Patient"


class _Creations:
    """The plain creations of a transaction (POST without a condition), written a batch at a
    time by the bulk path of the store: the patients of all of them in one query, and each
    table's rows in one statement, instead of about ten statements per resource. A batch is
    written before any other kind of entry runs, so that entries see the creations before them."""

    def __init__(self, db: Session, context: store.WriteContext, gate: Gate | None = None) -> None:
        self.db, self.context, self.gate = db, context, gate
        self.pending: list[Deferred] = []
        self.sources = bulk_store.SourceCache()

    def add(self, deferred: Deferred) -> None:
        self.pending.append(deferred)

    def flush(self, request: Request) -> dict[int, dict]:
        if not self.pending:
            return {}
        pending, self.pending = self.pending, []
        extracted, places = bulk_store.places_for(self.db, [d.body for d in pending])
        if self.gate is not None:  # the facts of every patient of the batch, in one statement
            self.gate.prefetch(place.ght_patient_id for place in places.values())
        prepared = [_in_entry(d.entry, lambda d=d, e=e: bulk_store.prepare(
                        self.db, d.body, d.fhir_id, self.context, self.sources, extracted=e, places=places))
                    for d, e in zip(pending, extracted, strict=True)]
        bulk_store.insert_all(self.db, prepared)
        return {d.entry.index: _response("201", request, p.row["body"], 1, p.row["last_updated"])
                for d, p in zip(pending, prepared, strict=True)}


def _batch(db: Session, request: Request, gate: Gate, entries: list[Entry]):
    request.state.bundle_ids = {}
    answers = []
    with gate.refusals_after():
        for entry in entries:
            savepoint = db.begin_nested()
            noted = gate.mark()
            try:
                result = _apply(db, request, gate, entry, request.state.bundle_ids)
                savepoint.commit()
                answers.append(_response_entry(result))
            except FhirError as exc:
                savepoint.rollback()
                gate.rewind(noted)  # what the entry did is undone: not traced as done
                answers.append({"response": {"status": str(exc.status), "outcome": operation_outcome(exc.issues)}})
        commit(db, gate)
    return respond({"resourceType": "Bundle", "type": "batch-response", "entry": answers})


def _response_entry(result: dict) -> dict:
    response = {k: v for k, v in result.items() if k != "resource"}
    entry: dict[str, Any] = {"response": response}
    if "resource" in result:
        entry["resource"] = result["resource"]
    return entry
