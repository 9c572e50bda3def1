"""The FHIR resource store: create, update, delete, read, vread, history.

Each write stores the resource's current row, a version row and its search-index rows in the
caller's transaction (the caller commits before answering, so a 2xx is durable). The body is
kept as the sender wrote it; only `id` and the server-owned `meta` elements (versionId,
lastUpdated, source, the source-establishment tag) are set here, so that reads need no
rendering and what was valid reads back unchanged.

Patient is not stored here: it is the identity server's (see ght.interop.fhir.patient_routes).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from ght.db.base import utcnow
from ght.db.numbers import parse_int
from ght.directory.lookup import juridique_finess
from ght.directory.models import Establishment
from ght.identity import queries as identity_queries
from ght.identity.patient_ids import is_valid_patient_id
from ght.interop.fhir.outcome import error
from ght.interop.fhir.systems import FINESS_SYSTEM
from ght.record.indexing import Extracted, extract
from ght.record.models import (
    INDEX_TABLES, DateIndex, QuantityIndex, ReferenceIndex, Resource, ResourceVersion, StringIndex, TokenIndex,
)
from ght.record.search_parameters import SEARCH_PARAMETERS

SERVER_META = ("versionId", "lastUpdated", "source")
SOURCE_PREFIX = "urn:finess:"


# The access policy's check of one write (ght.access.gate.Gate.authorize_write): called with the
# action ("create", "update", "delete"), the resource type and id, the GHT patient and the source
# establishment the write will give the resource, its body, and the row it replaces (None for a
# creation); raises to refuse. Called by every write path of the store, bundles and bulk loads too.
Authorize = Callable[[str, str, str, "str | None", "int | None", "dict | None", "Resource | None"], None]


@dataclass(frozen=True)
class WriteContext:
    actor: str
    establishment_id: int | None = None  # the writer's establishment: the source when nothing else says
    authorize: Authorize | None = None  # None: a system door (HL7 feed, `ght record load`), traced by its caller

    def check(self, action: str, resource_type: str, fhir_id: str, compartment: Compartment | None,
              source_id: int | None, body: dict | None, existing: Resource | None) -> None:
        if self.authorize is not None:
            self.authorize(action, resource_type, fhir_id, compartment.ght_patient_id if compartment else None,
                           source_id, body, existing)


@dataclass(frozen=True)
class Compartment:
    ght_patient_id: str | None
    local_identity_id: int | None
    establishment_id: int | None  # the local identity's establishment


def new_id() -> str:
    return str(uuid.uuid4())


# ------------------------------------------------------------------------------ compartment


def patient_of(db: Session, extracted: Extracted, resource_type: str, body: dict | None = None,
               places: dict[int, identity_queries.IdentityPlace] | None = None) -> Compartment:
    """The patient a resource is about, from its `patient` (else `subject`) reference: a local
    Patient (its identity) or a GHT patient. An unknown patient is refused: a clinical resource
    of the territory always belongs to a known patient. A Binary belongs to the patient of the
    resource its `securityContext` names (or of the one that attaches it: see attach_binaries).
    `places`: identities already looked up (patient_references, for many resources at once)."""
    if resource_type == "Binary":
        return _binary_compartment(db, body or {})
    params = SEARCH_PARAMETERS.get(resource_type, {})
    name = _patient_parameter(resource_type)
    targets = [i for p, t, i in extracted.references if p == name and t == "Patient"]
    if not targets:
        return Compartment(None, None, None)
    fhir_id = targets[0]
    if (number := parse_int(fhir_id)) is not None:
        # A retired identity's resources follow its survivor.
        place = (places or {}).get(number) or identity_queries.place_of_identity(db, number)
        if place is not None:
            return Compartment(place.ght_patient_id, number, place.establishment_id)
    elif is_valid_patient_id(fhir_id) and (patient_id := identity_queries.survivor_id(db, fhir_id)):
        return Compartment(patient_id, None, None)
    raise error(422, "processing", f"patient inconnu : Patient/{fhir_id}", f"{resource_type}.{params[name].paths[0]}")


def _patient_parameter(resource_type: str) -> str | None:
    params = SEARCH_PARAMETERS.get(resource_type, {})
    return "patient" if "patient" in params else "subject" if "subject" in params else None


def patient_references(resource_type: str, extracted: Extracted) -> list[int]:
    """The local identity ids a resource's patient reference names (for places_of_identities)."""
    name = _patient_parameter(resource_type)
    return [number for p, t, i in extracted.references
            if p == name and t == "Patient" and (number := parse_int(i)) is not None]


