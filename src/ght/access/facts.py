"""What the policy needs to know of one patient for one subject, read from the database at the
moment of the request (so a new opposition, an ended membership or an expired break-the-glass
is honoured at once): the patient's resources that mention the professional and its Consents,
the subject's active break-the-glass and grants, the establishments where the patient is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from ght.access.models import AccessGrant, BreakGlass
from ght.access.policy import BreakGlassFact, PatientFacts
from ght.access.relation import RELATION_TYPES, RelationRules, relations
from ght.access.subject import Subject
from ght.access.will import wills
from ght.directory.models import Establishment, Site
from ght.identity.models import LocalIdentity
from ght.interop.fhir.systems import IDNPS_SYSTEM
from ght.record.models import ReferenceIndex, Resource, TokenIndex


@dataclass(frozen=True)
class AccessRules:
    """The operator's settings of the policy (GHT_ACCESS_*, docs/configuration.md)."""

    after_care: timedelta = timedelta(days=365)
    break_glass: timedelta = timedelta(hours=4)

    @classmethod
    def of(cls, settings) -> AccessRules:
        return cls(timedelta(days=settings.access_after_care_days),
                   timedelta(minutes=settings.access_break_glass_minutes))


def _mentions(subject: Subject):
    """The resource (Resource.id) names the professional: by Practitioner id or by IDNPS."""
    clauses = []
    if subject.practitioner_ids:
        clauses.append(exists().where(ReferenceIndex.resource_id == Resource.id,
                                      ReferenceIndex.target_type == "Practitioner",
                                      ReferenceIndex.target_id.in_(sorted(subject.practitioner_ids))))
    if subject.idnps:
        clauses.append(exists().where(TokenIndex.resource_id == Resource.id, TokenIndex.system == IDNPS_SYSTEM,
                                      TokenIndex.code.in_(sorted(subject.idnps)),
                                      TokenIndex.param.in_([f"{p}:identifier" for p in set(RELATION_TYPES.values())])))
    return or_(*clauses) if clauses else None


def record_rows(db: Session, subject: Subject, ght_patient_id: str) -> list[tuple]:
    """The patient's Consents and the resources of RELATION_TYPES that mention the subject."""
    mentions = _mentions(subject)
    wanted = Resource.resource_type == "Consent"
    if mentions is not None:
        wanted = or_(wanted, and_(Resource.resource_type.in_(list(RELATION_TYPES)), mentions))
    query = select(Resource.resource_type, Resource.fhir_id, Resource.source_establishment_id, Resource.body).where(
        Resource.ght_patient_id == ght_patient_id, Resource.deleted.is_(False), wanted)
    return [tuple(row) for row in db.execute(query)]


def establishment_of_finess(db: Session) -> dict[str, int]:
    """FINESS (juridique or géographique) to establishment id, for the Consents' actors."""
    mapping = dict(db.execute(select(Establishment.finess_ej, Establishment.id)).all())
    mapping.update(db.execute(select(Site.finess_et, Site.establishment_id)).all())
    return mapping


def has_global_record_grant(db: Session, subject: Subject, now: datetime) -> bool:
    return db.scalar(select(AccessGrant.id).where(
        AccessGrant.account_id == subject.account_id, AccessGrant.ght_patient_id.is_(None),
        AccessGrant.kind == "record", AccessGrant.starts_at <= now, AccessGrant.ends_at > now,
        AccessGrant.revoked_at.is_(None)).limit(1)) is not None


def load(db: Session, subject: Subject, ght_patient_id: str, rules: AccessRules, now: datetime) -> PatientFacts:
    rows = record_rows(db, subject, ght_patient_id)
    consents = [r for r in rows if r[0] == "Consent"]
    found_wills = wills(consents, establishment_of_finess(db) if consents else {}, now)
    found_relations = relations(subject, [r for r in rows if r[0] != "Consent"], RelationRules(now, rules.after_care))
    glass = db.execute(
        select(BreakGlass.id, BreakGlass.reason, BreakGlass.expires_at)
        .where(BreakGlass.account_id == subject.account_id, BreakGlass.ght_patient_id == ght_patient_id,
               BreakGlass.started_at <= now, BreakGlass.expires_at > now)
        .order_by(BreakGlass.expires_at.desc()).limit(1)).first()
    grants = db.scalars(
        select(AccessGrant.kind).where(
            AccessGrant.account_id == subject.account_id,
            or_(AccessGrant.ght_patient_id == ght_patient_id, AccessGrant.ght_patient_id.is_(None)),
            AccessGrant.starts_at <= now, AccessGrant.ends_at > now, AccessGrant.revoked_at.is_(None))).all()
    known_at = db.scalars(select(LocalIdentity.establishment_id).where(
        LocalIdentity.patient_id == ght_patient_id, LocalIdentity.active.is_(True))).all()
    return PatientFacts(
        ght_patient_id, tuple(found_relations), tuple(found_wills),
        BreakGlassFact(*glass) if glass else None, frozenset(grants), frozenset(known_at))
