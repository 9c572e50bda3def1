"""FHIR REST interactions on the record's resource types (every supported type but Patient,
which is the identity server's): read, vread, create (conditional), update (versioned,
conditional, as create), delete (kept in history), instance and type history, search."""

from __future__ import annotations

import base64
import binascii
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Depends, Request, Response
from starlette.convertors import Convertor, register_url_convertor
from sqlalchemy.orm import Session

from starlette.concurrency import run_in_threadpool

from ght.access.gate import Gate
from ght.access.policy import Target, is_sensitive
from ght.api.deps import get_db, get_read_db, reading_gate, writing_gate
from ght.audit.trail import Action, Door
from ght.db.numbers import parse_int
from ght.interop.fhir import patient_versions
from ght.interop.fhir.http import FHIR_JSON, fhir_body, full_url, respond, searchset
from ght.interop.fhir.outcome import Issue, error, operation_outcome
from ght.interop.fhir.validation import ID_PATTERN, validate
from ght.record import search as record_search
from ght.record import store
from ght.record.models import Resource

RECORD_TYPES = (
    "Practitioner", "PractitionerRole", "Organization", "Location", "Encounter", "EpisodeOfCare", "Condition",
    "Observation", "DiagnosticReport", "ImagingStudy", "ServiceRequest", "Procedure", "MedicationRequest",
    "AllergyIntolerance", "DocumentReference", "Binary", "CareTeam", "CarePlan", "Task", "Communication",
    "Consent", "AuditEvent", "Endpoint",
)

# Every route asks the access policy through the request's gate (ght.access.gate), which
# traces each access and each refusal.
READERS = reading_gate(Door.FHIR)
WRITERS = writing_gate(Door.FHIR)

router = APIRouter(prefix="/fhir", tags=["FHIR dossier partagé"])


class _RecordTypeConvertor(Convertor):
    regex = "|".join(RECORD_TYPES)

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class _FhirIdConvertor(_RecordTypeConvertor):
    regex = ID_PATTERN.pattern.removeprefix("^").removesuffix("$")


register_url_convertor("record_type", _RecordTypeConvertor())
register_url_convertor("fhir_id", _FhirIdConvertor())

# The two most frequent requests, read by id and search, matched before every other route of
# the application (see router.install): a request is matched against the routes in order, and
# at the end of the list these cost about 25 route matches each (30 % of a read's time). Their
# paths admit only the record's types and valid ids, so they cannot capture Patient, _history
# or an $operation; the generic routes below stay as fallbacks (unknown type, invalid id).
hot_router = APIRouter(prefix="/fhir", tags=["FHIR dossier partagé"])


def resource_type_of(name: str) -> str:
    if name not in RECORD_TYPES:
        raise error(404, "not-supported", f"type de ressource non pris en charge : {name}")
    return name


def target_of(row) -> Target:
    """The access target of a stored resource (a record Resource or a reader's Current)."""
    body = row.body
    if isinstance(body, str):  # JSON text as stored: decoded only when it may carry a label
        body = orjson.loads(body) if '"security"' in body else None
    return Target(row.resource_type, row.ght_patient_id, row.source_establishment_id, is_sensitive(body))


def require_patients(db: Session, gate: Gate, action: Action, query: record_search.Query) -> bool:
    """Decide on the record of each patient the search names, before it runs; True when the
    search is restricted to patients (so its total counts only what the subject may see, but for
    the patient's oppositions, applied resource by resource)."""
    for name, modifier, values in query.patient_criteria:
        for value in values:
            for patient in record_search.ght_patients_of(db, value, modifier, name):
                gate.require_patient(action, query.resource_type, patient)
    return bool(query.patient_criteria)


def visible_total(total: int, found: list, page: list, by_patient: bool) -> int | None:
    """The total a search may tell: none when the access policy hid part of the page, or when the
    search spans patients beyond what the subject has seen (it would count what the subject may
    not see; within patients whose records the subject may see, only oppositions could)."""
    if len(page) < len(found) or (not by_patient and total > len(found)):
        return None
    return total


def commit(db: Session, gate: Gate) -> None:
    """Trace the request's accesses in its transaction, then commit both: a 2xx is durable."""
    gate.flush(db)
    db.commit()


def _headers(request: Request, resource_type: str, fhir_id: str, version: int, at) -> dict[str, str]:
    return {"ETag": f'W/"{version}"', "Last-Modified": format_datetime(at, usegmt=True),
            "Location": full_url(request, f"{resource_type}/{fhir_id}/_history/{version}")}


