"""Identity-vigilance JSON API: review queue, decisions, link/unlink, merge/unmerge, collisions,
duplicate reports. Reserved to the identity-vigilance cell; every answer is traced, one entry per
patient whose identities it shows or changes (ght.access.gate)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from ght.access import doors
from ght.access.gate import Gate
from ght.api.deps import get_db, role_gate
from ght.audit.trail import Action, Door
from ght.db.numbers import INT4_MAX
from ght.directory.vocab import Role
from ght.identity import service, vigilance
from ght.identity.models import GhtPatient, LinkEvent, LocalIdentity, ReviewItem
from ght.identity.service import IdentityRejected

class Refusal(BaseModel):
    field: str
    message: str


class RefusalOrInvalid(BaseModel):
    """A 422: the identity server's refusal (`{"field", "message"}`), or FastAPI's list of
    invalid request fields."""

    detail: Refusal | list[dict[str, Any]]


# A row number of the identity tables (INTEGER columns): a larger one would overflow the database.
RowId = Annotated[int, Path(ge=1, le=INT4_MAX)]

router = APIRouter(prefix="/api/identity", tags=["identitovigilance"],
                   responses={422: {"model": RefusalOrInvalid, "description": "refus du serveur d'identité, "
                                                                             "ou requête invalide"}})
vigilant = role_gate(Door.API, Role.IDENTITY_VIGILANCE)
_traced = doors.trace_identities


class IdentityOut(BaseModel):
    id: int
    finess: str
    establishment: str
    ipp: str
    patient_id: str
    active: bool
    birth_name: str
    used_name: str
    first_given_name: str
    given_names: str
    birth_date: date | None
    sex: str
    birth_place: str
    address: str
    postcode: str
    city: str
    phone: str
    ins: str | None
    ins_valid: bool
    status: str
    flags: str
    version: int

    @classmethod
    def of(cls, i: LocalIdentity) -> IdentityOut:
        return cls(
            id=i.id, finess=i.establishment.finess_ej, establishment=i.establishment.short_name, ipp=i.ipp,
            patient_id=i.patient_id, active=i.active, birth_name=i.birth_name, used_name=i.used_name,
            first_given_name=i.first_given_name, given_names=i.given_names, birth_date=i.birth_date,
            sex=i.sex, birth_place=i.birth_place, address=i.address, postcode=i.postcode, city=i.city,
            phone=i.phone, ins=i.ins, ins_valid=i.ins_valid, status=i.status, flags=i.flags, version=i.version,
        )


class FieldScore(BaseModel):
    comparison: str
    label: str
    level: str
    weight: float


class ReviewOut(BaseModel):
    id: int
    kind: str
    status: str
    weight: float
    probability: float
    fields: list[FieldScore]
    a: IdentityOut
    b: IdentityOut
    differing: list[str] = Field(description="traits known on both identities whose values differ")
    one_sided: list[str] = Field(description="traits known on one identity only")


class Decision(BaseModel):
    decision: str = Field(pattern="^(same|distinct)$")
    note: str = Field(default="", max_length=500)


class Reason(BaseModel):
    reason: str = Field(min_length=3, max_length=300)


class LinkRequest(Reason):
    patient_id: str


class MergeRequest(Reason):
    absorbed: str


class EventOut(BaseModel):
    id: int
    action: str
    identity_id: int | None
    from_patient: str | None
    to_patient: str | None
    actor: str
    reason: str

    @classmethod
    def of(cls, e: LinkEvent) -> EventOut:
        return cls(id=e.id, action=e.action, identity_id=e.identity_id, from_patient=e.from_patient,
                   to_patient=e.to_patient, actor=e.actor, reason=e.reason)


class PatientOut(BaseModel):
    id: str
    merged_into: str | None
    identities: list[IdentityOut]
    events: list[EventOut]


def _review_out(db: Session, item: ReviewItem) -> ReviewOut:
    explained = vigilance.explain(db, item)
    a, b = IdentityOut.of(explained["a"]), IdentityOut.of(explained["b"])
    return ReviewOut(
        id=item.id, kind=item.kind, status=item.status, weight=explained["weight"],
        probability=explained["probability"], fields=[FieldScore(**f) for f in explained["fields"]],
        a=a, b=b, differing=vigilance.differing(a, b), one_sided=vigilance.one_sided(a, b),
    )


def _rejected(exc: IdentityRejected) -> HTTPException:
    return HTTPException(422, detail={"field": exc.field, "message": exc.message})


@router.get("/review", response_model=list[ReviewOut], summary="File de revue, triée par risque")
def review_queue(status: str = Query("open", pattern="^(open|linked|distinct)$"),
                 limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=INT4_MAX),
                 db: Session = Depends(get_db), gate: Gate = Depends(vigilant)):
    items = [_review_out(db, item) for item in vigilance.review_queue(db, status=status, limit=limit, offset=offset)]
    _traced(gate, db, Action.SEARCH, [i for item in items for i in (item.a, item.b)])
    return items


@router.post("/review/{item_id}", response_model=ReviewOut, summary="Décider : même personne ou personnes distinctes")
def decide(item_id: RowId, body: Decision, db: Session = Depends(get_db), gate: Gate = Depends(vigilant)):
    try:
        item = vigilance.decide(db, item_id, body.decision, actor=gate.subject.username, note=body.note)
    except IdentityRejected as exc:
        raise _rejected(exc) from None
    out = _review_out(db, item)
    _traced(gate, db, Action.UPDATE, [out.a, out.b])
    return out


@router.get("/patients/{patient_id}", response_model=PatientOut, summary="Un patient GHT, ses identités et l'historique de ses liens")
def patient(patient_id: str, db: Session = Depends(get_db), gate: Gate = Depends(vigilant)):
    found = db.get(GhtPatient, patient_id)
    if found is None:
        raise HTTPException(404, detail="patient GHT inconnu")
    events = vigilance.link_history(db, patient_id)
    gate.note(Action.READ, doors.VIGILANCE, found.id, [f"Patient/{found.id}"])
    gate.flush(db)
    db.commit()
    return PatientOut(id=found.id, merged_into=found.merged_into,
                      identities=[IdentityOut.of(i) for i in found.identities],
                      events=[EventOut.of(e) for e in events])


def _apply(db: Session, gate: Gate, action) -> EventOut:
    try:
        return EventOut.of(doors.change_identities(gate, db, action))
    except IdentityRejected as exc:
        raise _rejected(exc) from None


@router.post("/identities/{identity_id}/unlink", response_model=EventOut, summary="Délier une identité (nouveau patient GHT)")
def unlink(identity_id: RowId, body: Reason, db: Session = Depends(get_db), gate: Gate = Depends(vigilant)):
    return _apply(db, gate, lambda: service.unlink_identity(db, identity_id, actor=gate.subject.username, channel="api",
                                                            reason=body.reason))


@router.post("/identities/{identity_id}/link", response_model=EventOut, summary="Lier une identité à un patient GHT existant")
def link(identity_id: RowId, body: LinkRequest, db: Session = Depends(get_db), gate: Gate = Depends(vigilant)):
    return _apply(db, gate, lambda: service.link_identity(db, identity_id, body.patient_id, actor=gate.subject.username,
                                                          channel="api", reason=body.reason))


@router.post("/patients/{patient_id}/merge", response_model=EventOut, summary="Fusionner un patient GHT dans celui-ci")
def merge(patient_id: str, body: MergeRequest, db: Session = Depends(get_db), gate: Gate = Depends(vigilant)):
    return _apply(db, gate, lambda: service.merge_patients(db, patient_id, body.absorbed, actor=gate.subject.username,
                                                           channel="api", reason=body.reason))


@router.post("/merges/{event_id}/unmerge", response_model=EventOut, summary="Annuler une fusion (restaure l'état d'avant)")
def unmerge(event_id: RowId, body: Reason, db: Session = Depends(get_db), gate: Gate = Depends(vigilant)):
    return _apply(db, gate, lambda: service.unmerge(db, event_id, actor=gate.subject.username, channel="api",
                                                    reason=body.reason))


class CollisionOut(BaseModel):
    patient_id: str
    identities: list[IdentityOut]


@router.get("/collisions", response_model=list[CollisionOut], summary="Patients portant deux INS différents")
def collisions(db: Session = Depends(get_db), gate: Gate = Depends(vigilant)):
    found = [CollisionOut(patient_id=p, identities=[IdentityOut.of(i) for i in members])
             for p, members in vigilance.collisions(db)]
    _traced(gate, db, Action.SEARCH, [i for c in found for i in c.identities])
    return found


class DuplicateReport(BaseModel):
    finess: str
    establishment: str
    linked_duplicates: dict[str, list[IdentityOut]]
    review_pairs: list[ReviewOut]


@router.get("/reports/duplicates/{finess}", response_model=DuplicateReport, summary="Doublons suspectés d'un établissement")
def duplicates(finess: str, db: Session = Depends(get_db), gate: Gate = Depends(vigilant)):
    try:
        report = vigilance.duplicate_report(db, finess)
    except IdentityRejected as exc:
        raise HTTPException(404, detail=exc.message) from None
    out = DuplicateReport(
        finess=finess, establishment=report["establishment"].name,
        linked_duplicates={p: [IdentityOut.of(i) for i in members] for p, members in report["linked_duplicates"].items()},
        review_pairs=[_review_out(db, item) for item in report["review_pairs"]],
    )
    _traced(gate, db, Action.SEARCH, [*(i for members in out.linked_duplicates.values() for i in members),
                                      *(i for pair in out.review_pairs for i in (pair.a, pair.b))])
    return out
