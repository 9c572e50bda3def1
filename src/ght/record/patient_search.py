"""The search by patient, the API's second most frequent request, in one statement on the
event loop (PostgreSQL: ght.interop.fhir.hot_path), for its common form alone:
`patient=` or `subject=` one local identity id or GHT patient id (`Patient/` optional), with
`_count` and `_offset`. Any other parameter, modifier or value is the general search's
(ght.record.search, through the ORM in a thread), whose results this form gives exactly: the
same patient after merges, the same rows in the same order, the same total.

One statement finds the patient at the end of its merge chain, its page of resources (as one
JSON text, decoded with orjson), and the facts of its access decision (ght.access.facts): one
round trip where the general search makes four (the patient, its facts, the page, its ORM
objects), each costing about 100 µs of client CPU here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import literal_column

from ght.access.facts import facts_of_statement
from ght.db.async_pool import compiled
from ght.db.numbers import parse_int
from ght.identity.patient_ids import is_valid_patient_id
from ght.identity.queries import _SURVIVOR_OF_IDENTITY, _SURVIVOR_OF_PATIENT
from ght.record.search import COMPARTMENT_PARAMS, MAX_COUNT, parameters_of, patient_reference

DEFAULT_COUNT = 20  # as ght.record.search.Query


@dataclass(frozen=True, slots=True)
class PatientSearch:
    resource_type: str
    reference: str  # a local identity's id or a GHT patient id
    by_identity: bool
    count: int
    offset: int


def patient_search(resource_type: str, items: list[tuple[str, str]]) -> PatientSearch | None:
    """The search's common form by patient, or None when the general search must answer."""
    reference, numbers = None, {}
    for key, value in items:
        if key in ("_count", "_offset"):
            if key in numbers or (number := parse_int(value)) is None:
                return None
            numbers[key] = number
        elif key in COMPARTMENT_PARAMS and reference is None and value and "," not in value:
            definition = parameters_of(resource_type).get(key)
            if definition is None or definition.type != "reference" or \
                    "Patient" not in (definition.targets or ("Patient",)) or not patient_reference(value):
                return None
            reference = value.rstrip("/").split("/")[-1]
        else:
            return None
    count = min(numbers.get("_count", DEFAULT_COUNT), MAX_COUNT)
    if reference is None or count == 0:
        return None
    if parse_int(reference) is not None:  # the order of ght.identity.queries.survivors_query
        return PatientSearch(resource_type, reference, True, count, numbers.get("_offset", 0))
    if is_valid_patient_id(reference):
        return PatientSearch(resource_type, reference, False, count, numbers.get("_offset", 0))
    return None


# The patient (after merges), its page newest first, as the general search orders it; then the
# facts' rows (kind, patient, ...). The page is one row's JSON text: [fhir_id, source, body].
_STATEMENT = """WITH patient AS ({chain})
SELECT 'P', patient.id, (
    SELECT json_agg(json_build_array(page.fhir_id, page.source_establishment_id, page.body)
                    ORDER BY page.last_updated DESC, page.id DESC)::text
    FROM (SELECT fhir_id, source_establishment_id, body, last_updated, id FROM fhir_resource
          WHERE ght_patient_id = patient.id AND resource_type = %(resource_type)s AND deleted IS false
          ORDER BY last_updated DESC, id DESC LIMIT %(count)s OFFSET %(offset)s) AS page),
    NULL::varchar, NULL::integer, NULL::timestamptz, NULL::jsonb
FROM patient
UNION ALL {facts}"""

COUNT = ("SELECT count(*) FROM fhir_resource WHERE ght_patient_id = %(patient)s AND resource_type = %(resource_type)s "
         "AND deleted IS false")


def statements(dialect) -> dict[bool, str]:
    """By `by_identity`, the statement's text (parameters: reference, resource_type, count,
    offset and the facts' but the patient)."""
    facts = compiled(facts_of_statement(literal_column("(SELECT id FROM patient)")), dialect)
    return {by_identity: _STATEMENT.format(chain=compiled(chain, dialect), facts=facts)
            for by_identity, chain in ((True, _SURVIVOR_OF_IDENTITY), (False, _SURVIVOR_OF_PATIENT))}


def parameters(search: PatientSearch) -> dict:
    return {"reference": int(search.reference) if search.by_identity else search.reference,
            "resource_type": search.resource_type, "count": search.count, "offset": search.offset}
