"""Versions of a local identity's Patient resource.

The Patient's version is the identity's: every feed (HL7 v2, FHIR, batch, API) bumps the same
counter and leaves an IdentityChange snapshot. A version written through FHIR reads back as
the body that was sent (kept in patient_resource); any other version is rendered from the
snapshot of its traits, keeping the elements of the last FHIR body that traits do not hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ght.db.numbers import parse_int
from ght.identity.models import GhtPatient, IdentityChange, LocalIdentity
from ght.identity.patient_ids import is_valid_patient_id
from ght.identity.service import snapshot
from ght.interop.fhir import patient as frcore
from ght.interop.fhir import systems as s
from ght.record.models import PatientResource

CLIENT_META = ("profile", "tag", "security")  # meta elements a sender owns


@dataclass(frozen=True)
class PatientVersion:
    body: dict[str, Any]
    version: int
    last_updated: datetime

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


def _change_at(db: Session, identity_id: int, version: int) -> IdentityChange | None:
    return db.scalar(select(IdentityChange).where(
        IdentityChange.identity_id == identity_id, IdentityChange.version == version,
    ).order_by(IdentityChange.id.desc()).limit(1))


def _stored_before(db: Session, identity_id: int, version: int) -> PatientResource | None:
    return db.scalar(select(PatientResource).where(
        PatientResource.identity_id == identity_id, PatientResource.version <= version,
    ).order_by(PatientResource.version.desc()).limit(1))


def _meta(body: dict, version: int, at: datetime, finess: str) -> dict:
    kept = {k: v for k, v in (body.get("meta") or {}).items() if k in CLIENT_META}
    return {"versionId": str(version), "lastUpdated": at.isoformat(timespec="milliseconds"),
            "source": f"urn:finess:{finess}", **kept}


def read(db: Session, identity: LocalIdentity, version: int | None = None) -> PatientVersion | None:
    """The Patient at `version` (default: the current one); None for a version that never was."""
    version = identity.version if version is None else version
    if version == identity.version:
        traits, at = snapshot(identity), identity.updated_at
    else:
        change = _change_at(db, identity.id, version)
        if change is None:
            return None
        traits, at = change.snapshot, change.at
    stored = _stored_before(db, identity.id, version)
    if stored is not None and stored.version == version:
        body = frcore.without_unshareable_ins(stored.body, traits)
        at = stored.last_updated
    else:
        body = frcore.render(traits, traits["finess"], stored.body if stored else None)
    content = {k: v for k, v in body.items() if k not in ("resourceType", "id", "meta")}
    return PatientVersion(
        {"resourceType": "Patient", "id": str(identity.id),
         "meta": _meta(body, version, at, traits["finess"]), **content},
        version, at,
    )


def history(db: Session, identity: LocalIdentity) -> list[PatientVersion]:
    """Every version, newest first."""
    versions = sorted({v for v in db.scalars(select(IdentityChange.version).where(
        IdentityChange.identity_id == identity.id))} | {identity.version}, reverse=True)
    return [found for v in versions if (found := read(db, identity, v)) is not None]


def keep_body(db: Session, identity: LocalIdentity, body: dict) -> None:
    """Remember the body written through FHIR for the identity's current version."""
    content = {k: v for k, v in body.items() if k not in ("id", "meta")}
    meta = {k: v for k, v in (body.get("meta") or {}).items() if k in CLIENT_META}
    if meta:
        content["meta"] = meta
    stored = db.get(PatientResource, (identity.id, identity.version))
    if stored is None:
        db.add(PatientResource(identity_id=identity.id, version=identity.version, body=content))
    else:
        stored.body = content
    db.flush()


def content_of(body: dict) -> dict:
    """What a write compares: the body without id and server-owned meta."""
    meta = {k: v for k, v in (body.get("meta") or {}).items() if k in CLIENT_META}
    return {k: v for k, v in body.items() if k not in ("id", "meta")} | ({"meta": meta} if meta else {})


# --------------------------------------------------------------------------- GHT patient


_STATUS_RANK = {"QUAL": 0, "VALI": 1, "RECUP": 2, "PROV": 3}


def reference_identity(identities: list[LocalIdentity]) -> LocalIdentity | None:
    """The identity whose traits represent the GHT patient: the most trusted status, then the
    most recently updated."""
    active = [i for i in identities if i.active] or identities
    if not active:
        return None
    return min(active, key=lambda i: (_STATUS_RANK.get(i.status, 9), -i.updated_at.timestamp(), i.id))


def ght_patient(db: Session, patient: GhtPatient, ght_oid: str) -> dict[str, Any]:
    """The GHT patient as one Patient: its GHT id, every IPP of the group, the traits of its
    most trusted identity, and a link to each local Patient (or to the survivor of a merge)."""
    identities = list(patient.identities)
    reference = reference_identity(identities)
    body: dict[str, Any] = {"resourceType": "Patient", "id": patient.id}
    if reference is not None:
        rendered = frcore.render(snapshot(reference), reference.establishment.finess_ej)
        body.update({k: v for k, v in rendered.items() if k != "resourceType"})
        body["identifier"] = [i for i in body["identifier"] if i.get("system") in s.INS_SYSTEMS]
    body["identifier"] = [{"use": "official", "system": s.ght_patient_system(ght_oid), "value": patient.id},
                          *body.get("identifier", [])]
    for identity in identities:
        if identity.active:
            finess = identity.establishment.finess_ej
            body["identifier"].append({
                "use": "secondary", "type": {"coding": [{"system": s.V2_0203, "code": "PI"}]},
                "system": s.ipp_system(finess), "value": identity.ipp,
                "assigner": {"identifier": {"system": s.FINESS_SYSTEM, "value": finess},
                             "display": identity.establishment.name}})
    links = [{"other": {"reference": f"Patient/{i.id}"}, "type": "seealso"} for i in identities if i.active]
    if patient.merged_into:
        links.insert(0, {"other": {"reference": f"Patient/{patient.merged_into}"}, "type": "replaced-by"})
    body["active"] = patient.merged_into is None
    if links:
        body["link"] = links
    updated = max([i.updated_at for i in identities] + [patient.created_at])
    body["meta"] = {"lastUpdated": updated.isoformat(timespec="milliseconds"), "source": s.ght_patient_system(ght_oid)}
    return body


def patient_body(db: Session, fhir_id: str, ght_oid: str) -> dict[str, Any] | None:
    """The Patient a reference names (a local identity's number or a GHT id), or None."""
    if is_valid_patient_id(fhir_id) and (patient := db.get(GhtPatient, fhir_id)) is not None:
        return ght_patient(db, patient, ght_oid)
    if (number := parse_int(fhir_id)) is not None and (identity := db.get(LocalIdentity, number)) is not None:
        found = read(db, identity)
        return found.body if found else None
    return None
