"""What the policy needs to know of one patient for one subject, read from the database at the
moment of the request (so a new opposition, an ended membership or an expired break-the-glass
is honoured at once): the patient's resources that mention the professional and its Consents,
the subject's active break-the-glass and grants, the establishments where the patient is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Integer, String, Text, any_, bindparam, case, cast, exists, literal_column, null, or_, select, union_all
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


def _constant(value: str):
    """A fixed value of the statement as SQL text, not a parameter: the planner knows it even in
    a generic plan (a prepared statement's plan made once for all parameters)."""
    return literal_column("'" + value.replace("'", "''") + "'", String)


def _facts_statement(arrays: bool, one: bool = False, patient=None):
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
    which costs SQLAlchemy a fifth of a decision on the read path. `one`: for a single patient,
    `patient` is a plain parameter: PostgreSQL then keeps one generic plan of index lookups (with
    an array of unknown length it plans hashed scans of whole index ranges instead, or plans
    again at each execution, which cost three times the execution itself). `patient`: for one
    patient, an expression in place of that parameter (current_with_facts_statement)."""

    def member(column, name: str):
        if name == "patients" and one:
            return column == (patient if patient is not None else bindparam("patient", type_=String))
        if arrays:
            return column == any_(bindparam(name, type_=ARRAY(String)))
        return column.in_(bindparam(name, expanding=True))

    def among(column, values):
        return column.in_([_constant(v) for v in values])

    patients = "patients"
    account, now = bindparam("account", type_=Integer), bindparam("now", type_=UtcDateTime)
    mentions = or_(
        exists().where(ReferenceIndex.resource_id == Resource.id, ReferenceIndex.target_type == _constant("Practitioner"),
                       member(ReferenceIndex.target_id, "practitioner_ids")),
        exists().where(TokenIndex.resource_id == Resource.id, TokenIndex.system == _constant(IDNPS_SYSTEM),
                       member(TokenIndex.code, "idnps"),
                       among(TokenIndex.param, sorted({f"{p}:identifier" for p in RELATION_TYPES.values()}))))
    no_text, no_number = null().cast(String), null().cast(Integer)
    no_time, no_body = null().cast(UtcDateTime), null().cast(JsonBody)
    return union_all(
        select(_constant("r"), Resource.ght_patient_id, Resource.resource_type, Resource.fhir_id,
               Resource.source_establishment_id, no_time, Resource.body).where(
            # One range of the patient/type index per patient, then the mention check on a few rows.
            member(Resource.ght_patient_id, patients), among(Resource.resource_type, ["Consent", *RELATION_TYPES]),
            Resource.deleted.is_(False), or_(Resource.resource_type == _constant("Consent"), mentions)),
        select(_constant("b"), BreakGlass.ght_patient_id, no_text, BreakGlass.reason, BreakGlass.id,
               BreakGlass.expires_at, no_body).where(
            BreakGlass.account_id == account, member(BreakGlass.ght_patient_id, patients),
            BreakGlass.started_at <= now, BreakGlass.expires_at > now),
        select(_constant("g"), AccessGrant.ght_patient_id, AccessGrant.kind, no_text, no_number, no_time,
               no_body).where(
            AccessGrant.account_id == account,
            or_(member(AccessGrant.ght_patient_id, patients), AccessGrant.ght_patient_id.is_(None)),
            AccessGrant.starts_at <= now, AccessGrant.ends_at > now, AccessGrant.revoked_at.is_(None)),
        select(_constant("k"), LocalIdentity.patient_id, no_text, no_text, LocalIdentity.establishment_id, no_time,
               no_body).where(member(LocalIdentity.patient_id, patients), LocalIdentity.active.is_(True)),
    )


# (PostgreSQL, one patient) -> statement.
FACTS = {(arrays, one): _facts_statement(arrays, one) for arrays in (True, False) for one in (True, False)}


def current_with_facts_statement():
    """The read by id's one statement (PostgreSQL, on the event loop: ght.access.async_gate): the
    resource's current row and the facts of its patient, the rows of _facts_statement for one
    patient, in one round trip instead of two (a round trip costs the server about 100 µs of CPU
    here). The row comes first as (kind: 'c', or 'd' when deleted; patient; body as JSON text;
    source establishment as text; version; last updated; -). Parameters: resource_type,
    fhir_id, and those of the facts but `patient`."""
    wanted = select(Resource.body, Resource.version, Resource.last_updated, Resource.deleted, Resource.ght_patient_id,
                    Resource.source_establishment_id).where(
        Resource.resource_type == bindparam("resource_type", type_=String),
        Resource.fhir_id == bindparam("fhir_id", type_=String)).cte("wanted")
    row = select(case((wanted.c.deleted, _constant("d")), else_=_constant("c")), wanted.c.ght_patient_id,
                 cast(wanted.c.body, Text), cast(wanted.c.source_establishment_id, String), wanted.c.version,
                 wanted.c.last_updated, null().cast(JsonBody))
    # A CTE named twice is computed once: the row's patient is looked up a single time.
    return union_all(row, *facts_of_statement(select(wanted.c.ght_patient_id).scalar_subquery()).selects)


def facts_of_statement(patient):
    """The facts statement (PostgreSQL) of the one patient that `patient` (an SQL expression)
    designates: for a statement that finds the patient and reads its facts in one round trip."""
    return _facts_statement(True, True, patient=patient)


def facts_statement(db, patients: list[str]):
    """The facts statement for the session's database and this many patients."""
    return FACTS[db.get_bind().dialect.name == "postgresql", len(set(patients)) == 1]


# FINESS (juridique or géographique) to establishment id, for the Consents' actors: the
# establishments' first, then their sites', which win should one number be both.
FINESS_STATEMENT = union_all(
    select(Establishment.finess_ej, Establishment.id, literal_column("0").label("rank")),
    select(Site.finess_et, Site.establishment_id, literal_column("1"))).order_by(literal_column("rank"))


def finess_mapping(rows) -> dict[str, int]:
    return {finess: establishment for finess, establishment, _ in rows}


def establishment_of_finess(db: Session) -> dict[str, int]:
    return finess_mapping(db.execute(FINESS_STATEMENT).all())


def has_global_record_grant(db: Session, subject: Subject, now: datetime) -> bool:
    return db.scalar(select(AccessGrant.id).where(
        AccessGrant.account_id == subject.account_id, AccessGrant.ght_patient_id.is_(None),
        AccessGrant.kind == "record", AccessGrant.starts_at <= now, AccessGrant.ends_at > now,
        AccessGrant.revoked_at.is_(None)).limit(1)) is not None


def parameters(subject: Subject, patients: list[str], now: datetime) -> dict:
    """The facts statement's parameters for `subject` and `patients` at `now` (one patient: the
    statement's `patient`)."""
    wanted = sorted(set(patients))
    return {**({"patient": wanted[0]} if len(wanted) == 1 else {"patients": wanted}),
            **subject_parameters(subject, now)}


def subject_parameters(subject: Subject, now: datetime) -> dict:
    """The facts statement's parameters but the patients."""
    return {"account": subject.account_id, "now": now,
            "practitioner_ids": sorted(subject.practitioner_ids), "idnps": sorted(subject.idnps)}


def needs_finess(rows) -> bool:
    """Whether the statement's rows hold a Consent, whose actors are named by FINESS."""
    return any(row[0] == "r" and row[2] == "Consent" for row in rows)


def compose(rows, subject: Subject, patients: list[str], rules: AccessRules, now: datetime,
            finess: dict[str, int]) -> dict[str, PatientFacts]:
    """The facts of each of `patients` from the statement's rows (`finess`: establishment_of_finess,
    needed only when needs_finess(rows))."""
    found_rows = {p: [] for p in patients}
    glass = {p: [] for p in patients}
    grants = {p: set() for p in patients}
    known_at = {p: set() for p in patients}
    everyone: set[str] = set()
    for kind, patient, text_a, text_b, number, moment, body in rows:
        if kind == "r":
            found_rows[patient].append((text_a, text_b, number, body))
        elif kind == "b":
            glass[patient].append(BreakGlassFact(number, text_b, moment.astimezone(UTC)))
        elif kind == "g":
            (grants[patient] if patient is not None else everyone).add(text_a)
        else:
            known_at[patient].add(number)
    found = {}
    after_care = RelationRules(now, rules.after_care)
    for patient, resources in found_rows.items():
        consents = [r for r in resources if r[0] == "Consent"]
        found[patient] = PatientFacts(
            patient, tuple(relations(subject, [r for r in resources if r[0] != "Consent"], after_care)),
            tuple(wills(consents, finess, now)),
            max(glass[patient], key=lambda g: g.expires_at) if glass[patient] else None,
            frozenset(grants[patient] | everyone), frozenset(known_at[patient]))
    return found


def load_many(db: Session, subject: Subject, patients: list[str], rules: AccessRules,
              now: datetime) -> dict[str, PatientFacts]:
    """The facts of each of `patients` for `subject`, in one statement."""
    rows = db.connection().execute(facts_statement(db, patients), parameters(subject, patients, now)).all()
    return compose(rows, subject, patients, rules, now, establishment_of_finess(db) if needs_finess(rows) else {})


def load(db: Session, subject: Subject, ght_patient_id: str, rules: AccessRules, now: datetime) -> PatientFacts:
    return load_many(db, subject, [ght_patient_id], rules, now)[ght_patient_id]
