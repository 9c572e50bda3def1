"""The identity-vigilance workspace (French UI): the review queue by risk, a pair side by side
with the traits that differ and each field's score, the decisions (same person: merge; not the
same person), a GHT patient's identities with link, unlink, merge and unmerge, the history of
decisions and the per-establishment report of suspected duplicates.

Reserved to the identity-vigilance cell, like the JSON API (ght.api.identity), through the same
functions (ght.identity.vigilance, ght.identity.service) and the same tracing (ght.access.doors):
the cell sees and changes the identity base, no clinical content. Every change asks for an
explicit confirmation, checked by the server (a ticked box), and goes through the CSRF check."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from ght.access import doors
from ght.audit.trail import Action
from ght.db.numbers import INT4_MAX
from ght.directory.models import Establishment
from ght.directory.vocab import Role
from ght.identity import queries, service, vigilance
from ght.identity.models import GhtPatient, LocalIdentity, ReviewItem
from ght.identity.service import IdentityRejected
from ght.web import csrf
from ght.web.pages import render
from ght.web.patients import STATUS_LABELS, establishments
from ght.web.session import Page, role_page

router = APIRouter(prefix="/identitovigilance", include_in_schema=False)
vigilant = role_page(Role.IDENTITY_VIGILANCE)

PAGE_SIZE = 50
KIND_LABELS = {
    "ins_collision": "Collision d'INS",
    "ins_conflict": "Conflit d'INS",
    "doubtful_pair": "Paire douteuse",
}
DECISION_LABELS = {"linked": "Même personne (fusion)", "distinct": "Personnes distinctes", "open": "À traiter"}
ACTION_LABELS = {"link": "Rattachement", "unlink": "Détachement", "merge": "Fusion", "unmerge": "Annulation de fusion"}
TRAIT_LABELS = {
    "birth_name": "Nom de naissance", "used_name": "Nom utilisé", "given_names": "Prénoms",
    "birth_date": "Date de naissance", "sex": "Sexe", "birth_place": "Lieu de naissance (INSEE)",
    "postcode": "Code postal", "city": "Commune", "phone": "Téléphone", "ins": "INS",
}


def _labels() -> dict:
    return {"kind_labels": KIND_LABELS, "decision_labels": DECISION_LABELS, "action_labels": ACTION_LABELS,
            "trait_labels": TRAIT_LABELS, "status_labels": STATUS_LABELS}


def _row_id(value: int, what: str) -> int:
    if not 1 <= value <= INT4_MAX:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{what} n° {value} inconnu")
    return value


def _identities_of(db, items: list[ReviewItem]) -> dict[int, LocalIdentity]:
    """Both identities of each review item, by id, in one query."""
    wanted = [x for item in items for x in (item.identity_a, item.identity_b)]
    return {i.id: i for i in db.scalars(select(LocalIdentity).where(LocalIdentity.id.in_(wanted)))}


def _known_in(page: Page, names: dict[int, Establishment], patient_ids) -> dict[str, list[str]]:
    """The establishments where each GHT patient is known (its active identities)."""
    known: dict[str, set[str]] = {p: set() for p in patient_ids}
    for patient_id, establishment_id in page.db.execute(
            select(LocalIdentity.patient_id, LocalIdentity.establishment_id)
            .where(LocalIdentity.patient_id.in_(list(known)), LocalIdentity.active.is_(True))):
        known[patient_id].add(names[establishment_id].short_name)
    return {p: sorted(e) for p, e in known.items()}


def _confirmed(request: Request, token: str, confirmation: str) -> None:
    if not csrf.is_valid(request, token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Le formulaire a expiré : rechargez la page.")
    if confirmation != "oui":
        raise HTTPException(status.HTTP_400_BAD_REQUEST,
                            detail="Confirmation requise : cochez la case de confirmation avant de valider.")


def _change(request: Request, page: Page, csrf_token: str, confirmation: str, change, lands_on, done: str):
    """A confirmed change of links (`change(actor)` returns its LinkEvent), traced, then the page
    of the patient `lands_on(event)`. A refusal of the identity server is a 409 page that says
    why, with nothing changed."""
    _confirmed(request, csrf_token, confirmation)
    try:
        event = doors.change_identities(page.gate, page.db, lambda: change(page.gate.subject.username))
    except IdentityRejected as exc:
        page.db.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"{exc.message} (rien n'a été modifié)") from None
    return RedirectResponse(f"/identitovigilance/patients/{lands_on(event)}?fait={done}", status.HTTP_303_SEE_OTHER)


# ------------------------------------------------------------------------------ review queue


@router.get("")
def queue(request: Request, page_number: int = 1, page: Page = Depends(vigilant)):
    page_number = max(1, min(page_number, INT4_MAX // PAGE_SIZE))
    db = page.db
    collisions = vigilance.collisions(db)
    items = vigilance.review_queue(db, status="open", limit=PAGE_SIZE + 1, offset=(page_number - 1) * PAGE_SIZE)
    more = len(items) > PAGE_SIZE
    items = items[:PAGE_SIZE]
    identities = _identities_of(db, items)
    shown = [*(i for _, members in collisions for i in members), *identities.values()]
    names = establishments(page)
    counts = vigilance.open_counts(db)
    doors.trace_identities(page.gate, db, Action.SEARCH, shown)
    return render(request, "vigilance/queue.html", page.auth, collisions=collisions, items=items,
                  identities=identities, names=names, counts=counts, page_number=page_number, more=more,
                  **_labels())


@router.get("/revue/{item_id}")
def pair(request: Request, item_id: int, page: Page = Depends(vigilant)):
    db = page.db
    item = db.get(ReviewItem, _row_id(item_id, "Élément de revue"))
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Élément de revue n° {item_id} inconnu")
    explained = vigilance.explain(db, item)
    a, b = explained["a"], explained["b"]
    names = establishments(page)
    known = _known_in(page, names, {a.patient_id, b.patient_id})
    doors.trace_identities(page.gate, db, Action.READ, [a, b])
    top = max((abs(f["weight"]) for f in explained["fields"]), default=1.0) or 1.0
    return render(request, "vigilance/pair.html", page.auth, item=item, a=a, b=b, names=names,
                  known=known, differing=set(vigilance.differing(a, b)), one_sided=set(vigilance.one_sided(a, b)), traits=vigilance.COMPARED,
                  fields=explained["fields"], top_weight=top, probability=explained["probability"],
                  weight=explained["weight"], **_labels())


@router.post("/revue/{item_id}")
def decide(request: Request, item_id: int, decision: str = Form(""), note: str = Form("", max_length=500),
           confirmation: str = Form(""), csrf_token: str = Form(""), page: Page = Depends(vigilant)):
    _confirmed(request, csrf_token, confirmation)
    if decision not in ("same", "distinct"):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="Décision attendue : même personne ou personnes distinctes")
    db = page.db
    _row_id(item_id, "Élément de revue")
    try:
        item = vigilance.decide(db, item_id, decision, actor=page.gate.subject.username, note=note.strip())
    except IdentityRejected as exc:
        db.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, detail=exc.message) from None
    a, b = db.get(LocalIdentity, item.identity_a), db.get(LocalIdentity, item.identity_b)
    doors.trace_identities(page.gate, db, Action.UPDATE, [a, b])
    done = "fusion" if decision == "same" else "distincts"
    return RedirectResponse(f"/identitovigilance/patients/{a.patient_id}?fait={done}", status.HTTP_303_SEE_OTHER)


@router.get("/decisions")
def decisions(request: Request, page: Page = Depends(vigilant)):
    db = page.db
    items = vigilance.decided(db, limit=200)
    identities = _identities_of(db, items)
    doors.trace_identities(page.gate, db, Action.SEARCH, identities.values())
    return render(request, "vigilance/decisions.html", page.auth, items=items, identities=identities,
                  names=establishments(page), **_labels())


@router.get("/doublons")
def duplicates(request: Request, finess: str = "", page: Page = Depends(vigilant)):
    db = page.db
    names = establishments(page)
    report = None
    if finess:
        try:
            report = vigilance.duplicate_report(db, finess)
        except IdentityRejected as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=exc.message) from None
    shown = []
    if report:
        identities = _identities_of(db, report["review_pairs"])
        report["identities"] = identities
        shown = [*(i for members in report["linked_duplicates"].values() for i in members), *identities.values()]
    doors.trace_identities(page.gate, db, Action.SEARCH, shown)
    return render(request, "vigilance/duplicates.html", page.auth, finess=finess, report=report, names=names,
                  **_labels())


# ------------------------------------------------------------------------------ one GHT patient


@router.get("/patients/{patient_id}")
def patient(request: Request, patient_id: str, fait: str = "", page: Page = Depends(vigilant)):
    db = page.db
    survivor = queries.survivor_id(db, patient_id)
    found = db.get(GhtPatient, survivor) if survivor else None
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Patient GHT {patient_id} inconnu")
    if found.id != patient_id:
        return RedirectResponse(f"/identitovigilance/patients/{found.id}", status.HTTP_303_SEE_OTHER)
    identities = [i for i in found.identities if i.active]
    events = vigilance.link_history(db, found.id)
    page.gate.note(Action.READ, doors.VIGILANCE, found.id, [f"Patient/{found.id}"])
    doors.trace_identities(page.gate, db, Action.READ, identities)
    names = establishments(page)
    return render(request, "vigilance/patient.html", page.auth, patient=found, identities=identities,
                  events=events, names=names, done=fait,
                  establishments=sorted({names[i.establishment_id].short_name for i in identities}), **_labels())


@router.post("/identites/{identity_id}/detachement")
def unlink(request: Request, identity_id: int, motif: str = Form(""), confirmation: str = Form(""),
           csrf_token: str = Form(""), page: Page = Depends(vigilant)):
    _row_id(identity_id, "Identité")
    return _change(request, page, csrf_token, confirmation, lambda actor: service.unlink_identity(
        page.db, identity_id, actor=actor, channel="web", reason=motif.strip()),
        lambda event: event.from_patient, "detachement")


@router.post("/identites/{identity_id}/rattachement")
def link(request: Request, identity_id: int, patient: str = Form(""), motif: str = Form(""),
         confirmation: str = Form(""), csrf_token: str = Form(""), page: Page = Depends(vigilant)):
    _row_id(identity_id, "Identité")
    return _change(request, page, csrf_token, confirmation, lambda actor: service.link_identity(
        page.db, identity_id, patient.strip(), actor=actor, channel="web", reason=motif.strip()),
        lambda event: event.to_patient, "rattachement")


@router.post("/patients/{patient_id}/fusion")
def merge(request: Request, patient_id: str, absorbe: str = Form(""), motif: str = Form(""),
          confirmation: str = Form(""), csrf_token: str = Form(""), page: Page = Depends(vigilant)):
    return _change(request, page, csrf_token, confirmation, lambda actor: service.merge_patients(
        page.db, patient_id, absorbe.strip(), actor=actor, channel="web", reason=motif.strip()),
        lambda event: event.to_patient, "fusion")


@router.post("/fusions/{event_id}/annulation")
def unmerge(request: Request, event_id: int, motif: str = Form(""), confirmation: str = Form(""),
            csrf_token: str = Form(""), page: Page = Depends(vigilant)):
    _row_id(event_id, "Fusion")
    return _change(request, page, csrf_token, confirmation, lambda actor: service.unmerge(
        page.db, event_id, actor=actor, channel="web", reason=motif.strip()),
        lambda event: event.to_patient, "annulation")
