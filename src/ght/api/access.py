"""Access JSON API: why a professional may or may not see a patient's record, break-the-glass,
the patient's will (oppositions and consents, written as FHIR Consent into the record), the
"who accessed this record" list, explicit grants and the reviews of the DPO."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ght.access import break_glass, doors, grants
from ght.access.gate import Gate
from ght.access.policy import ANY_SOURCE, Decision, Target
from ght.access.will import ACT_CODE_SYSTEM, ACT_REASON_SYSTEM, COLLECTOR_EXTENSION, CONSENT_SCOPE_SYSTEM
from ght.api.deps import get_db, role_gate, writing_gate
from ght.audit.trail import Action, Door
from ght.directory.models import Account, Establishment, Professional
from ght.directory.vocab import Role
from ght.interop.fhir.outcome import FhirError
from ght.interop.fhir.systems import FINESS_SYSTEM
from ght.record import search as record_search
from ght.record import store

router = APIRouter(prefix="/api", tags=["accès et traçabilité"])
GATE = writing_gate(Door.API)
dpo = role_gate(Door.API, Role.DPO)


def _patient(db: Session, reference: str) -> str:
    """The GHT patient of `Patient/<local id>`, `<local id>` or a GHT id; 404 otherwise."""
    found = record_search.ght_patients_of(db, reference, "", "patient")
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"patient inconnu : {reference}")
    return found[0]


# ------------------------------------------------------------------------------ explanation


class Explanation(BaseModel):
    ght_patient_id: str
    allowed: bool
    reason: str
    purpose: str
    relations: list[str]
    wills: list[str]
    break_glass_until: datetime | None
    grants: list[str]


@router.get("/patients/{patient}/access", response_model=Explanation,
            summary="Pourquoi le professionnel connecté a (ou n'a pas) accès au dossier de ce patient")
def explain(patient: str, db: Session = Depends(get_db), gate: Gate = Depends(GATE)) -> Explanation:
    patient_id = _patient(db, patient)
    facts = gate.facts(patient_id)
    decision = gate.decide(Action.READ, Target("Observation", patient_id, ANY_SOURCE))
    # The subject's own relations and the patient's will: traced as an access of its own.
    gate.note(Action.READ, Decision(True, decision.purpose, decision.role, f"explication : {decision.reason}"),
              patient_id, [f"Patient/{patient_id}/$access"])
    gate.flush(db)
    db.commit()
    return Explanation(ght_patient_id=patient_id, allowed=decision.allowed, reason=decision.reason,
                       purpose=decision.purpose.value, relations=[r.explain() for r in facts.relations],
                       wills=[w.explain() for w in facts.wills],
                       break_glass_until=facts.break_glass.expires_at if facts.break_glass else None,
                       grants=sorted(facts.grants))


# ------------------------------------------------------------------------------ break-the-glass


class BreakGlassIn(BaseModel):
    patient: str = Field(description="GHT id or Patient/<local id>")
    reason: str = Field(min_length=1, max_length=2000)


class BreakGlassOut(BaseModel):
    id: int
    account: str
    ght_patient_id: str
    reason: str
    started_at: datetime
    expires_at: datetime
    reviewed_at: datetime | None
    review_verdict: str | None
    review_note: str | None


def _glass_out(db: Session, row) -> BreakGlassOut:
    return BreakGlassOut(id=row.id, account=db.get(Account, row.account_id).username,
                         ght_patient_id=row.ght_patient_id, reason=row.reason, started_at=row.started_at,
                         expires_at=row.expires_at, reviewed_at=row.reviewed_at, review_verdict=row.review_verdict,
                         review_note=row.review_note)


@router.post("/access/break-glass", response_model=BreakGlassOut, status_code=201,
             summary="Déclarer un accès en urgence (bris de glace) au dossier d'un patient")
def declare_break_glass(body: BreakGlassIn, db: Session = Depends(get_db), gate: Gate = Depends(GATE)):
    patient_id = _patient(db, body.patient)
    try:
        row = doors.declare_break_glass(gate, db, patient_id, body.reason)
    except break_glass.BreakGlassError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    db.commit()
    return _glass_out(db, row)


@router.get("/access/break-glass", response_model=list[BreakGlassOut],
            summary="Accès en urgence à revoir (DPO, responsable médical)")
def break_glass_to_review(db: Session = Depends(get_db), gate: Gate = Depends(dpo)):
    rows = [_glass_out(db, row) for row in break_glass.pending_review(db)]
    gate.flush(db)  # the DPO's own reading is traced too
    db.commit()
    return rows


class ReviewIn(BaseModel):
    verdict: str = Field(pattern="^(justified|unjustified)$")
    note: str | None = Field(default=None, max_length=2000)


@router.post("/access/break-glass/{declaration_id}/review", response_model=BreakGlassOut,
             summary="Rendre l'avis sur un accès en urgence")
def review_break_glass(declaration_id: int, body: ReviewIn, db: Session = Depends(get_db),
                       gate: Gate = Depends(dpo)):
    try:
        row = break_glass.review(db, declaration_id, reviewer_id=gate.subject.account_id, verdict=body.verdict, note=body.note)
    except break_glass.BreakGlassError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    gate.flush(db)
    db.commit()
    return _glass_out(db, row)


# ------------------------------------------------------------------------------ the patient's will


class WillIn(BaseModel):
    kind: str = Field(pattern="^(opposition|consent)$")
    establishments: list[str] = Field(default_factory=list, description="FINESS of the establishments named")
    practitioners: list[str] = Field(default_factory=list, description="RPPS of the professionals named")
    emergency_too: bool = Field(default=False, description="an opposition that also holds against break-the-glass")
    note: str | None = Field(default=None, max_length=1000)


class WillOut(BaseModel):
    consent_id: str
    text: str


@router.get("/patients/{patient}/will", response_model=list[WillOut],
            summary="Oppositions et consentements du patient en vigueur (qui les a recueillis, quand)")
def will(patient: str, db: Session = Depends(get_db), gate: Gate = Depends(GATE)):
    patient_id = _patient(db, patient)
    gate.require(Action.READ, Target("Consent", patient_id, ANY_SOURCE), [f"Patient/{patient_id}/will"])
    facts = gate.facts(patient_id)
    gate.flush(db)
    db.commit()
    return [WillOut(consent_id=w.resource.split("/", 1)[1], text=w.explain()) for w in facts.wills]


@router.post("/patients/{patient}/will", response_model=WillOut, status_code=201,
             summary="Recueillir une opposition ou un consentement au partage (FHIR Consent)")
def record_will(patient: str, body: WillIn, db: Session = Depends(get_db), gate: Gate = Depends(GATE)):
    patient_id = _patient(db, patient)
    if body.kind == "consent" and not body.establishments and not body.practitioners:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            detail="un consentement au partage désigne ses destinataires (établissements ou professionnels)")
    actors = []
    for finess in body.establishments:
        if db.scalar(select(Establishment.id).where(Establishment.finess_ej == finess)) is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"établissement inconnu du GHT : {finess}")
        actors.append({"role": _recipient(), "reference": {"reference": f"Organization/ej-{finess}",
                                                           "identifier": {"system": FINESS_SYSTEM, "value": finess}}})
    for rpps in body.practitioners:
        if db.scalar(select(Professional.id).where(Professional.rpps == rpps)) is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"professionnel inconnu (RPPS) : {rpps}")
        actors.append({"role": _recipient(), "reference": {"reference": f"Practitioner/pr-{rpps}"}})
    collector = db.get(Professional, gate.subject.professional_id)
    provision = {"type": "deny" if body.kind == "opposition" else "permit", "period": {"start": gate.now.isoformat()}}
    if actors:
        provision["actor"] = actors
    if body.emergency_too and body.kind == "opposition":
        provision["purpose"] = [{"system": ACT_REASON_SYSTEM, "code": "ETREAT"}]
    consent = {
        "resourceType": "Consent", "status": "active",
        "extension": [{"url": COLLECTOR_EXTENSION, "valueReference": {
            "reference": f"Practitioner/pr-{collector.rpps}" if collector.rpps else None,
            "display": collector.display_name}}],
        "scope": {"coding": [{"system": CONSENT_SCOPE_SYSTEM, "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": gate.now.isoformat(timespec="seconds"),
        "policyRule": {"coding": [{"system": ACT_CODE_SYSTEM, "code": "OPTOUT" if body.kind == "opposition" else "OPTIN"}]},
        "provision": provision,
    }
    if not consent["extension"][0]["valueReference"]["reference"]:
        del consent["extension"][0]["valueReference"]["reference"]
    if body.note:
        consent["text"] = {"status": "additional", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{_escape(body.note)}</div>'}
    try:
        written = store.create(db, consent, gate.write_context())
    except FhirError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    gate.flush(db)
    db.commit()
    return WillOut(consent_id=written.body["id"], text=f"{body.kind} enregistrée (Consent/{written.body['id']})")


def _recipient() -> dict:
    return {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]}


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ------------------------------------------------------------------------------ who accessed


class AccessOut(BaseModel):
    recorded_at: datetime
    account: str
    professional: str | None
    role: str
    establishment: str | None
    action: str
    purpose: str
    outcome: str
    door: str
    break_glass_reason: str | None


@router.get("/patients/{patient}/access-log", response_model=list[AccessOut],
            summary="Qui a accédé au dossier de ce patient")
def access_log(patient: str, limit: int = Query(200, ge=1, le=1000), db: Session = Depends(get_db),
               gate: Gate = Depends(GATE)):
    rows = doors.access_log(gate, db, _patient(db, patient), limit)
    db.commit()
    return [AccessOut(recorded_at=a.recorded_at, account=a.account, professional=a.professional, role=a.role,
                      establishment=a.establishment, action=a.action, purpose=a.purpose, outcome=a.outcome,
                      door=a.door, break_glass_reason=a.break_glass_reason) for a in rows]


# ------------------------------------------------------------------------------ grants


class GrantIn(BaseModel):
    username: str
    kind: str = Field(pattern="^(sensitive|record)$")
    reason: str = Field(min_length=1, max_length=2000)
    days: int = Field(ge=1, le=grants.MAX_DAYS)
    patient: str | None = Field(default=None, description="GHT id; none: every patient")


class GrantOut(BaseModel):
    id: int
    username: str
    kind: str
    reason: str
    ght_patient_id: str | None
    starts_at: datetime
    ends_at: datetime


def _grant_out(db: Session, g) -> GrantOut:
    return GrantOut(id=g.id, username=db.get(Account, g.account_id).username, kind=g.kind, reason=g.reason,
                    ght_patient_id=g.ght_patient_id, starts_at=g.starts_at, ends_at=g.ends_at)


@router.post("/access/grants", response_model=GrantOut, status_code=201, summary="Donner une habilitation explicite")
def give_grant(body: GrantIn, db: Session = Depends(get_db), gate: Gate = Depends(dpo)):
    account = db.scalar(select(Account).where(Account.username == body.username))
    if account is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"compte inconnu : {body.username}")
    patient_id = _patient(db, body.patient) if body.patient else None
    try:
        grant = grants.give(db, account_id=account.id, granted_by=gate.subject.account_id, kind=body.kind,
                            reason=body.reason, days=body.days, ght_patient_id=patient_id)
    except grants.GrantError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    gate.flush(db)
    db.commit()
    return _grant_out(db, grant)


@router.get("/access/grants", response_model=list[GrantOut], summary="Habilitations en vigueur")
def list_grants(db: Session = Depends(get_db), gate: Gate = Depends(dpo)):
    rows = [_grant_out(db, g) for g in grants.current(db)]
    gate.flush(db)
    db.commit()
    return rows


@router.delete("/access/grants/{grant_id}", status_code=204, summary="Retirer une habilitation")
def revoke_grant(grant_id: int, db: Session = Depends(get_db), gate: Gate = Depends(dpo)):
    if not grants.revoke(db, grant_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"habilitation n° {grant_id} inconnue ou déjà retirée")
    gate.flush(db)
    db.commit()
