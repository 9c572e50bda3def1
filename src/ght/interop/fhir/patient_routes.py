"""FHIR Patient: the identity server's feed and queries.

create / update / conditional create and update by IPP (FR Core identifiers), read, vread,
history; PDQm-style search; `$ihe-pix` (PIXm) cross-references; `$match` with match grades.
A local Patient's id is its local identity's number; a GHT patient reads as
`Patient/<GHT id>`, with a link to each local Patient.
"""

from __future__ import annotations

from dataclasses import replace
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from ght.access.gate import Gate
from ght.access.policy import Target
from ght.api.deps import get_db, get_read_db, reading_gate, writing_gate
from ght.audit.trail import Action, Door
from ght.db.numbers import parse_int
from ght.directory.lookup import juridique_finess
from ght.identity import queries
from ght.identity.models import GhtPatient, LocalIdentity
from ght.identity.patient_ids import is_valid_patient_id
from ght.identity.service import (
    IdentityInput, IdentityRejected, establishment_by_finess, find_identity, record_history, record_identity,
)
from ght.interop.fhir import patient as frcore
from ght.interop.fhir import patient_versions as versions
from ght.interop.fhir import systems as s
from ght.interop.fhir.http import (
    date_range, fhir_body, full_url, page_size, respond, searchset, split_token,
)
from ght.interop.fhir.outcome import FhirError, Issue, error, operation_outcome
from ght.interop.fhir.validation import validate
from ght.record.models import PatientResource

# The access policy decides on every identity read and write, through the request's gate.
READERS = reading_gate(Door.FHIR)
WRITERS = writing_gate(Door.FHIR)

router = APIRouter(prefix="/fhir/Patient", tags=["FHIR Patient (identités)"])

SEARCH_PARAMETERS = ("_id", "identifier", "family", "given", "name", "birthdate", "gender", "active")
CONTROL_PARAMETERS = ("_count", "_offset", "_summary", "_format")
STRING_MODIFIERS = ("", "exact", "contains")


def _ght_oid(request: Request) -> str:
    return request.app.state.ght_oid


# ------------------------------------------------------------------------------ lookups


def _identifier_query(request: Request, db: Session, value: str, name: str) -> queries.IdentifierQuery:
    system, code = split_token(value)
    if not code:
        raise error(400, "value", f"valeur d'identifiant absente dans « {value} »", name)
    if system is None or system == "":
        return queries.IdentifierQuery("any", code)
    if (finess := s.finess_of_ipp_system(system)) is not None:
        return queries.IdentifierQuery("ipp", code, finess)
    if system in s.INS_SYSTEMS:
        return queries.IdentifierQuery("ins", code)
    if system == s.ght_patient_system(_ght_oid(request)):
        return queries.IdentifierQuery("ght", code)
    raise error(400, "value", f"système d'identifiant inconnu « {system} » : IPP (urn:finess:<FINESS>:ipp), "
                              f"INS (urn:oid:1.2.250.1.213.1.4.x) ou identifiant GHT "
                              f"({s.ght_patient_system(_ght_oid(request))})", name)


def identity_of(db: Session, resource_id: str) -> LocalIdentity:
    number = parse_int(resource_id)
    identity = db.get(LocalIdentity, number) if number is not None else None
    if identity is None:
        raise error(404, "not-found", f"Patient/{resource_id} inconnu")
    return identity


def _headers(version: versions.PatientVersion, request: Request, identity_id: int) -> dict[str, str]:
    return {"ETag": version.etag, "Last-Modified": format_datetime(version.last_updated, usegmt=True),
            "Location": full_url(request, f"Patient/{identity_id}/_history/{version.version}")}


# ------------------------------------------------------------------------------ writes


def _identity_input(db: Session, body: dict) -> IdentityInput:
    data = frcore.identity_input(body)
    return replace(data, finess=juridique_finess(db, data.finess))


def _rejected(exc: IdentityRejected) -> FhirError:
    return FhirError(422, Issue("processing", exc.message, frcore.FIELD_PATHS.get(exc.field)))