def _answer(request: Request, written: store.Written, status: int) -> object:
    headers = _headers(request, written.body["resourceType"], written.body["id"], written.version, written.last_updated)
    prefer = request.headers.get("prefer", "")
    if "return=minimal" in prefer:
        return respond(None, status, headers)
    if "return=OperationOutcome" in prefer:
        return respond(operation_outcome([Issue("informational", "enregistré", severity="information")]), status, headers)
    return respond(written.body, status, headers)


def conditional_matches(db: Session, gate: Gate, resource_type: str, condition: str, name: str) -> list[Resource]:
    """The resources a condition designates, among those the subject may see: a condition must
    not reveal what the subject may not read (a 412 or a 200 would tell it exists)."""
    items = parse_qsl(condition.lstrip("?"), keep_blank_values=True)
    if not items:
        raise error(400, "required", "condition de recherche vide", name)
    query = record_search.compile_query(db, resource_type, items, lenient=False)
    require_patients(db, gate, Action.SEARCH, query)
    query.count = 2
    return gate.keep(Action.SEARCH, record_search.run(db, query)[1])


# ------------------------------------------------------------------------------ type level


@router.post("/{resource_type}", summary="Créer (If-None-Exist pour une création conditionnelle)")
def create(resource_type: str, request: Request, db: Session = Depends(get_db),
                 gate: Gate = Depends(WRITERS), raw: Any = Depends(fhir_body)):
    resource_type = resource_type_of(resource_type)
    body = validate(raw, resource_type)
    condition = request.headers.get("if-none-exist")
    if condition:
        matches = conditional_matches(db, gate, resource_type, condition, "If-None-Exist")
        if len(matches) > 1:
            raise error(412, "multiple-matches", f"If-None-Exist « {condition} » désigne plusieurs ressources")
        if matches:
            found = matches[0]
            commit(db, gate)
            return respond(found.body, 200, _headers(request, resource_type, found.fhir_id, found.version,
                                                     found.last_updated))
    written = store.create(db, body, gate.write_context())
    commit(db, gate)
    return _answer(request, written, 201)


@router.put("/{resource_type}", summary="Mise à jour conditionnelle (critères de recherche)")
def conditional_update(resource_type: str, request: Request, db: Session = Depends(get_db),
                             gate: Gate = Depends(WRITERS), raw: Any = Depends(fhir_body)):
    resource_type = resource_type_of(resource_type)
    body = validate(raw, resource_type)
    matches = conditional_matches(db, gate, resource_type, str(request.url.query), "query")
    if len(matches) > 1:
        raise error(412, "multiple-matches", "la condition désigne plusieurs ressources")
    if matches:
        if body.get("id") and body["id"] != matches[0].fhir_id:
            raise error(400, "invalid", f"id {body['id']} différent de la ressource trouvée ({matches[0].fhir_id})",
                        f"{resource_type}.id")
        written = store.update(db, body, matches[0].fhir_id, gate.write_context(),
                               if_match=request.headers.get("if-match"))
    else:
        fhir_id = body.get("id") or store.new_id()
        written = store.create(db, body, gate.write_context(), fhir_id=fhir_id)
    commit(db, gate)
    return _answer(request, written, 201 if written.created else 200)


@router.get("/{resource_type}/_history", summary="Historique du type")
def type_history(resource_type: str, request: Request, db: Session = Depends(get_read_db),
                 gate: Gate = Depends(READERS)):
    resource_type = resource_type_of(resource_type)
    gate.check_role(Action.READ, resource_type)
    query = record_search.compile_query(db, resource_type, [(k, v) for k, v in request.query_params.multi_items()
                                                            if k in ("_count", "_offset")], lenient=False)
    total, rows = store.type_history(db, resource_type, limit=query.count, offset=query.offset)
    # Each version is decided on its resource as it is now (its patient, its labels).
    resources = {r.fhir_id: r for r in store.current_rows(db, resource_type, {fhir_id for fhir_id, _ in rows})}
    allowed = {r.fhir_id for r in gate.keep(Action.READ, resources.values())}
    entries = [_history_entry(request, resource_type, fhir_id, version) for fhir_id, version in rows
               if fhir_id in allowed]
    gate.flush()
    bundle = searchset(request, f"{resource_type}/_history", entries, total=total if len(entries) == len(rows)
                       else None, count=query.count, offset=query.offset)
    return respond({**bundle, "type": "history"})


def _history_entry(request: Request, resource_type: str, fhir_id: str, version) -> dict:
    entry = {"fullUrl": full_url(request, f"{resource_type}/{fhir_id}"),
             "request": {"method": version.method, "url": f"{resource_type}/{fhir_id}" if version.method != "POST"
                         else resource_type},
             "response": {"status": {"POST": "201", "PUT": "200", "DELETE": "204"}[version.method],
                          "etag": f'W/"{version.version}"',
                          "lastModified": version.last_updated.isoformat(timespec="milliseconds")}}
    if version.body is not None:
        entry["resource"] = version.body
    return entry


