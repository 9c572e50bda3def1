"""`Patient/<id>/$everything`: the territory-wide record of a person. Any of its local
Patients or its GHT patient gives the same answer: the GHT patient, its local Patients, every
resource of its compartment from every establishment (each marked with its source), and the
directory resources they reference (practitioners, organisations, locations...)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ght.access.gate import Gate
from ght.access.policy import Target
from ght.api.deps import get_read_db
from ght.audit.trail import Action
from ght.identity.models import GhtPatient
from ght.interop.fhir import patient_versions
from ght.interop.fhir.http import PREFIX, full_url, respond
from ght.interop.fhir.outcome import error
from ght.interop.fhir.resource_routes import READERS, RECORD_TYPES
from ght.record.models import ReferenceIndex, Resource
from ght.record.search import date_bounds, ght_patients_of

router = APIRouter(prefix=f"{PREFIX}/Patient", tags=["FHIR dossier partagé"])


@router.get("/{resource_id}/$everything", summary="Dossier territorial complet du patient")
def everything(resource_id: str, request: Request, db: Session = Depends(get_read_db),
               gate: Gate = Depends(READERS)):
    patients = ght_patients_of(db, resource_id, "", "id")
    if not patients:
        raise error(404, "not-found", f"Patient/{resource_id} inconnu")
    patient = db.get(GhtPatient, patients[0])
    # The record as a whole first (refused outside the care team), then resource by resource
    # (the patient's oppositions, sensitive resources).
    gate.require_patient(Action.READ, "Observation", patient.id)
    query = select(Resource).where(Resource.ght_patient_id == patient.id, Resource.deleted.is_(False))
    types = [t for value in request.query_params.getlist("_type") for t in value.split(",") if t]
    unknown = [t for t in types if t not in RECORD_TYPES and t != "Patient"]
    if unknown:
        raise error(400, "value", f"_type : type(s) non pris en charge : {', '.join(unknown)}", "_type")
    if types:
        query = query.where(Resource.resource_type.in_(types))
    if since := request.query_params.get("_since"):
        query = query.where(Resource.last_updated >= date_bounds(since, "_since")[0])
    rows = gate.keep(Action.READ, db.scalars(
        query.order_by(Resource.resource_type, Resource.last_updated.desc(), Resource.id)))
    ght_oid = request.app.state.ght_oid
    entries = []
    if (not types or "Patient" in types) and gate.require(Action.READ, Target("Patient", patient.id),
                                                          [f"Patient/{patient.id}"]).allowed:
        entries.append(_entry(request, "Patient", patient.id, patient_versions.ght_patient(db, patient, ght_oid)))
        for identity in patient.identities:
            local = patient_versions.read(db, identity)
            entries.append(_entry(request, "Patient", str(identity.id), local.body))
    entries += [_entry(request, r.resource_type, r.fhir_id, r.body) for r in rows]
    entries += [_entry(request, r.resource_type, r.fhir_id, r.body) for r in _referenced(db, [r.id for r in rows])]
    gate.flush()
    return respond({"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries})


def _entry(request: Request, resource_type: str, fhir_id: str, body: dict) -> dict:
    return {"fullUrl": full_url(request, f"{resource_type}/{fhir_id}"), "resource": body, "search": {"mode": "match"}}


def _referenced(db: Session, resource_ids: list[int]) -> list[Resource]:
    """Resources outside the compartment that the record refers to (no patient of their own)."""
    if not resource_ids:
        return []
    targets = (select(ReferenceIndex.target_type, ReferenceIndex.target_id)
               .where(ReferenceIndex.resource_id.in_(resource_ids), ReferenceIndex.target_type != "Patient")
               .distinct().subquery())
    return list(db.scalars(select(Resource).join(targets, (Resource.resource_type == targets.c.target_type)
                                                 & (Resource.fhir_id == targets.c.target_id))
                           .where(Resource.ght_patient_id.is_(None), Resource.deleted.is_(False))
                           .order_by(Resource.resource_type, Resource.fhir_id)))
