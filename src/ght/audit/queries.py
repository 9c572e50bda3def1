"""Reading the trace for people: the patient's "who accessed my record" list, and the periodic
review of accesses the DIM physician makes (art. R6113-9-2).

The review lists, in this order: emergency (break-glass) accesses, refusals, then accesses to
a patient by an account acting for an establishment where the patient has no identity
(external professionals included). That last part stands in for "outside the patient's care
team": the care-team relation (CareTeam membership, encounters, referrals; issue 5, point 2)
does not exist yet, so an access from one of the patient's establishments is not flagged even
when its author is outside the care team, and one from elsewhere is flagged even when a care
team would allow it. Merged GHT patients are not followed: an entry keeps the patient id of
its time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import and_, exists, not_, or_, select

from ght.audit.models import AuditEntry
from ght.directory.models import Account, Establishment, Professional
from ght.identity.models import LocalIdentity


class ReviewCategory(StrEnum):
    BREAK_GLASS = "break-glass"
    DENIED = "denied"
    OUTSIDE_ESTABLISHMENTS = "outside-establishments"


@dataclass(frozen=True)
class Access:
    """One line of a list: who (account, professional's name, role, establishment), when, what, why."""

    entry_id: int
    recorded_at: datetime
    account: str
    professional: str | None  # "Given FAMILY"; None when the account is unknown to the directory
    role: str
    establishment: str | None  # short name; None for a professional outside the group's hospitals
    ght_patient_id: str | None
    action: str
    purpose: str
    outcome: str
    reason: str | None
    door: str
    break_glass_reason: str | None
    category: ReviewCategory | None = None


_COLUMNS = (AuditEntry.id, AuditEntry.recorded_at, AuditEntry.account, Professional.given_name,
            Professional.family_name, AuditEntry.role, Establishment.short_name, AuditEntry.ght_patient_id,
            AuditEntry.action, AuditEntry.purpose, AuditEntry.outcome, AuditEntry.reason, AuditEntry.door,
            AuditEntry.break_glass_reason)

_BREAK_GLASS = or_(AuditEntry.break_glass_reason.is_not(None), AuditEntry.action == "break-glass")


def _listing():
    return (select(*_COLUMNS)
            .outerjoin(Account, Account.id == AuditEntry.account_id)
            .outerjoin(Professional, Professional.id == Account.professional_id)
            .outerjoin(Establishment, Establishment.id == AuditEntry.establishment_id))


def _period(query, since: datetime | None, until: datetime | None):
    if since is not None:
        query = query.where(AuditEntry.recorded_at >= since)
    if until is not None:
        query = query.where(AuditEntry.recorded_at < until)
    return query


def _access(row, category: ReviewCategory | None = None) -> Access:
    (entry_id, recorded_at, account, given, family, role, establishment, patient, action, purpose, outcome,
     reason, door, break_glass) = row
    return Access(entry_id, recorded_at, account, f"{given} {family}" if family else None, role, establishment,
                  patient, action, purpose, outcome, reason, door, break_glass, category)


def accesses_to_patient(db, ght_patient_id: str, *, since: datetime | None = None, until: datetime | None = None,
                        include_denied: bool = False, limit: int = 500) -> list[Access]:
    """Who accessed this patient's record, newest first (refused attempts only when asked)."""
    query = _period(_listing().where(AuditEntry.ght_patient_id == ght_patient_id), since, until)
    if not include_denied:
        query = query.where(AuditEntry.outcome != "denied")
    query = query.order_by(AuditEntry.recorded_at.desc(), AuditEntry.id.desc()).limit(limit)
    return [_access(row) for row in db.execute(query)]


def break_glass_list(db, since: datetime | None = None, until: datetime | None = None,
                     limit: int = 1000) -> list[Access]:
    """Emergency accesses of the period, oldest first, each with its declared reason."""
    query = _period(_listing().where(_BREAK_GLASS), since, until)
    query = query.order_by(AuditEntry.recorded_at, AuditEntry.id).limit(limit)
    return [_access(row, ReviewCategory.BREAK_GLASS) for row in db.execute(query)]


def review_list(db, since: datetime, until: datetime, limit: int = 1000) -> list[Access]:
    """The DIM physician's periodic review: break-glass, then refusals, then accesses from outside
    the patient's establishments (each part oldest first, at most `limit` lines each)."""
    items = break_glass_list(db, since, until, limit)
    denied = _period(_listing().where(AuditEntry.outcome == "denied", not_(_BREAK_GLASS)), since, until)
    denied = denied.order_by(AuditEntry.recorded_at, AuditEntry.id).limit(limit)
    items += [_access(row, ReviewCategory.DENIED) for row in db.execute(denied)]
    patient_known_here = exists().where(and_(LocalIdentity.patient_id == AuditEntry.ght_patient_id,
                                             LocalIdentity.establishment_id == AuditEntry.establishment_id))
    outside = _period(_listing().where(AuditEntry.ght_patient_id.is_not(None), AuditEntry.outcome == "allowed",
                                       not_(_BREAK_GLASS), not_(patient_known_here)), since, until)
    outside = outside.order_by(AuditEntry.recorded_at, AuditEntry.id).limit(limit)
    items += [_access(row, ReviewCategory.OUTSIDE_ESTABLISHMENTS) for row in db.execute(outside)]
    return items