def write_patient(db: Session, body: dict, gate: Gate, existing: LocalIdentity | None) -> tuple[LocalIdentity, bool]:
    """Apply a Patient to the identity server; returns the identity and whether it is new.
    A body that changes nothing makes no new version (an update is idempotent)."""
    action = Action.CREATE if existing is None else Action.UPDATE
    decision = gate.check(action, Target("Patient", existing.patient_id if existing else None))
    identity, created = _write_patient(db, body, gate.subject.username, existing)
    gate.note(action, decision, identity.patient_id, [f"Patient/{identity.id}"])
    return identity, created


def _write_patient(db: Session, body: dict, actor: str, existing: LocalIdentity | None) -> tuple[LocalIdentity, bool]:
    data = _identity_input(db, body)
    if existing is not None:
        if (existing.establishment.finess_ej, existing.ipp) != (data.finess, data.ipp):
            raise error(422, "processing", "l'IPP d'un Patient ne change pas par mise à jour "
                                           "(changement d'IPP : message A47)", "Patient.identifier")
        before = versions.read(db, existing)
        if versions.content_of(before.body) == versions.content_of(body) or _same_as_stored(db, existing, body):
            return existing, False
    version_before = existing.version if existing is not None else None
    try:
        result = record_identity(db, data, actor=actor, channel="fhir", replace_traits=True)
    except IdentityRejected as exc:
        raise _rejected(exc) from None
    identity = db.get(LocalIdentity, result.identity_id)
    if not result.created and identity.version == version_before:
        # Elements the identity does not hold (contact, language...) changed: still a version.
        identity.version += 1
        db.flush()
        record_history(db, identity, "update", actor=actor, channel="fhir", reference=None)
    versions.keep_body(db, identity, body)
    return identity, result.created


def _same_as_stored(db: Session, identity: LocalIdentity, body: dict) -> bool:
    stored = db.get(PatientResource, (identity.id, identity.version))
    return stored is not None and stored.body == versions.content_of(body)


def _written(request: Request, db: Session, gate: Gate, identity: LocalIdentity, created: bool) -> object:
    gate.flush(db)
    db.commit()
    current = versions.read(db, identity)
    headers = _headers(current, request, identity.id)
    if request.headers.get("prefer", "").strip() == "return=minimal":
        return respond(None, 201 if created else 200, headers)
    return respond(current.body, 201 if created else 200, headers)


def _check_if_match(request: Request, identity: LocalIdentity) -> None:
    wanted = request.headers.get("if-match")
    if wanted and wanted.strip() not in (f'W/"{identity.version}"', f'"{identity.version}"'):
        raise error(412, "conflict", f"version {wanted} demandée, la version courante est W/\"{identity.version}\"")


@router.post("", summary="Créer une identité locale (Patient FR Core)")
def create(request: Request, db: Session = Depends(get_db), gate: Gate = Depends(WRITERS),
           raw: Any = Depends(fhir_body)):
    body = validate(raw, "Patient")
    data = _identity_input(db, body)
    condition = request.headers.get("if-none-exist")
    if condition:
        matches = conditional_matches(request, db, condition)
        if len(matches) > 1:
            raise error(412, "multiple-matches", f"If-None-Exist « {condition} » désigne {len(matches)} patients")
        if matches:
            gate.require(Action.READ, Target("Patient", matches[0].patient_id), [f"Patient/{matches[0].id}"])
            gate.flush()
            current = versions.read(db, matches[0])
            return respond(current.body, 200, _headers(current, request, matches[0].id))
    try:
        establishment_known = find_identity(db, establishment_by_finess(db, data.finess), data.ipp)
    except IdentityRejected as exc:
        raise _rejected(exc) from None
    if establishment_known is not None:
        raise error(409, "duplicate", f"l'IPP {data.ipp} de l'établissement {data.finess} existe déjà : "
                                      f"Patient/{establishment_known.id} (mise à jour : PUT)", "Patient.identifier")
    identity, created = write_patient(db, body, gate, None)
    return _written(request, db, gate, identity, created)


def conditional_matches(request: Request, db: Session, condition: str) -> list[LocalIdentity]:
    pairs = parse_qsl(condition.lstrip("?"), keep_blank_values=True)
    if not pairs or any(name != "identifier" for name, _ in pairs):
        raise error(400, "not-supported", f"condition « {condition} » : seul identifier=système|valeur est pris en charge")
    criteria = queries.Criteria(identifiers=[[_identifier_query(request, db, v, "identifier")] for _, v in pairs])
    return list(db.scalars(queries.search_query(db, criteria).limit(2)))