@hot_router.get("/{resource_type:record_type}", summary="Rechercher")
@router.get("/{resource_type}", include_in_schema=False)
def search(resource_type: str, request: Request, db: Session = Depends(get_read_db),
           gate: Gate = Depends(READERS)):
    resource_type = resource_type_of(resource_type)
    lenient = "handling=lenient" in request.headers.get("prefer", "")
    gate.check_role(Action.SEARCH, resource_type)
    query = record_search.compile_query(db, resource_type, list(request.query_params.multi_items()), lenient=lenient)
    by_patient = require_patients(db, gate, Action.SEARCH, query)
    total, found = record_search.run(db, query)
    page = gate.keep(Action.SEARCH, found)
    total = visible_total(total, found, page, by_patient or gate.sees_all_records())
    entries = search_entries(request, page, "match")
    extra, patients = record_search.included(db, query, page)
    entries += search_entries(request, gate.keep(Action.SEARCH, extra), "include")
    entries += [{"fullUrl": full_url(request, f"Patient/{fhir_id}"), "resource": body, "search": {"mode": "include"}}
                for fhir_id in _readable_patients(db, gate, [i for _, i in patients])
                if (body := patient_versions.patient_body(db, fhir_id, request.app.state.ght_oid)) is not None]
    gate.flush()
    outcome = None
    if query.ignored:
        outcome = operation_outcome([Issue("not-supported", f"paramètre ignoré : {k}", k, "warning")
                                     for k in query.ignored])
    return respond(searchset(request, resource_type, entries, total=total, count=query.count, offset=query.offset,
                             outcome=outcome))


def search_entries(request: Request, rows, mode: str) -> list[dict]:
    """A searchset's entries for these resources (resource_type, fhir_id, body)."""
    return [{"fullUrl": full_url(request, f"{r.resource_type}/{r.fhir_id}"), "resource": r.body,
             "search": {"mode": mode}} for r in rows]


def _readable_patients(db: Session, gate: Gate, fhir_ids: list[str]) -> list[str]:
    """The included Patients (local identity ids or GHT ids) the subject may read."""
    readable = []
    for fhir_id in fhir_ids:
        for patient in record_search.ght_patients_of(db, fhir_id, "", "_include"):
            decision = gate.decide(Action.SEARCH, Target("Patient", patient))
            if decision.allowed:
                gate.note(Action.SEARCH, decision, patient, [f"Patient/{fhir_id}"])
                readable.append(fhir_id)
    return readable


# ------------------------------------------------------------------------------ instance level


@router.get("/{resource_type}/{fhir_id}/_history/{version}", summary="Lire une version")
def vread(resource_type: str, fhir_id: str, version: str, request: Request, db: Session = Depends(get_read_db),
          gate: Gate = Depends(READERS)):
    resource_type = resource_type_of(resource_type)
    if (number := parse_int(version)) is None:
        raise error(404, "not-found", f"version « {version} » inconnue")
    found = store.vread(db, resource_type, fhir_id, number)
    # Decided on the resource as it is now (its patient) and on both versions' labels.
    target = target_of(store.current(db, resource_type, fhir_id))
    gate.require(Action.READ, Target(resource_type, target.ght_patient_id, target.source_establishment_id,
                                     target.sensitive or is_sensitive(found.body)),
                 [f"{resource_type}/{fhir_id}/_history/{version}"])
    gate.flush()
    return respond(found.body, 200, _headers(request, resource_type, fhir_id, found.version, found.last_updated))


@router.get("/{resource_type}/{fhir_id}/_history", summary="Historique d'une ressource")
def instance_history(resource_type: str, fhir_id: str, request: Request, db: Session = Depends(get_read_db),
                     gate: Gate = Depends(READERS)):
    resource_type = resource_type_of(resource_type)
    versions = store.instance_history(db, resource_type, fhir_id)
    current = store.current(db, resource_type, fhir_id)
    target = target_of(current)
    sensitive = target.sensitive or any(is_sensitive(v.body) for v in versions)
    gate.require(Action.READ, Target(resource_type, target.ght_patient_id, target.source_establishment_id, sensitive),
                 [f"{resource_type}/{fhir_id}"])
    gate.flush()
    entries = [_history_entry(request, resource_type, fhir_id, v) for v in versions]
    return respond({"resourceType": "Bundle", "type": "history", "total": len(entries), "entry": entries})


