"""Patient search across the group and the patient's territorial record (French UI).

Every page goes through the request's access gate like the FHIR API: the search shows only the
identities the policy lets the user see (identity-vigilance rules: the roles that take care of
or manage patients see the group's identity base, an external professional only the patients of
whose care team they are), the record only within the care team, by consent or by
break-the-glass, and each page leaves its trace entries (door `web`)."""

from __future__ import annotations

import base64
import binascii
from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from ght.access import break_glass, doors
from ght.access.gate import AccessDenied
from ght.access.policy import CARE_ROLES, TEAM_ROLES, Target
from ght.audit.trail import Action
from ght.directory.models import Establishment
from ght.identity import queries
from ght.identity.models import GhtPatient, LocalIdentity
from ght.record.models import Resource
from ght.web import csrf, timeline
from ght.web.pages import render
from ght.web.session import Page, ui_page

router = APIRouter(include_in_schema=False)

STATUS_LABELS = {"PROV": "Provisoire", "RECUP": "Récupérée", "VALI": "Validée", "QUAL": "Qualifiée"}
PAGE_SIZE = 50
TIMELINE_PAGE = 100  # items of the timeline per page, most recent first
LATEST_RESULTS = 20  # rows of an analyte's table unless all are asked for (its trend shows all)


def establishments(page: Page) -> dict[int, Establishment]:
    """The group's establishments by id, by name."""
    return {e.id: e for e in page.db.scalars(select(Establishment).order_by(Establishment.short_name))}


def _date(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"{field} : date invalide « {value} » (AAAA-MM-JJ)") from None


# ------------------------------------------------------------------------------ search


@router.get("/patients")
def search(request: Request, nom: str = "", prenom: str = "", naissance: str = "", identifiant: str = "",
           page: Page = Depends(ui_page)):
    form = {"nom": nom.strip(), "prenom": prenom.strip(), "naissance": naissance.strip(),
            "identifiant": identifiant.strip()}
    gate = page.gate
    results, error = [], None
    try:
        born = _date(form["naissance"], "Date de naissance")
    except HTTPException as exc:
        born, error = None, exc.detail
    if any(form.values()) and error is None:
        try:
            gate.check_role(Action.SEARCH, "Patient")
        except AccessDenied as denied:
            page.db.commit()
            return render(request, "patients/search.html", page.auth, status.HTTP_403_FORBIDDEN, form=form,
                          results=[], error=f"Recherche de patients non autorisée : {denied.reason}.")
        criteria = queries.Criteria(active=True)
        if form["nom"]:
            criteria.family.append(("", form["nom"]))
        if form["prenom"]:
            criteria.given.append(("", form["prenom"]))
        if born:
            criteria.birthdate.append(("eq", born, born))
        if form["identifiant"]:  # an IPP of any establishment, an INS or a GHT id
            criteria.identifiers.append([queries.IdentifierQuery("any", form["identifiant"])])
        _, found = queries.search(page.db, criteria, limit=PAGE_SIZE * 4, offset=0)
        gate.prefetch(i.patient_id for i in found)
        results = _results(page, found)
    gate.flush(page.db)
    page.db.commit()
    return render(request, "patients/search.html", page.auth, form=form, results=results, error=error,
                  status_labels=STATUS_LABELS)


def _results(page: Page, found: list[LocalIdentity]) -> list[dict]:
    """One line per GHT patient the user may see (its best identity first), with the
    establishments that know it; the others are not shown, nor counted."""
    gate, names = page.gate, establishments(page)
    by_patient: dict[str, list[LocalIdentity]] = {}
    for identity in found:
        by_patient.setdefault(identity.patient_id, []).append(identity)
    lines = []
    for patient_id in list(by_patient)[:PAGE_SIZE]:
        decision = gate.decide(Action.SEARCH, Target("Patient", patient_id))
        if not decision.allowed:
            continue
        identities = page.db.scalars(select(LocalIdentity).where(LocalIdentity.patient_id == patient_id,
                                                                 LocalIdentity.active.is_(True))).all()
        gate.note(Action.SEARCH, decision, patient_id, [f"Patient/{i.id}" for i in identities])
        best = max(identities, key=lambda i: list(STATUS_LABELS).index(i.status) if i.status in STATUS_LABELS else -1)
        lines.append({"patient_id": patient_id, "identity": best,
                      "establishments": sorted({names[i.establishment_id].short_name for i in identities})})
    return lines


# ------------------------------------------------------------------------------ the record