@router.put("", summary="Mise à jour conditionnelle (identifier=système|valeur)")
def conditional_update(request: Request, db: Session = Depends(get_db), gate: Gate = Depends(WRITERS),
                       raw: Any = Depends(fhir_body)):
    body = validate(raw, "Patient")
    matches = conditional_matches(request, db, str(request.url.query))
    if len(matches) > 1:
        raise error(412, "multiple-matches", "la condition désigne plusieurs patients")
    existing = matches[0] if matches else None
    if existing is not None:
        if body.get("id") and body["id"] != str(existing.id):
            raise error(400, "invalid", f"id {body['id']} ne correspond pas au patient trouvé ({existing.id})", "Patient.id")
        _check_if_match(request, existing)
    identity, created = write_patient(db, body, gate, existing)
    return _written(request, db, gate, identity, created or existing is None)


# ------------------------------------------------------------------------------ operations


@router.get("/$ihe-pix", summary="PIXm : tous les identifiants du même patient")
def ihe_pix(request: Request, db: Session = Depends(get_read_db), gate: Gate = Depends(READERS)):
    sources = request.query_params.getlist("sourceIdentifier")
    if len(sources) != 1:
        raise error(400, "required", "un et un seul sourceIdentifier=système|valeur est attendu", "sourceIdentifier")
    system, _ = split_token(sources[0])
    if not system:
        raise error(400, "value", "sourceIdentifier doit préciser son système (domaine d'identification)", "sourceIdentifier")
    query = _identifier_query(request, db, sources[0], "sourceIdentifier")
    targets = request.query_params.getlist("targetSystem")
    ght_system = s.ght_patient_system(_ght_oid(request))
    for target in targets:
        if not (target == ght_system or target in s.INS_SYSTEMS or s.finess_of_ipp_system(target)):
            raise error(403, "not-found", f"targetSystem « {target} » n'est pas un domaine connu", "targetSystem")
    found = queries.cross_references(db, query)
    if found is None:
        raise error(404, "not-found", f"identifiant {sources[0]} inconnu", "sourceIdentifier")
    patient, identities = found
    gate.require(Action.READ, Target("Patient", patient.id), [f"Patient/{patient.id}"])
    gate.flush()
    parameters = []

    def add(identifier: dict, reference: str) -> None:
        if targets and identifier["system"] not in targets:
            return
        parameters.append({"name": "targetIdentifier", "valueIdentifier": identifier})
        parameters.append({"name": "targetId", "valueReference": {"reference": reference}})

    add({"use": "official", "system": ght_system, "value": patient.id}, f"Patient/{patient.id}")
    for identity in identities:
        if not identity.active:
            continue
        add({"use": "usual", "system": s.ipp_system(identity.establishment.finess_ej), "value": identity.ipp},
            f"Patient/{identity.id}")
    reference = versions.reference_identity(identities)
    if reference is not None and frcore.ins_shareable(reference):
        add({"use": "official", "system": f"urn:oid:{reference.ins_oid}", "value": reference.ins},
            f"Patient/{patient.id}")
    return respond({"resourceType": "Parameters", "parameter": parameters})


