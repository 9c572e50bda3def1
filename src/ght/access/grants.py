"""Explicit grants (ght.access.models.AccessGrant), given and revoked by the DPO or the medical
lead: sensitive resources, or the record outside the care team (a DIM physician's audit, an
analytics export). Each grant is itself traced."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ght.access.models import AccessGrant
from ght.db.base import utcnow

KINDS = ("sensitive", "record")
MAX_DAYS = 366


class GrantError(ValueError):
    """A grant that cannot be given; the message says why, in French."""


def give(db: Session, *, account_id: int, granted_by: int, kind: str, reason: str, days: int,
         ght_patient_id: str | None = None, now: datetime | None = None) -> AccessGrant:
    if kind not in KINDS:
        raise GrantError(f"type d'habilitation inconnu « {kind} » (attendu : {', '.join(KINDS)})")
    if not reason or not reason.strip():
        raise GrantError("le motif de l'habilitation est obligatoire")
    if not 1 <= days <= MAX_DAYS:
        raise GrantError(f"durée de l'habilitation : de 1 à {MAX_DAYS} jours")
    if account_id == granted_by:
        raise GrantError("on ne s'habilite pas soi-même")
    now = now or utcnow()
    grant = AccessGrant(account_id=account_id, granted_by=granted_by, kind=kind, reason=reason.strip(),
                        ght_patient_id=ght_patient_id, starts_at=now, ends_at=now + timedelta(days=days))
    db.add(grant)
    db.flush()
    return grant


def revoke(db: Session, grant_id: int, now: datetime | None = None) -> bool:
    done = db.execute(update(AccessGrant).where(AccessGrant.id == grant_id, AccessGrant.revoked_at.is_(None))
                      .values(revoked_at=now or utcnow()))
    return done.rowcount == 1


def current(db: Session, now: datetime | None = None) -> list[AccessGrant]:
    now = now or utcnow()
    return list(db.scalars(select(AccessGrant).where(AccessGrant.revoked_at.is_(None), AccessGrant.ends_at > now)
                           .order_by(AccessGrant.ends_at)))