def _binary_compartment(db: Session, body: dict) -> Compartment:
    target = (body.get("securityContext") or {}).get("reference", "").split("/")
    if len(target) >= 2 and (owner := current(db, target[-2], target[-1])) is not None:
        return Compartment(owner.ght_patient_id, owner.local_identity_id, owner.source_establishment_id)
    return Compartment(None, None, None)


def _attached_binaries(value) -> list[str]:
    """Ids of the Binaries an attachment (`url: Binary/<id>`) of the body points at."""
    if isinstance(value, dict):
        url = value.get("url")
        found = [url.split("/", 1)[1]] if isinstance(url, str) and url.startswith("Binary/") and "contentType" in value else []
        return found + [i for v in value.values() if isinstance(v, (dict, list)) for i in _attached_binaries(v)]
    if isinstance(value, list):
        return [i for v in value for i in _attached_binaries(v)]
    return []


def attach_binaries(db: Session, body: dict, compartment: Compartment) -> None:
    """Binaries a document or report attaches join its patient's compartment (whichever of the
    two was written first), so that $everything and the access rules find them."""
    if compartment.ght_patient_id is None:
        return
    ids = _attached_binaries(body)
    if ids:
        db.execute(sql_update(Resource).where(
            Resource.resource_type == "Binary", Resource.fhir_id.in_(ids), Resource.ght_patient_id.is_(None),
        ).values(ght_patient_id=compartment.ght_patient_id, local_identity_id=compartment.local_identity_id))


# ------------------------------------------------------------------------------ source


@dataclass(frozen=True)
class Source:
    establishment_id: int | None
    finess: str | None
    name: str | None


def source_of(db: Session, body: dict, compartment: Compartment, context: WriteContext) -> Source:
    """The establishment a resource comes from: `meta.source` when it names a GHT establishment
    (urn:finess:<FINESS>), else the patient's local identity's, else the writer's."""
    declared = (body.get("meta") or {}).get("source", "")
    establishment = None
    if declared.startswith(SOURCE_PREFIX):
        finess = juridique_finess(db, declared.removeprefix(SOURCE_PREFIX))
        establishment = db.scalar(select(Establishment).where(Establishment.finess_ej == finess))
        if establishment is None:
            raise error(422, "processing", f"meta.source : établissement inconnu du GHT ({declared})", "meta.source")
    establishment_id = establishment.id if establishment else compartment.establishment_id or context.establishment_id
    if establishment is None and establishment_id is not None:
        establishment = db.get(Establishment, establishment_id)
    if establishment is None:
        return Source(None, None, None)
    return Source(establishment.id, establishment.finess_ej, establishment.short_name)


def with_meta(body: dict, fhir_id: str, version: int, at: datetime, source: Source) -> dict:
    meta = {k: v for k, v in (body.get("meta") or {}).items() if k not in SERVER_META}
    tags = [t for t in meta.get("tag", []) if t.get("system") != FINESS_SYSTEM]
    if source.finess:
        tags.append({"system": FINESS_SYSTEM, "code": source.finess, "display": source.name})
    if tags:
        meta["tag"] = tags
    server = {"versionId": str(version), "lastUpdated": at.isoformat(timespec="milliseconds")}
    if source.finess:
        server["source"] = f"{SOURCE_PREFIX}{source.finess}"
    content = {k: v for k, v in body.items() if k not in ("resourceType", "id", "meta")}
    return {"resourceType": body["resourceType"], "id": fhir_id, "meta": {**server, **meta}, **content}


# ------------------------------------------------------------------------------ index