@router.post("/$match", summary="Recherche de correspondances avec score et niveau de certitude")
def match(request: Request, db: Session = Depends(get_db), gate: Gate = Depends(READERS),
          raw: Any = Depends(fhir_body)):
    gate.check_role(Action.SEARCH, "Patient")
    body = raw
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise error(400, "structure", "une ressource Parameters est attendue (paramètre resource : Patient)")
    validate(body, "Parameters")
    resource, only_certain, count = None, False, 10
    for index, parameter in enumerate(body.get("parameter", [])):
        name = parameter.get("name")
        if name == "resource":
            resource = parameter.get("resource")
        elif name == "onlyCertainMatches":
            only_certain = bool(parameter.get("valueBoolean"))
        elif name == "count":
            count = parameter.get("valueInteger") or count
            if not 1 <= count <= 100:
                raise error(400, "value", "count doit être entre 1 et 100", f"Parameters.parameter[{index}].valueInteger")
    if resource is None:
        raise error(400, "required", "paramètre resource (Patient) absent", "Parameters.parameter")
    resource = validate(resource, "Patient")
    person = _match_input(resource)
    try:
        found = queries.match(db, person, limit=count)
    except IdentityRejected as exc:
        raise _rejected(exc) from None
    if only_certain:
        found = [m for m in found if m.grade == "certain"]
    found = [m for m in found if _readable(gate, Action.SEARCH, m.patient.id, f"Patient/{m.patient.id}")]
    gate.flush()
    entries = [{
        "fullUrl": full_url(request, f"Patient/{m.patient.id}"),
        "resource": versions.ght_patient(db, m.patient, _ght_oid(request)),
        "search": {"mode": "match", "score": round(m.probability, 6),
                   "extension": [{"url": s.MATCH_GRADE, "valueCode": m.grade}]},
    } for m in found]
    return respond({"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries})


def _readable(gate: Gate, action: Action, ght_patient_id: str, reference: str) -> bool:
    """Whether the subject may see this identity; noted for the trace when it may."""
    decision = gate.decide(action, Target("Patient", ght_patient_id))
    if decision.allowed:
        gate.note(action, decision, ght_patient_id, [reference])
    return decision.allowed


def _match_input(resource: dict) -> IdentityInput:
    """$match describes a person, not a local identity: no IPP is needed."""
    data = frcore.identity_input(resource, require_ipp=False)
    return replace(data, status=data.status or "PROV")


# ------------------------------------------------------------------------------ search


@router.get("", summary="Recherche démographique (PDQm)")
def search(request: Request, db: Session = Depends(get_read_db), gate: Gate = Depends(READERS)):
    gate.check_role(Action.SEARCH, "Patient")
    criteria, ignored = _criteria(request, db)
    count, offset = page_size(request)
    outcome = None
    if ignored:
        outcome = operation_outcome([Issue("not-supported", f"paramètre ignoré : {name}", name, "warning")
                                     for name in ignored])
    if request.query_params.get("_summary") == "count":
        total, _ = queries.search(db, criteria, limit=0, offset=0)
        return respond(searchset(request, "Patient", [], total=total, count=0, offset=0, outcome=outcome))
    total, found = queries.search(db, criteria, limit=count, offset=offset)
    readable = [i for i in found if _readable(gate, Action.SEARCH, i.patient_id, f"Patient/{i.id}")]
    if len(readable) < len(found):
        total = None  # the count would reveal identities the subject may not see
    gate.flush()
    entries = [{"fullUrl": full_url(request, f"Patient/{identity.id}"), "resource": versions.read(db, identity).body,
                "search": {"mode": "match"}} for identity in readable]
    return respond(searchset(request, "Patient", entries, total=total, count=count, offset=offset, outcome=outcome))


def _criteria(request: Request, db: Session) -> tuple[queries.Criteria, list[str]]:
    criteria, ignored, unknown = queries.Criteria(), [], []
    lenient = "handling=lenient" in request.headers.get("prefer", "")
    for key, value in request.query_params.multi_items():
        name, _, modifier = key.partition(":")
        if name in CONTROL_PARAMETERS:
            if name == "_summary" and value != "count":
                raise error(400, "not-supported", f"_summary={value} non pris en charge (count seulement)", key)
            continue
        if name not in SEARCH_PARAMETERS or (modifier and modifier not in STRING_MODIFIERS):
            (ignored if lenient else unknown).append(key)
            continue
        alternatives = value.split(",")
        if name in ("family", "given", "name"):
            if len(alternatives) > 1:
                raise error(400, "not-supported", f"{key} : une seule valeur par paramètre (répéter le paramètre)", key)
            getattr(criteria, name).append((modifier, value))
        elif name == "birthdate":
            criteria.birthdate += [date_range(v, key) for v in alternatives]
        elif name == "gender":
            genders = [frcore.GENDER_IN.get(v) for v in alternatives]
            if None in genders:
                raise error(400, "value", f"sexe inconnu dans « {value} » (male, female, other, unknown)", key)
            criteria.gender += genders
        elif name == "identifier":
            criteria.identifiers.append([_identifier_query(request, db, v, key) for v in alternatives])
        elif name == "_id":
            criteria.ids += [-1 if (number := parse_int(v)) is None else number for v in alternatives]
        elif name == "active":
            if value not in ("true", "false"):
                raise error(400, "value", "active attend true ou false", key)
            criteria.active = value == "true"
    if unknown:
        raise FhirError(400, *[Issue("not-supported", f"paramètre de recherche inconnu : {k} (pris en charge : "
                                                      f"{', '.join(SEARCH_PARAMETERS)})", k) for k in unknown])
    return criteria, ignored


# ------------------------------------------------------------------------------ instance


@router.get("/{resource_id}/_history/{version_id}", summary="Lire une version")
def vread(resource_id: str, version_id: str, request: Request, db: Session = Depends(get_read_db),
          gate: Gate = Depends(READERS)):
    identity = identity_of(db, resource_id)
    gate.require(Action.READ, Target("Patient", identity.patient_id), [f"Patient/{identity.id}/_history/{version_id}"])
    gate.flush()
    found = versions.read(db, identity, number) if (number := parse_int(version_id)) is not None else None
    if found is None:
        raise error(404, "not-found", f"Patient/{resource_id} n'a pas de version {version_id}")
    return respond(found.body, 200, _headers(found, request, identity.id))


@router.get("/{resource_id}/_history", summary="Historique d'un patient")
def instance_history(resource_id: str, request: Request, db: Session = Depends(get_read_db),
                     gate: Gate = Depends(READERS)):
    identity = identity_of(db, resource_id)
    gate.require(Action.READ, Target("Patient", identity.patient_id), [f"Patient/{identity.id}"])
    gate.flush()
    entries = [{
        "fullUrl": full_url(request, f"Patient/{identity.id}"), "resource": v.body,
        "request": {"method": "PUT" if v.version > 1 else "POST", "url": f"Patient/{identity.id}"},
        "response": {"status": "200" if v.version > 1 else "201", "etag": v.etag,
                     "lastModified": v.last_updated.isoformat(timespec="milliseconds")},
    } for v in versions.history(db, identity)]
    return respond({"resourceType": "Bundle", "type": "history", "total": len(entries), "entry": entries})


@router.get("/{resource_id}", summary="Lire un patient (identité locale, ou patient GHT par son identifiant)")
def read(resource_id: str, request: Request, db: Session = Depends(get_read_db), gate: Gate = Depends(READERS)):
    if is_valid_patient_id(resource_id) and (patient := db.get(GhtPatient, resource_id)) is not None:
        gate.require(Action.READ, Target("Patient", patient.id), [f"Patient/{patient.id}"])
        gate.flush()
        return respond(versions.ght_patient(db, patient, _ght_oid(request)))
    identity = identity_of(db, resource_id)
    gate.require(Action.READ, Target("Patient", identity.patient_id), [f"Patient/{identity.id}"])
    gate.flush()
    current = versions.read(db, identity)
    return respond(current.body, 200, _headers(current, request, identity.id))


@router.put("/{resource_id}", summary="Mettre à jour une identité locale")
def update(resource_id: str, request: Request, db: Session = Depends(get_db),
                 gate: Gate = Depends(WRITERS), raw: Any = Depends(fhir_body)):
    body = validate(raw, "Patient")
    if body.get("id") != resource_id:
        raise error(400, "invalid", f"l'id de la ressource ({body.get('id')}) doit être celui de l'URL ({resource_id})",
                    "Patient.id")
    if is_valid_patient_id(resource_id) and db.get(GhtPatient, resource_id) is not None:
        raise error(405, "not-supported", "un patient GHT se modifie par ses identités locales")
    try:
        identity = identity_of(db, resource_id)
    except FhirError:
        raise error(404, "not-found", f"Patient/{resource_id} inconnu ; le serveur attribue les id : "
                                      f"POST Patient ou PUT Patient?identifier=…") from None
    _check_if_match(request, identity)
    identity, _ = write_patient(db, body, gate, identity)
    return _written(request, db, gate, identity, False)


@router.delete("/{resource_id}", summary="Non pris en charge : une identité se retire par fusion (A40)")
def delete(resource_id: str, gate: Gate = Depends(WRITERS)):
    gate.check_role(Action.DELETE, "Patient")
    raise error(405, "not-supported", "une identité ne se supprime pas ; elle se retire par fusion (A40) "
                                      "ou se détache par l'identitovigilance")
