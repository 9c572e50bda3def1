"""Queries on the patient base: demographic search (PDQ), cross-reference of identifiers
(PIX) and matching of a described person against the base ($match)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import Select, bindparam, column, func, or_, select, text
from sqlalchemy.orm import Session

from ght.db.numbers import parse_int
from ght.directory.lookup import juridique_finess
from ght.directory.models import Establishment
from ght.identity.comparisons import vetoed
from ght.identity.linkage import candidates, identity_features, strict_traits_contradict
from ght.identity.models import GhtPatient, LocalIdentity
from ght.identity.normalise import rniv_name
from ght.identity.patient_ids import is_valid_patient_id
from ght.identity.scoring import Score, active_model
from ght.identity.service import IdentityInput, normalised_traits
from ght.identity.features import features
from ght.identity.status import Status

# ------------------------------------------------------------------------------ identifiers


@dataclass(frozen=True)
class IdentifierQuery:
    """One identifier to look up. `kind`: ipp (with its establishment), ins, ght, or any
    (a bare value: IPP of any establishment, INS or GHT id)."""

    kind: str
    value: str
    finess: str = ""


def identifier_condition(db: Session, query: IdentifierQuery):
    """A condition on LocalIdentity selecting the identities that identifier designates."""
    if query.kind == "ipp":
        finess = juridique_finess(db, query.finess)
        establishment = select(Establishment.id).where(Establishment.finess_ej == finess).scalar_subquery()
        return (LocalIdentity.establishment_id == establishment) & (LocalIdentity.ipp == query.value)
    if query.kind == "ins":
        return LocalIdentity.ins == query.value.replace(" ", "")
    if query.kind == "ght":
        return LocalIdentity.patient_id == query.value
    return or_(LocalIdentity.ipp == query.value, LocalIdentity.ins == query.value.replace(" ", ""),
               LocalIdentity.patient_id == query.value)


# ------------------------------------------------------------------------------ PDQ search


@dataclass
class Criteria:
    """Demographic criteria; string criteria match RNIV-normalised traits (case and accents
    do not matter), from the start of the word unless `exact` or `contains` is asked."""

    family: list[tuple[str, str]] = field(default_factory=list)  # (modifier, value)
    given: list[tuple[str, str]] = field(default_factory=list)
    name: list[tuple[str, str]] = field(default_factory=list)
    birthdate: list[tuple[str, date, date]] = field(default_factory=list)  # (prefix, start, end of the period)
    gender: list[str] = field(default_factory=list)  # M, F, U
    identifiers: list[list[IdentifierQuery]] = field(default_factory=list)  # AND of ORs
    ids: list[int] = field(default_factory=list)
    active: bool | None = None


def _text(column, modifier: str, value: str):
    value = rniv_name(value).replace("\\", "").replace("%", "").replace("_", "")
    if modifier == "exact":
        return column == value
    if modifier == "contains":
        return column.like(f"%{value}%")
    if not value:
        return column.is_not(None)
    # "Starts with" as a range, which a plain index serves on SQLite and PostgreSQL alike
    # (LIKE 'X%' needs a case-insensitive collation or text_pattern_ops to use one).
    return (column >= value) & (column < value[:-1] + chr(ord(value[-1]) + 1))


def _words(column, modifier: str, value: str):
    """A given name matches any of the space-separated given names."""
    if modifier == "exact":
        return or_(column == rniv_name(value), column.like(f"{rniv_name(value)} %"),
                   column.like(f"% {rniv_name(value)}"), column.like(f"% {rniv_name(value)} %"))
    if modifier == "contains":
        return _text(column, "contains", value)
    return or_(_text(column, "", value), _text(column, "contains", f" {rniv_name(value)}"))


def _date(prefix: str, start: date, end: date):
    column = LocalIdentity.birth_date
    return {
        "eq": column.between(start, end), "ne": ~column.between(start, end),
        "lt": column < start, "le": column <= end, "gt": column > end, "ge": column >= start,
        "sa": column > end, "eb": column < start,
    }[prefix]


def search_query(db: Session, criteria: Criteria) -> Select:
    query = select(LocalIdentity)
    for modifier, value in criteria.family:
        query = query.where(or_(_text(LocalIdentity.birth_name, modifier, value),
                                _text(LocalIdentity.used_name, modifier, value)))
    for modifier, value in criteria.given:
        query = query.where(or_(_words(LocalIdentity.given_names, modifier, value),
                                _words(LocalIdentity.used_given_name, modifier, value)))
    for modifier, value in criteria.name:
        query = query.where(or_(_text(LocalIdentity.birth_name, modifier, value),
                                _text(LocalIdentity.used_name, modifier, value),
                                _words(LocalIdentity.given_names, modifier, value)))
    for prefix, start, end in criteria.birthdate:
        query = query.where(_date(prefix, start, end))
    if criteria.gender:
        query = query.where(LocalIdentity.sex.in_(criteria.gender))
    for alternatives in criteria.identifiers:
        query = query.where(or_(*[identifier_condition(db, q) for q in alternatives]))
    if criteria.ids:
        query = query.where(LocalIdentity.id.in_(criteria.ids))
    if criteria.active is not None:
        query = query.where(LocalIdentity.active.is_(criteria.active))
    return query


def search(db: Session, criteria: Criteria, *, limit: int, offset: int) -> tuple[int, list[LocalIdentity]]:
    query = search_query(db, criteria)
    total = db.scalar(select(func.count()).select_from(query.subquery()))
    page = db.scalars(query.order_by(LocalIdentity.birth_name, LocalIdentity.first_given_name, LocalIdentity.id)
                      .limit(limit).offset(offset))
    return total, list(page)


# ------------------------------------------------------------------------------ PIX


def cross_references(db: Session, query: IdentifierQuery) -> tuple[GhtPatient, list[LocalIdentity]] | None:
    """The GHT patient an identifier designates and all its identities (retired ones included,
    so that a system holding an old IPP finds where it went); None when unknown."""
    found = db.scalars(select(LocalIdentity).where(identifier_condition(db, query))).first()
    if found is None:
        if query.kind in ("ght", "any") and (patient := db.get(GhtPatient, query.value)) is not None:
            return _survivor(db, patient), list(_survivor(db, patient).identities)
        return None
    patient = _survivor(db, found.patient)
    return patient, list(patient.identities)


def _survivor(db: Session, patient: GhtPatient) -> GhtPatient:
    seen = set()
    while patient.merged_into and patient.id not in seen:
        seen.add(patient.id)
        patient = db.get(GhtPatient, patient.merged_into)
    return patient


def survivor_id(db: Session, patient_id: str) -> str | None:
    """The GHT patient that `patient_id` is now (itself, or where merges took it); None if unknown."""
    patient = db.get(GhtPatient, patient_id)
    return None if patient is None else _survivor(db, patient).id


# The GHT patient a merge chain ends at, from a local identity or a GHT id, as SQL text: this
# runs inside the search by patient (the API's second most frequent request), and building the
# same recursive query with SQLAlchemy's constructs cost more than a round trip to the database.
_CHAIN = """WITH RECURSIVE merge_chain(id, merged_into) AS (
    SELECT p.id, p.merged_into FROM ght_patient p {start}
    UNION ALL
    SELECT p.id, p.merged_into FROM ght_patient p JOIN merge_chain c ON p.id = c.merged_into)
