"""Break-the-glass: an emergency access outside the rules, declared with a typed reason for one
patient, lasting a limited time (GHT_ACCESS_BREAK_GLASS_MINUTES), flagged in every trace entry
it allows, and listed for the DPO or the medical lead until reviewed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ght.access.facts import AccessRules
from ght.access.models import BreakGlass
from ght.db.base import utcnow

MIN_REASON = 10  # characters: "urgence" alone does not say why
VERDICTS = ("justified", "unjustified")


class BreakGlassError(ValueError):
    """A declaration or review that cannot be made; the message says why, in French."""


def declare(db: Session, *, account_id: int, ght_patient_id: str, reason: str, rules: AccessRules,
            client_address: str | None = None, now: datetime | None = None) -> BreakGlass:
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON:
        raise BreakGlassError(f"motif obligatoire pour un accès en urgence ({MIN_REASON} caractères au moins)")
    now = now or utcnow()
    row = BreakGlass(account_id=account_id, ght_patient_id=ght_patient_id, reason=reason, started_at=now,
                     expires_at=now + rules.break_glass, client_address=client_address)
    db.add(row)
    db.flush()
    return row


def pending_review(db: Session, limit: int = 500) -> list[BreakGlass]:
    return list(db.scalars(select(BreakGlass).where(BreakGlass.reviewed_at.is_(None))
                           .order_by(BreakGlass.started_at).limit(limit)))


def review(db: Session, declaration_id: int, *, reviewer_id: int, verdict: str, note: str | None = None,
           now: datetime | None = None) -> BreakGlass:
    row = db.get(BreakGlass, declaration_id)
    if row is None:
        raise BreakGlassError(f"accès en urgence n° {declaration_id} inconnu")
    if verdict not in VERDICTS:
        raise BreakGlassError(f"avis inconnu « {verdict} » (attendu : {', '.join(VERDICTS)})")
    if row.reviewed_at is not None:
        raise BreakGlassError(f"accès en urgence n° {declaration_id} déjà revu")
    if row.account_id == reviewer_id:
        raise BreakGlassError("on ne revoit pas son propre accès en urgence")
    row.reviewed_at, row.reviewed_by, row.review_verdict, row.review_note = now or utcnow(), reviewer_id, verdict, note
    db.flush()
    return row