@hot_router.get("/{resource_type:record_type}/{fhir_id:fhir_id}", summary="Lire")
@router.get("/{resource_type}/{fhir_id}", include_in_schema=False)
async def read(resource_type: str, fhir_id: str, request: Request, gate: Gate = Depends(READERS)):
    return await read_answer(request, gate, resource_type_of(resource_type), fhir_id)


async def read_answer(request: Request, gate: Gate, resource_type: str, fhir_id: str) -> Response:
    """The read by id, the most frequent request of the API (also served by ght.interop.fhir.
    hot_path). PostgreSQL: on the event loop, the row and the facts of its patient in one
    statement (ght.access.async_gate); SQLite: the row in a thread."""
    access = request.app.state.async_access
    if access is not None:
        found = await access.current(gate, resource_type, fhir_id)
    else:
        found = await request.app.state.record_reader.current(resource_type, fhir_id)
    if found is None:
        raise error(404, "not-found", f"{resource_type}/{fhir_id} inconnu")
    if found.deleted:
        raise error(410, "deleted", f"{resource_type}/{fhir_id} a été supprimé (version {found.version})")
    target = target_of(_Row(resource_type, found))
    if access is not None:  # PostgreSQL: the decision (its facts known) and its trace on the event loop
        await access.require(gate, Action.READ, target, [f"{resource_type}/{fhir_id}"])
    else:
        await run_in_threadpool(_authorise_read, gate, target, f"{resource_type}/{fhir_id}")
    headers = _headers(request, resource_type, fhir_id, found.version, found.last_updated)
    if request.headers.get("if-none-match") == headers["ETag"]:
        return respond(None, 304, headers)
    body = orjson.loads(found.body) if isinstance(found.body, str) and resource_type == "Binary" else found.body
    if resource_type == "Binary" and _wants_native(request):
        return _native(body, headers)
    if isinstance(body, str):  # JSON text as stored: sent without decoding it
        return Response(body.encode(), 200, headers, media_type=FHIR_JSON)
    return respond(body, 200, headers)


class _Row:
    """A reader's Current seen as a resource row (target_of)."""

    __slots__ = ("resource_type", "body", "ght_patient_id", "source_establishment_id")

    def __init__(self, resource_type: str, current) -> None:
        self.resource_type = resource_type
        self.body = current.body
        self.ght_patient_id = current.ght_patient_id
        self.source_establishment_id = current.source_establishment_id


def _authorise_read(gate: Gate, target: Target, reference: str) -> None:
    gate.require(Action.READ, target, [reference])
    gate.flush()


def _wants_native(request: Request) -> bool:
    """A Binary is served as its own content (a PDF opens in the browser) unless FHIR JSON is
    asked for (Accept or _format)."""
    wanted = (request.query_params.get("_format", "") + " " + request.headers.get("accept", "")).lower()
    return "json" not in wanted


def _native(body: dict, headers: dict[str, str]) -> Response:
    try:
        content = base64.b64decode(body.get("data", ""), validate=True)
    except binascii.Error:
        raise error(500, "exception", "contenu Binary illisible (base64)") from None
    return Response(content, media_type=body.get("contentType", "application/octet-stream"),
                    headers={**headers, "X-Content-Type-Options": "nosniff",
                             "Content-Security-Policy": "sandbox"})


@router.put("/{resource_type}/{fhir_id}", summary="Mettre à jour (If-Match pour une mise à jour versionnée)")
def update(resource_type: str, fhir_id: str, request: Request, db: Session = Depends(get_db),
                 gate: Gate = Depends(WRITERS), raw: Any = Depends(fhir_body)):
    resource_type = resource_type_of(resource_type)
    body = validate(raw, resource_type)
    if body.get("id") != fhir_id:
        raise error(400, "invalid", f"l'id de la ressource ({body.get('id')}) doit être celui de l'URL ({fhir_id})",
                    f"{resource_type}.id")
    if not ID_PATTERN.match(fhir_id):
        raise error(400, "value", f"id invalide « {fhir_id} » (1 à 64 caractères A-Z a-z 0-9 - .)", f"{resource_type}.id")
    written = store.update(db, body, fhir_id, gate.write_context(), if_match=request.headers.get("if-match"))
    commit(db, gate)
    return _answer(request, written, 201 if written.created else 200)


@router.delete("/{resource_type}/{fhir_id}", summary="Supprimer (conservé dans l'historique)")
def delete(resource_type: str, fhir_id: str, request: Request, db: Session = Depends(get_db),
           gate: Gate = Depends(WRITERS)):
    resource_type = resource_type_of(resource_type)
    version = store.remove(db, resource_type, fhir_id, if_match=request.headers.get("if-match"),
                           context=gate.write_context())
    commit(db, gate)
    headers = {"ETag": f'W/"{version}"'} if version else {}
    return respond(None, 204, headers)