def index_rows(resource_id: int, resource_type: str, extracted: Extracted) -> dict[type, list[dict]]:
    base = {"resource_id": resource_id, "resource_type": resource_type}
    tokens = [{**base, "param": p, "system": s[:255], "code": c[:255]} for p, s, c in extracted.tokens]
    tokens += [{**base, "param": p, "system": "", "code": u[:255]} for p, u in extracted.uris]
    tokens += [{**base, "param": f"{p}:identifier", "system": s[:255], "code": v[:255]}
               for p, s, v in extracted.reference_identifiers]
    return {
        TokenIndex: tokens,
        StringIndex: [{**base, "param": p, "value": v[:255]} for p, v in extracted.strings],
        DateIndex: [{**base, "param": p, "low": lo, "high": hi} for p, lo, hi in extracted.dates],
        ReferenceIndex: [{**base, "param": p, "target_type": t, "target_id": i[:64]} for p, t, i in extracted.references],
        QuantityIndex: [{**base, "param": p, "value": v, "system": s[:255], "code": c[:64]}
                        for p, v, s, c in extracted.quantities],
    }


def write_index(db: Session, resource_id: int, resource_type: str, extracted: Extracted) -> None:
    for table, rows in index_rows(resource_id, resource_type, extracted).items():
        if rows:
            db.execute(insert(table), rows)


def clear_index(db: Session, resource_id: int) -> None:
    for table in INDEX_TABLES:
        db.execute(delete(table).where(table.resource_id == resource_id))


# ------------------------------------------------------------------------------ writes


@dataclass(frozen=True)
class Written:
    body: dict
    version: int
    last_updated: datetime
    created: bool

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


def create(db: Session, body: dict, context: WriteContext, *, fhir_id: str | None = None) -> Written:
    """Store a new resource (its id assigned here unless an update-as-create gives one)."""
    resource_type = body["resourceType"]
    fhir_id = fhir_id or new_id()
    extracted = extract(body)
    compartment = patient_of(db, extracted, resource_type, body)
    attach_binaries(db, body, compartment)
    source = source_of(db, body, compartment, context)
    context.check("create", resource_type, fhir_id, compartment, source.establishment_id, body, None)
    at = utcnow()
    stored = with_meta(body, fhir_id, 1, at, source)
    resource_id = db.execute(insert(Resource).values(
        resource_type=resource_type, fhir_id=fhir_id, version=1, last_updated=at, deleted=False,
        ght_patient_id=compartment.ght_patient_id, local_identity_id=compartment.local_identity_id,
        source_establishment_id=source.establishment_id, body=stored,
    ).returning(Resource.id)).scalar_one()
    db.execute(insert(ResourceVersion).values(resource_id=resource_id, version=1, resource_type=resource_type,
                                              last_updated=at, method="POST", deleted=False, body=stored))
    write_index(db, resource_id, resource_type, extracted)
    return Written(stored, 1, at, True)


def current(db: Session, resource_type: str, fhir_id: str, *, for_update: bool = False) -> Resource | None:
    query = select(Resource).where(Resource.resource_type == resource_type, Resource.fhir_id == fhir_id)
    if for_update:
        query = query.with_for_update()
    return db.scalar(query)


def current_rows(db: Session, resource_type: str, fhir_ids: set[str]) -> list[Resource]:
    if not fhir_ids:
        return []
    return list(db.scalars(select(Resource).where(Resource.resource_type == resource_type,
                                                  Resource.fhir_id.in_(sorted(fhir_ids)))))


def _check_version(resource: Resource, if_match: str | None) -> None:
    if if_match and if_match.strip() not in (f'W/"{resource.version}"', f'"{resource.version}"'):
        raise error(412, "conflict", f"version {if_match} demandée ; la version courante de "
                                     f"{resource.resource_type}/{resource.fhir_id} est W/\"{resource.version}\"")


def update(db: Session, body: dict, fhir_id: str, context: WriteContext, *, if_match: str | None = None) -> Written:
    """Replace a resource (a new version), or create it with this id when it does not exist."""
    resource_type = body["resourceType"]
    resource = current(db, resource_type, fhir_id, for_update=True)
    if resource is None:
        if if_match:
            raise error(412, "conflict", f"{resource_type}/{fhir_id} n'existe pas (If-Match {if_match})")
        return create(db, body, context, fhir_id=fhir_id)
    _check_version(resource, if_match)
    extracted = extract(body)
    compartment = patient_of(db, extracted, resource_type, body)
    attach_binaries(db, body, compartment)
    source = source_of(db, body, compartment, context)
    context.check("update", resource_type, fhir_id, compartment, source.establishment_id, body, resource)
    if not resource.deleted and _same_content(resource.body, body, source):
        return Written(resource.body, resource.version, resource.last_updated, False)
    at, version = utcnow(), resource.version + 1
    stored = with_meta(body, fhir_id, version, at, source)
    db.execute(sql_update(Resource).where(Resource.id == resource.id).values(
        version=version, last_updated=at, deleted=False, body=stored,
        ght_patient_id=compartment.ght_patient_id, local_identity_id=compartment.local_identity_id,
        source_establishment_id=source.establishment_id,
    ))
    db.execute(insert(ResourceVersion).values(resource_id=resource.id, version=version, resource_type=resource_type,
                                              last_updated=at, method="PUT", deleted=False, body=stored))
    clear_index(db, resource.id)
    write_index(db, resource.id, resource_type, extracted)
    created = resource.deleted  # writing over a deleted resource brings it back
    return Written(stored, version, at, created)


