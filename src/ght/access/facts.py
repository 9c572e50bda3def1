"""What the policy needs to know of one patient for one subject, read from the database at the
moment of the request (so a new opposition, an ended membership or an expired break-the-glass
is honoured at once): the patient's resources that mention the professional and its Consents,
the subject's active break-the-glass and grants, the establishments where the patient is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, bindparam, exists, literal, null, or_, select, union_all
from sqlalchemy.orm import Session

from ght.access.models import AccessGrant, BreakGlass
from ght.access.policy import BreakGlassFact, PatientFacts
from ght.access.relation import RELATION_TYPES, RelationRules, relations
from ght.access.subject import Subject
from ght.access.will import wills
from ght.db.base import UtcDateTime
from ght.directory.models import Establishment, Site
from ght.identity.models import LocalIdentity
from ght.interop.fhir.systems import IDNPS_SYSTEM
from ght.record.models import JsonBody, ReferenceIndex, Resource, TokenIndex


@dataclass(frozen=True)
class AccessRules:
    """The operator's settings of the policy (GHT_ACCESS_*, docs/configuration.md)."""

    after_care: timedelta = timedelta(days=365)
    break_glass: timedelta = timedelta(hours=4)

    @classmethod
    def of(cls, settings) -> AccessRules:
        return cls(timedelta(days=settings.access_after_care_days),
                   timedelta(minutes=settings.access_break_glass_minutes))


def _facts_statement():
    """Everything the policy needs of one patient for one subject, in one statement (one round
    trip on the read path), built once with its parameters (patient, account, now, the subject's
    Practitioner ids and IDNPS): rows (kind, text, text, number, time, body) of
    r: the patient's Consents and the resources of RELATION_TYPES that mention the subject
       (type, id, source establishment, -, -, body), by Practitioner id or by IDNPS;
    b: the subject's active break-the-glass (-, reason, id, expiry);  g: its current grants
       (kind);  k: the establishments where the patient is known (establishment id)."""
    patient, account, now = bindparam("patient"), bindparam("account"), bindparam("now", type_=UtcDateTime)
    mentions = or_(
        exists().where(ReferenceIndex.resource_id == Resource.id, ReferenceIndex.target_type == "Practitioner",
                       ReferenceIndex.target_id.in_(bindparam("practitioner_ids", expanding=True))),
        exists().where(TokenIndex.resource_id == Resource.id, TokenIndex.system == IDNPS_SYSTEM,
                       TokenIndex.code.in_(bindparam("idnps", expanding=True)),
                       TokenIndex.param.in_(sorted({f"{p}:identifier" for p in RELATION_TYPES.values()}))))
    no_text, no_number = null().cast(String), null().cast(Integer)
    no_time, no_body = null().cast(UtcDateTime), null().cast(JsonBody)
    return union_all(
        select(literal("r"), Resource.resource_type, Resource.fhir_id, Resource.source_establishment_id,
               no_time, Resource.body).where(
            # One range of the patient/type index, then the mention check on a few rows.
            Resource.ght_patient_id == patient, Resource.resource_type.in_(["Consent", *RELATION_TYPES]),
            Resource.deleted.is_(False), or_(Resource.resource_type == "Consent", mentions)),
        select(literal("b"), no_text, BreakGlass.reason, BreakGlass.id, BreakGlass.expires_at, no_body).where(
            BreakGlass.account_id == account, BreakGlass.ght_patient_id == patient,
            BreakGlass.started_at <= now, BreakGlass.expires_at > now),
        select(literal("g"), AccessGrant.kind, no_text, no_number, no_time, no_body).where(
            AccessGrant.account_id == account,
            or_(AccessGrant.ght_patient_id == patient, AccessGrant.ght_patient_id.is_(None)),
            AccessGrant.starts_at <= now, AccessGrant.ends_at > now, AccessGrant.revoked_at.is_(None)),
        select(literal("k"), no_text, no_text, LocalIdentity.establishment_id, no_time, no_body).where(
            LocalIdentity.patient_id == patient, LocalIdentity.active.is_(True)),
    )


FACTS = _facts_statement()


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
    rows, glass, grants, known_at = [], [], set(), set()
    parameters = {"patient": ght_patient_id, "account": subject.account_id, "now": now,
                  "practitioner_ids": sorted(subject.practitioner_ids), "idnps": sorted(subject.idnps)}
    for kind, text_a, text_b, number, moment, body in db.connection().execute(FACTS, parameters):
        if kind == "r":
            rows.append((text_a, text_b, number, body))
        elif kind == "b":
            glass.append(BreakGlassFact(number, text_b, moment))
        elif kind == "g":
            grants.add(text_a)
        else:
            known_at.add(number)
    consents = [r for r in rows if r[0] == "Consent"]
    found_wills = wills(consents, establishment_of_finess(db) if consents else {}, now)
    found_relations = relations(subject, [r for r in rows if r[0] != "Consent"], RelationRules(now, rules.after_care))
    return PatientFacts(
        ght_patient_id, tuple(found_relations), tuple(found_wills),
        max(glass, key=lambda g: g.expires_at) if glass else None, frozenset(grants), frozenset(known_at))
