"""What the policy needs to know of one patient for one subject, read from the database at the
moment of the request (so a new opposition, an ended membership or an expired break-the-glass
is honoured at once): the patient's resources that mention the professional and its Consents,
the subject's active break-the-glass and grants, the establishments where the patient is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, any_, bindparam, exists, literal, null, or_, select, union_all
from sqlalchemy.dialects.postgresql import ARRAY
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


def _facts_statement(arrays: bool):
    """Everything the policy needs of some patients for one subject, in one statement (one round
    trip on the read path, one for a whole search page or bundle), built once with its parameters
    (patients, account, now, the subject's Practitioner ids and IDNPS): rows (kind, patient, text,
    text, number, time, body) of
    r: the patient's Consents and the resources of RELATION_TYPES that mention the subject
       (type, id, source establishment, -, -, body), by Practitioner id or by IDNPS;
    b: the subject's active break-the-glass (-, reason, id, expiry);  g: its current grants
       (kind; no patient: all of them);  k: the establishments where the patient is known.

    `arrays` (PostgreSQL): each list is one array parameter (`= ANY`), so the statement's text
    never changes and is prepared once; otherwise (SQLite) IN lists, rendered at each execution,
    which costs SQLAlchemy a fifth of a decision on the read path."""

    def member(column, name: str, values=None):
        if arrays:
            parameter = bindparam(name, values, type_=ARRAY(String), literal_execute=False)
            return column == any_(parameter)
        return column.in_(bindparam(name, values, expanding=True))

    patients = "patients"
    account, now = bindparam("account"), bindparam("now", type_=UtcDateTime)
    mentions = or_(
        exists().where(ReferenceIndex.resource_id == Resource.id, ReferenceIndex.target_type == "Practitioner",
                       member(ReferenceIndex.target_id, "practitioner_ids")),
        exists().where(TokenIndex.resource_id == Resource.id, TokenIndex.system == IDNPS_SYSTEM,
                       member(TokenIndex.code, "idnps"),
                       member(TokenIndex.param, "relation_params",
                              sorted({f"{p}:identifier" for p in RELATION_TYPES.values()}))))
    no_text, no_number = null().cast(String), null().cast(Integer)
    no_time, no_body = null().cast(UtcDateTime), null().cast(JsonBody)
    return union_all(
        select(literal("r"), Resource.ght_patient_id, Resource.resource_type, Resource.fhir_id,
               Resource.source_establishment_id, no_time, Resource.body).where(
            # One range of the patient/type index per patient, then the mention check on a few rows.
            member(Resource.ght_patient_id, patients), member(Resource.resource_type, "record_types",
                                                              ["Consent", *RELATION_TYPES]),
            Resource.deleted.is_(False), or_(Resource.resource_type == "Consent", mentions)),
        select(literal("b"), BreakGlass.ght_patient_id, no_text, BreakGlass.reason, BreakGlass.id,
               BreakGlass.expires_at, no_body).where(
            BreakGlass.account_id == account, member(BreakGlass.ght_patient_id, patients),
            BreakGlass.started_at <= now, BreakGlass.expires_at > now),
        select(literal("g"), AccessGrant.ght_patient_id, AccessGrant.kind, no_text, no_number, no_time,
               no_body).where(
            AccessGrant.account_id == account,
            or_(member(AccessGrant.ght_patient_id, patients), AccessGrant.ght_patient_id.is_(None)),
            AccessGrant.starts_at <= now, AccessGrant.ends_at > now, AccessGrant.revoked_at.is_(None)),
        select(literal("k"), LocalIdentity.patient_id, no_text, no_text, LocalIdentity.establishment_id, no_time,
               no_body).where(member(LocalIdentity.patient_id, patients), LocalIdentity.active.is_(True)),
    )


FACTS = {True: _facts_statement(arrays=True), False: _facts_statement(arrays=False)}


def facts_statement(db):
    """The facts statement for the session's database."""
    return FACTS[db.get_bind().dialect.name == "postgresql"]


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


def load_many(db: Session, subject: Subject, patients: list[str], rules: AccessRules,
              now: datetime) -> dict[str, PatientFacts]:
    """The facts of each of `patients` for `subject`, in one statement."""
    rows = {p: [] for p in patients}
    glass = {p: [] for p in patients}
    grants = {p: set() for p in patients}
    known_at = {p: set() for p in patients}
    everyone: set[str] = set()
    parameters = {"patients": sorted(set(patients)), "account": subject.account_id, "now": now,
                  "practitioner_ids": sorted(subject.practitioner_ids), "idnps": sorted(subject.idnps)}
    for kind, patient, text_a, text_b, number, moment, body in db.connection().execute(facts_statement(db), parameters):
        if kind == "r":
            rows[patient].append((text_a, text_b, number, body))
        elif kind == "b":
            glass[patient].append(BreakGlassFact(number, text_b, moment))
        elif kind == "g":
            (grants[patient] if patient is not None else everyone).add(text_a)
        else:
            known_at[patient].add(number)
    finess = None
    found = {}
    after_care = RelationRules(now, rules.after_care)
    for patient in rows:
        consents = [r for r in rows[patient] if r[0] == "Consent"]
        if consents and finess is None:
            finess = establishment_of_finess(db)
        found[patient] = PatientFacts(
            patient, tuple(relations(subject, [r for r in rows[patient] if r[0] != "Consent"], after_care)),
            tuple(wills(consents, finess or {}, now)),
            max(glass[patient], key=lambda g: g.expires_at) if glass[patient] else None,
            frozenset(grants[patient] | everyone), frozenset(known_at[patient]))
    return found


def load(db: Session, subject: Subject, ght_patient_id: str, rules: AccessRules, now: datetime) -> PatientFacts:
    return load_many(db, subject, [ght_patient_id], rules, now)[ght_patient_id]
