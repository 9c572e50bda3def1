"""FHIR search over the index tables: parameters to SQL, sorting, paging, _include and
_revinclude.

Semantics (FHIR R4 §3.1.1): a comma means OR within a parameter, a repeated parameter means
AND. `patient` and `subject` (to a Patient) search the patient compartment: any local Patient
id, GHT patient id or (with `:identifier`) IPP/INS of the person gives the resources of every
establishment of the group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select
from sqlalchemy.orm import Session

from ght.db.numbers import INT4_MAX, parse_int
from ght.identity import queries as identity_queries
from ght.identity.patient_ids import is_valid_patient_id
from ght.interop.fhir.outcome import FhirError, Issue, error
from ght.record.indexing import normalise_string
from ght.record.models import DateIndex, QuantityIndex, ReferenceIndex, Resource, StringIndex, TokenIndex
from ght.record.search_parameters import COMMON, SEARCH_PARAMETERS, SearchParameter

CONTROL = ("_count", "_offset", "_sort", "_include", "_revinclude", "_summary", "_total", "_format")
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
COMPARTMENT_PARAMS = ("patient", "subject")
MAX_COUNT = 500


@dataclass
class Query:
    resource_type: str
    conditions: list[ColumnElement] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (parameter, descending)
    includes: list[tuple[str, str, str | None]] = field(default_factory=list)  # (source type, param, target type)
    revincludes: list[tuple[str, str]] = field(default_factory=list)  # (source type, param)
    count: int = 20
    offset: int = 0
    summary_count: bool = False
    ignored: list[str] = field(default_factory=list)
    # The patient criteria (name, modifier, values): the access gate resolves them to decide on
    # the patients' records before the search runs.
    patient_criteria: list[tuple[str, str, list[str]]] = field(default_factory=list)


def parameters_of(resource_type: str) -> dict[str, SearchParameter]:
    return {**COMMON, **SEARCH_PARAMETERS.get(resource_type, {})}


# ------------------------------------------------------------------------------ values


def _prefixed(value: str) -> tuple[str, str]:
    if value[:2] in PREFIXES and len(value) > 2 and (value[2].isdigit() or value[2] == "-"):
        return value[:2], value[2:]
    return "eq", value


def date_bounds(text: str, name: str) -> tuple[datetime, datetime]:
    """The period a search date designates (YYYY, YYYY-MM, YYYY-MM-DD, or a dateTime)."""
    try:
        if len(text) == 4:
            start = datetime(int(text), 1, 1, tzinfo=UTC)
            return start, start.replace(year=start.year + 1) - timedelta(microseconds=1)
        if len(text) == 7:
            start = datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=UTC)
            following = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
            return start, following - timedelta(microseconds=1)
        if len(text) == 10:
            start = datetime.fromisoformat(text).replace(tzinfo=UTC)
            return start, start + timedelta(days=1) - timedelta(microseconds=1)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        return moment, moment
    except ValueError:
        raise error(400, "value", f"date de recherche invalide « {text} »", name) from None


def _date(name: str, param: str, value: str, resource_type: str) -> ColumnElement:
    prefix, text = _prefixed(value)
    start, end = date_bounds(text, name)
    low, high = DateIndex.low, DateIndex.high
    test = {
        "eq": and_(low >= start, high <= end), "ne": or_(low < start, high > end),
        "gt": high > end, "lt": low < start, "ge": high >= start, "le": low <= end,
        "sa": low > end, "eb": high < start, "ap": and_(low <= end, high >= start),
    }[prefix]
    return _in_index(DateIndex, resource_type, param, test)


def _in_index(table, resource_type: str, param: str, test: ColumnElement) -> ColumnElement:
    return exists().where(table.resource_id == Resource.id, table.resource_type == resource_type,
                          table.param == param, test)


def _token(name: str, param: str, value: str, resource_type: str) -> ColumnElement:
    if "|" in value:
        system, code = value.split("|", 1)
        if system and code:
            test = and_(TokenIndex.system == system, TokenIndex.code == code)
        elif code:  # |code: no system
            test = and_(TokenIndex.system == "", TokenIndex.code == code)
        elif system:  # system|: any code of that system
            test = TokenIndex.system == system
        else:
            raise error(400, "value", "valeur de jeton vide", name)
    else:
        test = TokenIndex.code == value
    return _in_index(TokenIndex, resource_type, param, test)


def _string(name: str, param: str, modifier: str, value: str, resource_type: str) -> ColumnElement:
    normalised = normalise_string(value)
    if not normalised:
        raise error(400, "value", "chaîne de recherche vide", name)
    if modifier == "exact":
        test = StringIndex.value == normalised
    elif modifier == "contains":
        escaped = normalised.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        test = StringIndex.value.like(f"%{escaped}%", escape="\\")
    else:  # starts with, as an index range
        test = and_(StringIndex.value >= normalised, StringIndex.value < normalised[:-1] + chr(ord(normalised[-1]) + 1))
    return _in_index(StringIndex, resource_type, param, test)


def _quantity(name: str, param: str, value: str, resource_type: str) -> ColumnElement:
    prefix, text = _prefixed(value)
    number, _, unit = text.partition("|")
    try:
        amount = Decimal(number)
    except InvalidOperation:
        raise error(400, "value", f"quantité invalide « {value} » ([préfixe]nombre|système|code)", name) from None
    # eq means "within the precision given": 5.4 is [5.35, 5.45).
    half = Decimal(1).scaleb(amount.as_tuple().exponent) / 2
    low, high, column = float(amount - half), float(amount + half), QuantityIndex.value
    test = {"eq": and_(column >= low, column < high), "ne": or_(column < low, column >= high),
            "gt": column > float(amount), "lt": column < float(amount), "ge": column >= float(amount),
            "le": column <= float(amount), "sa": column > float(amount), "eb": column < float(amount),
            "ap": and_(column >= float(amount) * 0.9, column <= float(amount) * 1.1)}[prefix]
    if unit:
        system, _, code = unit.partition("|") if "|" in unit else ("", "", unit)
        test = and_(test, QuantityIndex.code == code, *([QuantityIndex.system == system] if system else []))
    return _in_index(QuantityIndex, resource_type, param, test)


def _reference(name: str, param: str, modifier: str, value: str, resource_type: str) -> ColumnElement:
    if modifier == "identifier":
        return _token(name, f"{param}:identifier", value, resource_type)
    parts = value.rstrip("/").split("/")
    target_id = parts[-1]
    target_type = modifier or (parts[-2] if len(parts) >= 2 else None)
    test = ReferenceIndex.target_id == target_id
    if target_type:
        test = and_(test, ReferenceIndex.target_type == target_type)
    return _in_index(ReferenceIndex, resource_type, param, test)


# ------------------------------------------------------------------------------ compartment


def ght_patients_of(db: Session, value: str, modifier: str, name: str) -> list[str]:
    """The GHT patients a patient reference designates: Patient/<local id>, Patient/<GHT id>,
    or, with :identifier, an IPP/INS/GHT identifier (system|value)."""
    if modifier == "identifier":
        system, _, code = value.rpartition("|")
        query = identity_queries.IdentifierQuery("any", code)
        if system.startswith("urn:finess:") and system.endswith(":ipp"):
            query = identity_queries.IdentifierQuery("ipp", code, system.split(":")[2])
        found = identity_queries.cross_references(db, query)
        return [found[0].id] if found else []
    reference = value.rstrip("/").split("/")[-1]
    if is_valid_patient_id(reference) and (patient_id := identity_queries.survivor_id(db, reference)):
        return [patient_id]
    if (number := parse_int(reference)) is not None and (place := identity_queries.place_of_identity(db, number)):
        return [place.ght_patient_id]
    return []


def _compartment(db: Session, name: str, modifier: str, values: list[str]) -> ColumnElement:
    if modifier not in ("", "Patient", "identifier"):
        raise error(400, "not-supported", f"modificateur :{modifier} non pris en charge pour {name}", name)
    if modifier == "identifier":
        patients = sorted({p for v in values for p in ght_patients_of(db, v, modifier, name)})
        return Resource.ght_patient_id.in_(patients) if patients else false()
    # Patient/<local id> or <GHT id>: resolved inside the search's own statement (one round trip).
    subqueries = [q for v in values if (q := identity_queries.survivors_query(v.rstrip("/").split("/")[-1])) is not None]
    return or_(*[Resource.ght_patient_id.in_(q) for q in subqueries]) if subqueries else false()


# ------------------------------------------------------------------------------ compile


def compile_query(db: Session, resource_type: str, items: list[tuple[str, str]], *, lenient: bool) -> Query:
    params = parameters_of(resource_type)
    query = Query(resource_type)
    unknown = []
    for key, raw in items:
        name, _, modifier = key.partition(":")
        if name in CONTROL:
            _control(db, query, name, raw, key)
            continue
        values = [v for v in raw.split(",") if v != ""]
        if not values:
            raise error(400, "value", f"valeur absente pour {key}", key)
        if name == "_id":
            query.conditions.append(Resource.fhir_id.in_(values))
            continue
        if name == "_lastUpdated":
            query.conditions.append(or_(*[_last_updated(v, key) for v in values]))
            continue
        definition = params.get(name)
        if definition is None:
            (query.ignored if lenient else unknown).append(key)
            continue
        if name in COMPARTMENT_PARAMS and definition.type == "reference" and "Patient" in (definition.targets or ("Patient",)) \
                and (modifier in ("Patient", "identifier") or all(patient_reference(v) for v in values)):
            query.conditions.append(_compartment(db, name, modifier, values))
            query.patient_criteria.append((name, modifier, values))
            continue
        query.conditions.append(or_(*[_condition(definition, key, modifier, v, resource_type) for v in values]))
    if unknown:
        raise FhirError(400, *[Issue("not-supported", f"paramètre de recherche inconnu pour {resource_type} : {k}", k)
                               for k in unknown])
    return query


def patient_reference(value: str) -> bool:
    parts = value.rstrip("/").split("/")
    return len(parts) == 1 or parts[-2] == "Patient"


def _condition(definition: SearchParameter, key: str, modifier: str, value: str, resource_type: str) -> ColumnElement:
    kind = definition.type
    if modifier == "missing":
        table = {"token": TokenIndex, "uri": TokenIndex, "string": StringIndex, "date": DateIndex,
                 "reference": ReferenceIndex, "quantity": QuantityIndex}[kind]
        present = _in_index(table, resource_type, definition.name, Resource.id == Resource.id)
        if value not in ("true", "false"):
            raise error(400, "value", ":missing attend true ou false", key)
        return not_(present) if value == "true" else present
    if kind in ("token", "uri"):
        if modifier == "not":
            return not_(_token(key, definition.name, value, resource_type))
        if modifier:
            raise error(400, "not-supported", f"modificateur :{modifier} non pris en charge ({key})", key)
        return _token(key, definition.name, value, resource_type)
    if kind == "string":
        if modifier not in ("", "exact", "contains"):
            raise error(400, "not-supported", f"modificateur :{modifier} non pris en charge ({key})", key)
        return _string(key, definition.name, modifier, value, resource_type)
    if kind == "date":
        return _date(key, definition.name, value, resource_type)
    if kind == "quantity":
        return _quantity(key, definition.name, value, resource_type)
    if kind == "reference":
        return _reference(key, definition.name, modifier, value, resource_type)
    raise error(400, "not-supported", f"type de paramètre {kind} non pris en charge ({key})", key)


def _last_updated(value: str, key: str) -> ColumnElement:
    prefix, text = _prefixed(value)
    start, end = date_bounds(text, key)
    column = Resource.last_updated
    return {"eq": column.between(start, end), "ne": not_(column.between(start, end)), "gt": column > end,
            "lt": column < start, "ge": column >= start, "le": column <= end, "sa": column > end,
            "eb": column < start, "ap": column.between(start, end)}[prefix]


def _control(db: Session, query: Query, name: str, raw: str, key: str) -> None:
    if name in ("_count", "_offset"):
        if (number := parse_int(raw)) is None:
            raise error(400, "value", f"{name} doit être un entier de 0 à {INT4_MAX}, « {raw} » reçu", key)
        if name == "_count":
            query.count = min(number, MAX_COUNT)
        else:
            query.offset = number
    elif name == "_summary":
        if raw != "count":
            raise error(400, "not-supported", f"_summary={raw} non pris en charge (count seulement)", key)
        query.summary_count = True
    elif name == "_sort":
        for part in raw.split(","):
            descending = part.startswith("-")
            param = part.lstrip("-")
            known = parameters_of(query.resource_type).get(param)
            if param not in ("_lastUpdated", "_id") and (known is None or known.type != "date"):
                raise error(400, "not-supported", f"tri par « {param} » non pris en charge "
                                                  "(_lastUpdated, _id ou un paramètre de type date)", key)
            query.sort.append((param, descending))
    elif name == "_include":
        parts = raw.split(":")
        if len(parts) not in (2, 3) or parts[0] != query.resource_type or parts[1] not in parameters_of(parts[0]):
            raise error(400, "value", f"_include={raw} : Type:paramètre[:cible] du type recherché attendu", key)
        query.includes.append((parts[0], parts[1], parts[2] if len(parts) == 3 else None))
    elif name == "_revinclude":
        parts = raw.split(":")
        if len(parts) not in (2, 3) or parts[0] not in SEARCH_PARAMETERS or parts[1] not in parameters_of(parts[0]):
            raise error(400, "value", f"_revinclude={raw} : Type:paramètre attendu", key)
        query.revincludes.append((parts[0], parts[1]))


# ------------------------------------------------------------------------------ run


def _order(query: Query):
    if not query.sort:
        return [Resource.last_updated.desc(), Resource.id.desc()]
    order = []
    for param, descending in query.sort:
        if param == "_lastUpdated":
            column = Resource.last_updated
        elif param == "_id":
            column = Resource.fhir_id
        else:
            column = (select(func.min(DateIndex.low)).where(
                DateIndex.resource_id == Resource.id, DateIndex.resource_type == query.resource_type,
                DateIndex.param == param).scalar_subquery())
        order.append(column.desc() if descending else column.asc())
    return order + [Resource.id]


def run(db: Session, query: Query) -> tuple[int, list[Resource]]:
    base = select(Resource).where(Resource.resource_type == query.resource_type, Resource.deleted.is_(False),
                                  *query.conditions)
    def count() -> int:
        return db.scalar(select(func.count()).select_from(base.with_only_columns(Resource.id).subquery()))

    if query.summary_count:
        return count(), []
    page = list(db.scalars(base.order_by(*_order(query)).limit(query.count).offset(query.offset)))
    # A page that is not full ends the matches: the total follows without counting them
    # (most searches by patient), unless an offset past the end leaves it empty.
    if len(page) < query.count and (page or query.offset == 0):
        return query.offset + len(page), page
    return count(), page


def included(db: Session, query: Query, page: list[Resource]) -> tuple[list[Resource], list[tuple[str, str]]]:
    """Resources that _include / _revinclude bring, and the Patient references among the
    included targets (Patient is the identity server's, rendered by the caller)."""
    if not page or not (query.includes or query.revincludes):
        return [], []
    ids = [r.id for r in page]
    found: dict[int, Resource] = {}
    patients: list[tuple[str, str]] = []
    for _, param, target_type in query.includes:
        refs = db.execute(select(ReferenceIndex.target_type, ReferenceIndex.target_id).where(
            ReferenceIndex.resource_id.in_(ids), ReferenceIndex.param == param,
            *([ReferenceIndex.target_type == target_type] if target_type else []))).all()
        for kind, target in set(refs):
            if kind == "Patient":
                patients.append((kind, target))
                continue
            resource = db.scalar(select(Resource).where(Resource.resource_type == kind, Resource.fhir_id == target,
                                                        Resource.deleted.is_(False)))
            if resource is not None:
                found.setdefault(resource.id, resource)
    targets = [r.fhir_id for r in page]
    for source_type, param in query.revincludes:
        rows = db.scalars(select(Resource).join(ReferenceIndex, ReferenceIndex.resource_id == Resource.id).where(
            ReferenceIndex.resource_type == source_type, ReferenceIndex.param == param,
            ReferenceIndex.target_type == query.resource_type, ReferenceIndex.target_id.in_(targets),
            Resource.deleted.is_(False)).limit(MAX_COUNT * 4))
        for resource in rows:
            found.setdefault(resource.id, resource)
    page_ids = set(ids)
    return [r for rid, r in found.items() if rid not in page_ids], sorted(set(patients))
