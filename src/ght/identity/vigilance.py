"""Identity-vigilance workflows: the review queue sorted by risk, decisions on pairs, the
collision list and the per-establishment report of suspected duplicates."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from ght.db.base import utcnow
from ght.directory.models import Establishment
from ght.identity.linkage import identity_features
from ght.identity.models import GhtPatient, LinkEvent, LocalIdentity, ReviewItem
from ght.identity.scoring import active_model
from ght.identity.service import IdentityRejected, merge_patients

# Collisions first (two persons on one patient or one INS), then conflicts, then doubtful
# pairs by decreasing score: what can hurt a patient soonest comes first.
RISK_ORDER = case(
    (ReviewItem.kind == "ins_collision", 0), (ReviewItem.kind == "ins_conflict", 1), else_=2
)


# The traits shown side by side in a review, in the order of the RNIV (strict traits first).
COMPARED = ("birth_name", "used_name", "given_names", "birth_date", "sex", "birth_place", "postcode", "city", "phone", "ins")


def differing(a, b) -> list[str]:
    """The compared traits known on both identities (LocalIdentity or its API view) whose values
    differ: the discrepancies to look at."""
    return [name for name in COMPARED if getattr(a, name) and getattr(b, name) and getattr(a, name) != getattr(b, name)]


def one_sided(a, b) -> list[str]:
    """The compared traits known on one identity only (no evidence either way)."""
    return [name for name in COMPARED if bool(getattr(a, name)) != bool(getattr(b, name))]


def open_counts(db: Session) -> dict[str, int]:
    """Open review items by kind (collisions, conflicts, doubtful pairs)."""
    return dict(db.execute(select(ReviewItem.kind, func.count()).where(ReviewItem.status == "open")
                           .group_by(ReviewItem.kind)).all())


def decided(db: Session, *, limit: int = 100) -> list[ReviewItem]:
    """The latest decisions of the cell on review items, newest first."""
    return list(db.scalars(select(ReviewItem).where(ReviewItem.status != "open")
                           .order_by(ReviewItem.decided_at.desc(), ReviewItem.id.desc()).limit(limit)))


def link_history(db: Session, patient_id: str) -> list[LinkEvent]:
    """Every link, unlink, merge and unmerge that moved an identity to or from this patient."""
    return list(db.scalars(select(LinkEvent).where(
        (LinkEvent.to_patient == patient_id) | (LinkEvent.from_patient == patient_id)).order_by(LinkEvent.id)))


def review_queue(db: Session, *, status: str = "open", limit: int = 100, offset: int = 0) -> list[ReviewItem]:
    query = (select(ReviewItem).where(ReviewItem.status == status)
             .order_by(RISK_ORDER, ReviewItem.probability.desc().nulls_last(), ReviewItem.id)
             .limit(limit).offset(offset))
    return list(db.scalars(query))


def explain(db: Session, item: ReviewItem) -> dict:
    """Both identities and each field's contribution, computed with the current model."""
    a, b = db.get(LocalIdentity, item.identity_a), db.get(LocalIdentity, item.identity_b)
    score = active_model(db).score(identity_features(a), identity_features(b))
    return {
        "weight": score.weight, "probability": score.probability,
        "fields": [{"comparison": c.comparison, "label": c.label, "level": c.level_label,
                    "weight": round(c.weight, 3)} for c in score.contributions],
        "a": a, "b": b,
    }


def decide(db: Session, item_id: int, decision: str, *, actor: str, note: str = "") -> ReviewItem:
    """`same`: the two patients become one (merge, undoable); `distinct`: not the same person,
    the pair is closed and not proposed again."""
    item = db.get(ReviewItem, item_id)
    if item is None:
        raise IdentityRejected("review", f"élément de revue n° {item_id} inconnu")
    if item.status != "open":
        raise IdentityRejected("review", f"élément n° {item_id} déjà traité ({item.status})")
    if decision not in ("same", "distinct"):
        raise IdentityRejected("decision", "décision attendue : same ou distinct")
    if decision == "same":
        a, b = db.get(LocalIdentity, item.identity_a), db.get(LocalIdentity, item.identity_b)
        if a.patient_id != b.patient_id:
            older, newer = sorted([db.get(GhtPatient, a.patient_id), db.get(GhtPatient, b.patient_id)],
                                  key=lambda p: (p.created_at, p.id))
            merge_patients(db, older.id, newer.id, actor=actor, channel="api",
                           reason=note or f"revue n° {item.id} : même personne")
        item.status = "linked"
    else:
        item.status = "distinct"
    item.decided_at, item.decided_by, item.note = utcnow(), actor, note
    db.flush()
    return item


def collisions(db: Session) -> list[tuple[str, list[LocalIdentity]]]:
    """GHT patients whose identities carry two different valid INS: two persons in one record."""
    query = (select(LocalIdentity.patient_id)
             .where(LocalIdentity.ins_valid.is_(True), LocalIdentity.active.is_(True))
             .group_by(LocalIdentity.patient_id).having(func.count(LocalIdentity.ins.distinct()) > 1))
    result = []
    for patient_id in db.scalars(query):
        members = db.scalars(select(LocalIdentity).where(LocalIdentity.patient_id == patient_id,
                                                         LocalIdentity.active.is_(True)))
        result.append((patient_id, list(members)))
    return result


def duplicate_report(db: Session, finess: str) -> dict:
    """Suspected duplicates (doublons) of one establishment: its own identities that the
    territory links to one patient, and the open review pairs inside the establishment."""
    establishment = db.scalar(select(Establishment).where(Establishment.finess_ej == finess))
    if establishment is None:
        raise IdentityRejected("finess", f"établissement inconnu du GHT : FINESS {finess}")
    same_patient = (select(LocalIdentity.patient_id)
                    .where(LocalIdentity.establishment_id == establishment.id, LocalIdentity.active.is_(True))
                    .group_by(LocalIdentity.patient_id).having(func.count() > 1))
    groups: dict[str, list[LocalIdentity]] = defaultdict(list)
    for identity in db.scalars(select(LocalIdentity).where(
            LocalIdentity.patient_id.in_(same_patient), LocalIdentity.establishment_id == establishment.id,
            LocalIdentity.active.is_(True)).order_by(LocalIdentity.patient_id, LocalIdentity.ipp)):
        groups[identity.patient_id].append(identity)
    a, b = aliased(LocalIdentity), aliased(LocalIdentity)
    pairs = list(db.scalars(
        select(ReviewItem).join(a, a.id == ReviewItem.identity_a).join(b, b.id == ReviewItem.identity_b)
        .where(ReviewItem.status == "open", a.establishment_id == establishment.id,
               b.establishment_id == establishment.id)
        .order_by(RISK_ORDER, ReviewItem.probability.desc().nulls_last())))
    return {"establishment": establishment, "linked_duplicates": dict(groups), "review_pairs": pairs}