SELECT id FROM merge_chain WHERE merged_into IS NULL"""
_SURVIVOR_OF_IDENTITY = text(_CHAIN.format(
    start="JOIN local_identity i ON i.patient_id = p.id WHERE i.id = :reference")).columns(column("id"))
_SURVIVOR_OF_PATIENT = text(_CHAIN.format(start="WHERE p.id = :reference")).columns(column("id"))


def survivors_query(reference: str):
    """A subquery of the GHT patient (after merges) a Patient reference designates — a local
    identity's id or a GHT id —, for use inside another statement (empty when there is no such
    patient); None when the reference can be neither."""
    if (number := parse_int(reference)) is not None:
        query, value = _SURVIVOR_OF_IDENTITY, number
    elif is_valid_patient_id(reference):
        query, value = _SURVIVOR_OF_PATIENT, reference
    else:
        return None
    # unique: several references in one search each keep their own parameter.
    return query.bindparams(bindparam("reference", value=value, unique=True))


@dataclass(frozen=True)
class IdentityPlace:
    ght_patient_id: str  # the survivor's
    establishment_id: int


def place_of_identity(db: Session, identity_id: int) -> IdentityPlace | None:
    """The GHT patient (after merges) and the establishment of a local identity, in one query
    when the patient was never merged (every clinical write and patient search asks this)."""
    return places_of_identities(db, [identity_id]).get(identity_id)


def places_of_identities(db: Session, identity_ids) -> dict[int, IdentityPlace]:
    """place_of_identity for many identities at once (a transaction's resources), by id."""
    rows = db.execute(select(LocalIdentity.id, LocalIdentity.patient_id, LocalIdentity.establishment_id,
                             GhtPatient.merged_into)
                      .join(GhtPatient, GhtPatient.id == LocalIdentity.patient_id)
                      .where(LocalIdentity.id.in_(set(identity_ids)))).all()
    return {identity_id: IdentityPlace(survivor_id(db, merged_into) if merged_into else patient_id, establishment_id)
            for identity_id, patient_id, establishment_id, merged_into in rows}


# ------------------------------------------------------------------------------ $match


@dataclass(frozen=True)
class Match:
    patient: GhtPatient
    identity: LocalIdentity  # the identity that scored best
    probability: float
    grade: str  # certain, probable, possible


def match(db: Session, person: IdentityInput, *, limit: int, possible_floor: float = 0.01) -> list[Match]:
    """GHT patients that may be `person`, best first, graded as the online matcher decides:
    certain = what it would link automatically, probable = what it would send to review."""
    # The IPP is not compared; a described person may have none.
    traits = normalised_traits(replace(person, ipp=person.ipp or "-"), None)
    wanted = features(**{k: traits[k] for k in ("birth_name", "used_name", "given_names", "birth_date", "sex",
                                                 "birth_place", "postcode", "phone", "ins", "ins_valid")})
    model = active_model(db)
    qualified = traits["status"] == Status.QUAL and traits["ins_valid"]
    best: dict[str, Match] = {}
    for candidate in candidates(db, wanted, exclude=None):
        score: Score = model.score(wanted, identity_features(candidate))
        same_ins = bool(traits["ins_valid"] and candidate.ins_valid and candidate.ins == traits["ins"])
        if qualified and same_ins and candidate.status == Status.QUAL and not strict_traits_contradict(score):
            grade = "certain"
        elif traits["ins_valid"] and candidate.ins_valid and candidate.ins != traits["ins"]:
            grade = "possible" if score.probability >= model.review_threshold else ""
        elif score.probability >= model.link_threshold and not vetoed({c.comparison: c.level for c in score.contributions}):
            grade = "certain"
        elif score.probability >= model.review_threshold:
            grade = "probable"
        elif score.probability >= possible_floor:
            grade = "possible"
        else:
            grade = ""
        if not grade:
            continue
        found = Match(candidate.patient, candidate, score.probability, grade)
        current = best.get(candidate.patient_id)
        if current is None or (_rank(found), found.probability) > (_rank(current), current.probability):
            best[candidate.patient_id] = found
    ordered = sorted(best.values(), key=lambda m: (_rank(m), m.probability), reverse=True)
    return ordered[:limit]


def _rank(found: Match) -> int:
    return {"certain": 2, "probable": 1, "possible": 0}[found.grade]