@router.get("/patients/{patient_id}")
def record(request: Request, patient_id: str, source: str = "", type: str = "", du: str = "", au: str = "",
           page_number: int = 1, resultats: str = "", page: Page = Depends(ui_page)):
    patient = _patient(page, patient_id)
    if patient.id != patient_id:  # merged: the survivor's page
        return RedirectResponse(f"/patients/{patient.id}", status.HTTP_303_SEE_OTHER)
    gate, db = page.gate, page.db
    names = establishments(page)
    try:
        gate.require_patient(Action.READ, "Observation", patient.id)
    except AccessDenied as denied:
        # The refusal shows no identity either: one decision, one (denied) trace entry.
        db.commit()
        return _refused(request, page, patient, denied.reason)
    identities = _identities(page, patient)
    filters = {"source": source, "type": type, "du": du, "au": au}
    start, end = _date(du, "Du"), _date(au, "Au")
    rows, items = _timeline(page, patient, type, source, start, end)
    # What the policy hides (the patient's will, sensitivity) is refused and traced here; what the
    # page shows is noted below: this page of the timeline and the results of the lab tables.
    kept = {(r.resource_type, r.fhir_id) for r in gate.keep(Action.READ, rows, note=False)}
    items = sorted((i for i in items if tuple(i.reference.split("/", 1)) in kept),
                   key=lambda i: (i.when is None, i.when), reverse=True)
    page_number = max(1, min(page_number, -(-len(items) // TIMELINE_PAGE) or 1))
    on_page = items[(page_number - 1) * TIMELINE_PAGE:page_number * TIMELINE_PAGE]
    results = [r for r in rows if r.resource_type == "Observation" and (r.resource_type, r.fhir_id) in kept]
    shown = {i.reference for i in on_page} | {f"Observation/{r.fhir_id}" for r in results}
    gate.keep(Action.READ, (r for r in rows if f"{r.resource_type}/{r.fhir_id}" in shown))
    facts = gate.facts(patient.id)
    gate.flush(db)
    db.commit()
    return render(request, "patients/record.html", page.auth, patient=patient, identities=identities, names=names,
                  items=on_page, total=len(items), page_number=page_number, first=(page_number - 1) * TIMELINE_PAGE,
                  more=page_number * TIMELINE_PAGE < len(items), query=_query(filters),
                  analytes=timeline.analytes(results), all_results=resultats == "tous", latest=LATEST_RESULTS,
                  trend=timeline.trend_svg, kinds=timeline.KINDS, filters=filters,
                  wills=[w.explain() for w in facts.wills], break_glass=facts.break_glass,
                  relations=[r.explain() for r in facts.relations], status_labels=STATUS_LABELS,
                  sources=sorted({i.establishment_id for i in identities} | {i.source_id for i in items if i.source_id}))


def _timeline(page: Page, patient: GhtPatient, kind: str, source: str, start: date | None, end: date | None):
    """The patient's record rows of the timeline's types within the filters (and the lab
    results the reports point to), with their timeline items."""
    kinds = [kind] if kind in timeline.KINDS else list(timeline.TIMELINE_TYPES)
    if kind == "DiagnosticReport":
        kinds.append("Observation")
    # Plain rows, not ORM objects: a record of thousands of resources is read, not changed.
    query = select(Resource.resource_type, Resource.fhir_id, Resource.ght_patient_id, Resource.source_establishment_id,
                   Resource.body).where(Resource.ght_patient_id == patient.id, Resource.deleted.is_(False),
                                        Resource.resource_type.in_(kinds))
    if source.isdigit():
        query = query.where(Resource.source_establishment_id == int(source))
    viewers = {r.fhir_id: r.body.get("address") for r in page.db.scalars(
        select(Resource).where(Resource.resource_type == "Endpoint", Resource.deleted.is_(False)))}
    rows, items = [], []
    for row in page.db.execute(query):
        item = timeline.item_of(row, patient.id, viewers)
        when = item.when if item else timeline.instant(row.body, "effectiveDateTime", "issued")
        if timeline.in_period(when, start, end):
            rows.append(row)
            if item:
                items.append(item)
    return rows, items


def _query(filters: dict) -> str:
    """The filters as a query string, for the timeline's pager links."""
    return urlencode({k: v for k, v in filters.items() if v})


def _patient(page: Page, patient_id: str) -> GhtPatient:
    survivor = queries.survivor_id(page.db, patient_id)
    patient = page.db.get(GhtPatient, survivor) if survivor else None
    if patient is None:
        page.gate.flush(page.db)
        page.db.commit()
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Patient inconnu du GHT")
    return patient


def _identities(page: Page, patient: GhtPatient) -> list[LocalIdentity]:
    """The identity panel's local identities, when the user may read the patient's identity."""
    decision = page.gate.decide(Action.READ, Target("Patient", patient.id))
    if not decision.allowed:
        return []
    identities = [i for i in patient.identities if i.active]
    page.gate.note(Action.READ, decision, patient.id, [f"Patient/{i.id}" for i in identities])
    return identities


def _refused(request: Request, page: Page, patient: GhtPatient, reason: str):
    subject = page.gate.subject
    facts = page.gate.facts(patient.id)
    page.gate.flush(page.db)
    page.db.commit()
    return render(request, "patients/refused.html", page.auth, status.HTTP_403_FORBIDDEN, patient=patient,
                  reason=reason,
                  wills=[w.explain() for w in facts.wills],
                  may_break_glass=subject.has(*CARE_ROLES, *TEAM_ROLES),
                  minutes=int(page.gate.rules.break_glass.total_seconds() // 60))


@router.post("/patients/{patient_id}/bris-de-glace")
def declare_break_glass(request: Request, patient_id: str, motif: str = Form(""), csrf_token: str = Form(""),
                        page: Page = Depends(ui_page)):
    patient = _patient(page, patient_id)
    if not csrf.is_valid(request, csrf_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Le formulaire a expiré : rechargez la page.")
    try:
        doors.declare_break_glass(page.gate, page.db, patient.id, motif)
    except AccessDenied as denied:
        page.db.commit()
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=denied.reason) from None
    except break_glass.BreakGlassError as exc:
        page.db.rollback()
        return _refused(request, page, patient, str(exc))
    page.db.commit()
    return RedirectResponse(f"/patients/{patient.id}", status.HTTP_303_SEE_OTHER)


@router.get("/patients/{patient_id}/documents/{document_id}")
def document(patient_id: str, document_id: str, page: Page = Depends(ui_page)):
    """A document of the record, opened in the browser (PDF inline), through the gate."""
    patient = _patient(page, patient_id)
    db = page.db
    row = db.scalar(select(Resource).where(Resource.resource_type == "DocumentReference", Resource.fhir_id == document_id,
                                           Resource.ght_patient_id == patient.id, Resource.deleted.is_(False)))
    if row is None:
        page.gate.flush(db)
        db.commit()
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Document inconnu")
    if not page.gate.keep(Action.READ, [row]):
        db.commit()
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Document non accessible (opposition du patient ou document sensible)")
    content_type, data = _attachment(db, row.body)
    page.gate.flush(db)
    db.commit()
    if data is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Document sans contenu lisible")
    return Response(data, media_type=content_type, headers={
        "Content-Disposition": f'inline; filename="{document_id}.{"pdf" if content_type == "application/pdf" else "xml"}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def _attachment(db, body: dict) -> tuple[str, bytes | None]:
    """The first attachment's bytes: inline (data) or in a Binary of the record (url Binary/<id>)."""
    attachment = ((body.get("content") or [{}])[0]).get("attachment") or {}
    content_type = attachment.get("contentType") or "application/octet-stream"
    data = attachment.get("data")
    url = attachment.get("url") or ""
    if data is None and url.split("/")[-2:-1] == ["Binary"]:
        binary = db.scalar(select(Resource).where(Resource.resource_type == "Binary", Resource.fhir_id == url.split("/")[-1]))
        data = binary.body.get("data") if binary is not None else None
        content_type = binary.body.get("contentType", content_type) if binary is not None else content_type
    try:
        return content_type, base64.b64decode(data, validate=True) if data else None
    except (binascii.Error, ValueError):
        return content_type, None


@router.get("/patients/{patient_id}/acces")
def access_tab(request: Request, patient_id: str, page: Page = Depends(ui_page)):
    """« Qui a consulté ce dossier » : for the patient's care team and the DPO."""
    patient = _patient(page, patient_id)
    try:
        rows = doors.access_log(page.gate, page.db, patient.id, limit=500)
    except AccessDenied as denied:
        page.db.commit()
        return render(request, "patients/access.html", page.auth, status.HTTP_403_FORBIDDEN, patient=patient,
                      rows=[], error=f"Liste des accès non autorisée : {denied.reason}.")
    page.db.commit()
    return render(request, "patients/access.html", page.auth, patient=patient, rows=rows, error=None)