def _comparable(body: dict) -> dict:
    meta = {k: v for k, v in body.get("meta", {}).items() if k not in ("versionId", "lastUpdated")}
    return {**{k: v for k, v in body.items() if k != "meta"}, "meta": meta}


def _same_content(stored: dict | None, body: dict, source: Source) -> bool:
    """An update that changes nothing makes no version (idempotent PUT)."""
    if stored is None:
        return False
    return _comparable(stored) == _comparable(with_meta(body, stored["id"], 0, utcnow(), source))


def remove(db: Session, resource_type: str, fhir_id: str, *, if_match: str | None = None,
           context: WriteContext | None = None) -> int | None:
    """Delete (kept in history); returns the deleting version, None when there was nothing."""
    resource = current(db, resource_type, fhir_id, for_update=True)
    if resource is None or resource.deleted:
        return None
    if context is not None:
        context.check("delete", resource_type, fhir_id, None, resource.source_establishment_id, None, resource)
    _check_version(resource, if_match)
    at, version = utcnow(), resource.version + 1
    db.execute(sql_update(Resource).where(Resource.id == resource.id).values(
        version=version, last_updated=at, deleted=True, body=None))
    db.execute(insert(ResourceVersion).values(resource_id=resource.id, version=version, resource_type=resource_type,
                                              last_updated=at, method="DELETE", deleted=True, body=None))
    clear_index(db, resource.id)
    return version


# ------------------------------------------------------------------------------ reads


def read(db: Session, resource_type: str, fhir_id: str) -> Resource:
    resource = current(db, resource_type, fhir_id)
    if resource is None:
        raise error(404, "not-found", f"{resource_type}/{fhir_id} inconnu")
    if resource.deleted:
        raise error(410, "deleted", f"{resource_type}/{fhir_id} a été supprimé (version {resource.version})")
    return resource


def vread(db: Session, resource_type: str, fhir_id: str, version: int) -> ResourceVersion:
    found = db.scalar(select(ResourceVersion).join(Resource, Resource.id == ResourceVersion.resource_id).where(
        Resource.resource_type == resource_type, Resource.fhir_id == fhir_id, ResourceVersion.version == version))
    if found is None:
        raise error(404, "not-found", f"{resource_type}/{fhir_id} n'a pas de version {version}")
    if found.deleted:
        raise error(410, "deleted", f"la version {version} de {resource_type}/{fhir_id} est sa suppression")
    return found


def instance_history(db: Session, resource_type: str, fhir_id: str) -> list[ResourceVersion]:
    resource = current(db, resource_type, fhir_id)
    if resource is None:
        raise error(404, "not-found", f"{resource_type}/{fhir_id} inconnu")
    return list(db.scalars(select(ResourceVersion).where(ResourceVersion.resource_id == resource.id)
                           .order_by(ResourceVersion.version.desc())))


def type_history(db: Session, resource_type: str, *, limit: int, offset: int) -> tuple[int, list[tuple[str, ResourceVersion]]]:
    query = (select(Resource.fhir_id, ResourceVersion).join(Resource, Resource.id == ResourceVersion.resource_id)
             .where(ResourceVersion.resource_type == resource_type))
    total = db.scalar(select(func.count()).select_from(
        select(ResourceVersion.resource_id).where(ResourceVersion.resource_type == resource_type).subquery()))
    rows = db.execute(query.order_by(ResourceVersion.last_updated.desc(), ResourceVersion.resource_id.desc())
                      .limit(limit).offset(offset)).all()
    return total, [(fhir_id, version) for fhir_id, version in rows]
