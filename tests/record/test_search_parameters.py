"""Search parameters of the shared record and the extraction of their index values.

No database: the table is checked against the FHIR model (every path is a real element of its
type, of a kind its parameter type can index, every reference target allowed), and extraction
against values read by hand in the official R4 examples of ../shared/fhir-r4-examples."""

from __future__ import annotations

import importlib
import json
import typing
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from ght.record.indexing import (
    DATETIME_MAX,
    DATETIME_MIN,
    extract,
    normalise_string,
    parse_date_range,
    parse_reference,
)
from ght.record.search_parameters import COMMON, SEARCH_PARAMETERS, SearchParameter

EXAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fhir-r4-examples"
UTC = timezone.utc

TYPES = {
    "Patient", "Practitioner", "PractitionerRole", "Organization", "Location", "Encounter",
    "EpisodeOfCare", "Condition", "Observation", "DiagnosticReport", "ImagingStudy",
    "ServiceRequest", "Procedure", "MedicationRequest", "AllergyIntolerance",
    "DocumentReference", "Binary", "CareTeam", "CarePlan", "Task", "Communication", "Consent",
    "AuditEvent", "Endpoint",
}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def end_of_day(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 23, 59, 59, 999999, UTC)


@pytest.fixture(scope="module")
def examples() -> Path:
    if not EXAMPLES.is_dir():
        pytest.skip(f"official FHIR R4 examples not found at {EXAMPLES} (see ../shared/README.md)")
    return EXAMPLES


def load(examples: Path, name: str) -> dict:
    return json.loads((examples / name).read_text(encoding="utf-8"))


def of(values: list[tuple], param: str) -> list[tuple]:
    return [value[1:] for value in values if value[0] == param]


# --- the table against the FHIR model ------------------------------------------------------

# Element types each parameter type can index (model class names, or primitive markers).
ALLOWED = {
    "token": {"Coding", "CodeableConcept", "Identifier", "ContactPoint", "Code", "bool",
              "String", "str", "Id", "Uri", "Oid"},
    "string": {"String", "str", "HumanName", "Address", "Markdown"},
    "date": {"Date", "DateTime", "Instant", "Period", "Timing"},
    "reference": {"Reference", "Canonical"},
    "quantity": {"Quantity", "Duration", "Age"},
    "uri": {"Uri", "Url", "Canonical"},
}


def _element_type(annotation) -> tuple[str, type | None]:
    """(type name, model class of a complex type) of a field annotation."""
    klass = getattr(annotation, "_model_klass", None)
    if klass:
        module, name = klass.rsplit(".", 1)
        return name, getattr(importlib.import_module(module), name)
    if typing.get_origin(annotation) is typing.Annotated:
        marker = typing.get_args(annotation)[1]
        return type(marker).__name__, None
    for arg in typing.get_args(annotation):
        if arg is not type(None):
            return _element_type(arg)
    return getattr(annotation, "__name__", str(annotation)), None


def _resolve(model, path: str):
    """The pydantic field at a dotted JSON path of `model`, and its element type name."""
    field, type_name = None, model.__name__
    for segment in path.split("."):
        if model is None:
            raise AssertionError(f"{path}: {type_name} has no element {segment!r}")
        fields = {f.alias or name: f for name, f in model.model_fields.items()}
        field = fields.get(segment)
        if field is None:
            raise AssertionError(f"{path}: {model.__name__} has no element {segment!r}")
        type_name, model = _element_type(field.annotation)
    return field, type_name


def _all_parameters():
    for type_, params in SEARCH_PARAMETERS.items():
        for parameter in list(params.values()) + list(COMMON.values()):
            yield type_, parameter


def test_the_table_covers_the_types_of_the_record():
    assert set(SEARCH_PARAMETERS) == TYPES
    for type_, params in SEARCH_PARAMETERS.items():
        for name, parameter in params.items():
            assert isinstance(parameter, SearchParameter) and parameter.name == name
            assert parameter.paths and parameter.description, f"{type_}.{name}"
            assert not name.startswith("_"), "_id, _lastUpdated are the store's; COMMON the rest"
    assert set(COMMON) == {"_tag", "_profile", "_security"}


@pytest.mark.parametrize("type_,parameter", list(_all_parameters()),
                         ids=lambda v: v if isinstance(v, str) else v.name)
def test_every_path_is_an_element_of_a_type_its_parameter_indexes(type_, parameter):
    model = get_fhir_model_class(type_)
    for path in parameter.paths:
        field, type_name = _resolve(model, path)
        assert type_name in ALLOWED[parameter.type], (
            f"{type_}.{parameter.name}: {path} is {type_name}, not indexable as {parameter.type}"
        )
        allowed = (field.json_schema_extra or {}).get("enum_reference_types")
        if parameter.type == "reference" and allowed and "Resource" not in allowed:
            assert set(parameter.targets) <= set(allowed), (
                f"{type_}.{parameter.name}: {path} cannot refer to "
                f"{set(parameter.targets) - set(allowed)}"
            )
        if parameter.type != "reference":
            assert not parameter.targets


@pytest.mark.parametrize("type_,path", [
    ("Observation", "efective"), ("Encounter", "participant.individual.name"),
    ("Observation", "effective"),  # a choice type: its concrete elements must be listed
])
def test_the_path_check_catches_typos(type_, path):
    with pytest.raises(AssertionError):
        _resolve(get_fhir_model_class(type_), path)


def test_patient_parameters_are_references_restricted_to_patient():
    for type_, params in SEARCH_PARAMETERS.items():
        if type_ in {"Patient", "Practitioner", "PractitionerRole", "Organization", "Location",
                     "Binary", "Endpoint"}:
            continue
        assert params["patient"].type == "reference", type_
        assert params["patient"].targets == ("Patient",), type_
        assert "identifier" in params or type_ == "AuditEvent", type_


# --- normalisation, dates, references ------------------------------------------------------

@pytest.mark.parametrize("raw,expected", [
    ("Hélène", "HELENE"),
    ("  jean-françois   d'Aubigné ", "JEAN-FRANCOIS D'AUBIGNE"),
    ("Lætitia Cœur", "LAETITIA COEUR"),
    ("straße", "STRASSE"),
    ("ÉLOÏSE\tÂGÉE\n", "ELOISE AGEE"),
    ("   ", ""),
])
def test_normalise_string(raw, expected):
    assert normalise_string(raw) == expected


@pytest.mark.parametrize("text,low,high", [
    ("1962", utc(1962, 1, 1), end_of_day(1962, 12, 31)),
    ("2024-02", utc(2024, 2, 1), end_of_day(2024, 2, 29)),
    ("2023-02", utc(2023, 2, 1), end_of_day(2023, 2, 28)),
    ("2013-04-02", utc(2013, 4, 2), end_of_day(2013, 4, 2)),
    ("2013-04-02T09:30:10+01:00", utc(2013, 4, 2, 8, 30, 10),
     datetime(2013, 4, 2, 8, 30, 10, 999999, UTC)),
    ("2013-04-02T09:30:10", utc(2013, 4, 2, 9, 30, 10),  # no zone: UTC
     datetime(2013, 4, 2, 9, 30, 10, 999999, UTC)),
    ("2015-02-07T13:28:17.239+02:00", datetime(2015, 2, 7, 11, 28, 17, 239000, UTC),
     datetime(2015, 2, 7, 11, 28, 17, 239999, UTC)),
    ("2015-02-07T13:28:17.123456Z", datetime(2015, 2, 7, 13, 28, 17, 123456, UTC),
     datetime(2015, 2, 7, 13, 28, 17, 123456, UTC)),
    ("2015-12-31T23:30:00-05:00", utc(2016, 1, 1, 4, 30),
     datetime(2016, 1, 1, 4, 30, 0, 999999, UTC)),
])
def test_a_date_covers_the_period_of_its_precision(text, low, high):
    assert parse_date_range(text) == (low, high)


@pytest.mark.parametrize("text", ["", "19", "2023-02-30", "2023-13", "yesterday",
                                  "2013-04-02T25:00:00Z"])
def test_an_invalid_date_is_skipped(text):
    assert parse_date_range(text) is None


@pytest.mark.parametrize("text,expected", [
    ("Patient/123", ("Patient", "123")),
    ("Patient/123/_history/2", ("Patient", "123")),
    ("https://fhir.chu-exemple.fr/fhir/Observation/abc-1", ("Observation", "abc-1")),
    ("http://hl7.org/fhir/PlanDefinition/kdn5|1.0", ("PlanDefinition", "kdn5")),
    ("#contained-1", None),
    ("urn:uuid:8c0f3ce6-51a1-4a4c-8d68-bd4a4a5d2b87", None),
    ("Patient?identifier=urn:oid:1.2|42", None),
    ("just-an-id", None),
])
def test_parse_reference(text, expected):
    assert parse_reference(text) == expected


def test_periods_timings_and_references_in_a_resource():
    resource = {
        "resourceType": "Encounter",
        "subject": {"reference": "Group/g1"},  # a Group is a subject, not a patient
        "period": {"end": "2024-03-05"},
        "participant": [
            {"individual": {"reference": "Practitioner/p1"}},
            {"individual": {"reference": "PractitionerRole/r1"}},
            {"individual": {"reference": "#inline"}},
            {"individual": {"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1",
                                           "value": "810000000001"}}},
        ],
        "serviceProvider": {"reference": "urn:uuid:3b1b1c0e-7d0a-4b1e-9c55-0f6f1a3c2d11"},
        "meta": {"profile": ["http://interopsante.org/fhir/StructureDefinition/FrEncounter"],
                 "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                               "code": "R"}]},
    }
    extracted = extract(resource)
    assert of(extracted.dates, "date") == [(DATETIME_MIN, end_of_day(2024, 3, 5))]
    assert of(extracted.references, "subject") == [("Group", "g1")]
    assert of(extracted.references, "patient") == []
    assert of(extracted.references, "participant") == [("Practitioner", "p1"),
                                                       ("PractitionerRole", "r1")]
    assert of(extracted.references, "practitioner") == [("Practitioner", "p1")]
    assert of(extracted.references, "service-provider") == []  # resolved by the store first
    # An untyped logical reference belongs to `participant`, not to the narrower `practitioner`.
    assert extracted.reference_identifiers == [
        ("participant", "urn:oid:1.2.250.1.71.4.2.1", "810000000001")]
    assert extracted.uris == [("_profile",
                               "http://interopsante.org/fhir/StructureDefinition/FrEncounter")]
    assert of(extracted.tokens, "_security") == [
        ("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R")]


def test_an_unknown_type_or_malformed_values_do_not_raise():
    assert extract({"resourceType": "Basic", "meta": {"tag": [{"code": "x"}]}}).tokens == [
        ("_tag", "", "x")]
    odd = {"resourceType": "Observation", "code": "not-a-concept", "subject": ["x", 3],
           "effectiveDateTime": "someday", "valueQuantity": {"value": "n/a"},
           "category": [None, {"coding": [{"system": "s"}]}], "identifier": [{"value": 7}]}
    extracted = extract(odd)
    assert extracted.dates == [] and extracted.quantities == [] and extracted.references == []


ODD_VALUES = [
    None, 0, 1.5, True, "", "text", [], {}, [None, 3, "x", [1]],
    {"coding": 3, "value": {}, "system": 5, "code": [1]},
    {"coding": [3, {"code": 4}], "text": 7},
    {"start": 5, "end": ["x"]}, {"event": 5, "repeat": [1]},
    {"event": [1, None], "repeat": {"boundsPeriod": 3}},
    {"reference": 5, "identifier": "x", "type": 3},
    {"reference": "Patient/", "identifier": {"value": 1}},
    {"value": "NaN"}, {"value": float("inf")}, {"value": [1]},
    {"family": 3, "given": [None, 2], "line": "x"},
]


def _set_path(path: str, value) -> dict:
    node: object = value
    for segment in reversed(path.split(".")):
        node = {segment: node}
    return node


@pytest.mark.parametrize("type_", sorted(TYPES))
def test_odd_shapes_on_every_path_never_raise(type_):
    paths = {path for parameter in list(SEARCH_PARAMETERS[type_].values()) + list(COMMON.values())
             for path in parameter.paths}
    for path in sorted(paths):
        for value in ODD_VALUES:
            for body in (_set_path(path, value), _set_path(path, [value, value])):
                extracted = extract({"resourceType": type_, **body})
                for _, number, system, code in extracted.quantities:
                    assert isinstance(number, float) and isinstance(system, str) \
                        and isinstance(code, str)
                for row in extracted.tokens + extracted.reference_identifiers:
                    assert all(isinstance(part, str) for part in row)


# --- official examples, checked by hand ----------------------------------------------------

def test_observation_glucose(examples):
    extracted = extract(load(examples, "observation-example-f001-glucose.json"))
    assert of(extracted.tokens, "code") == [("http://loinc.org", "15074-8")]
    assert of(extracted.tokens, "identifier") == [
        ("http://www.bmc.nl/zorgportal/identifiers/observations", "6323")]
    assert of(extracted.tokens, "status") == [("", "final")]
    assert of(extracted.references, "subject") == [("Patient", "f001")]
    assert of(extracted.references, "patient") == [("Patient", "f001")]
    assert of(extracted.references, "performer") == [("Practitioner", "f005")]
    # effectivePeriod: start 2013-04-02T09:30:10+01:00, no end
    assert of(extracted.dates, "date") == [(utc(2013, 4, 2, 8, 30, 10), DATETIME_MAX)]
    assert of(extracted.quantities, "value-quantity") == [
        (6.3, "http://unitsofmeasure.org", "mmol/L")]
    assert of(extracted.tokens, "_tag") == [
        ("http://terminology.hl7.org/CodeSystem/v3-ActReason", "HTEST")]


def test_observation_blood_pressure_components(examples):
    extracted = extract(load(examples, "observation-example-bloodpressure.json"))
    assert of(extracted.tokens, "component-code") == [
        ("http://loinc.org", "8480-6"), ("http://snomed.info/sct", "271649006"),
        ("http://acme.org/devices/clinical-codes", "bp-s"), ("http://loinc.org", "8462-4")]
    assert of(extracted.quantities, "component-value-quantity") == [
        (107.0, "http://unitsofmeasure.org", "mm[Hg]"),
        (60.0, "http://unitsofmeasure.org", "mm[Hg]")]
    assert of(extracted.quantities, "value-quantity") == []
    assert of(extracted.dates, "date") == [(utc(2012, 9, 17), end_of_day(2012, 9, 17))]


def test_encounter(examples):
    extracted = extract(load(examples, "encounter-example.json"))
    assert of(extracted.tokens, "status") == [("", "in-progress")]
    assert of(extracted.tokens, "class") == [
        ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP")]
    assert of(extracted.references, "subject") == [("Patient", "example")]
    assert of(extracted.references, "patient") == [("Patient", "example")]


def test_encounter_f001_heart(examples):
    extracted = extract(load(examples, "encounter-example-f001-heart.json"))
    assert of(extracted.tokens, "identifier") == [
        ("http://www.amc.nl/zorgportal/identifiers/visits", "v1451")]
    assert of(extracted.references, "service-provider") == [("Organization", "f001")]
    assert of(extracted.references, "participant") == [("Practitioner", "f002")]
    assert of(extracted.references, "practitioner") == [("Practitioner", "f002")]
    assert of(extracted.references, "patient") == [("Patient", "f001")]
    assert of(extracted.quantities, "length") == [(140.0, "http://unitsofmeasure.org", "min")]
    assert ("http://snomed.info/sct", "270427003") in of(extracted.tokens, "type")
    assert of(extracted.tokens, "reason-code") == [("http://snomed.info/sct", "34068001")]


def test_condition(examples):
    extracted = extract(load(examples, "condition-example.json"))
    assert of(extracted.tokens, "code") == [("http://snomed.info/sct", "39065001")]
    assert of(extracted.tokens, "clinical-status") == [
        ("http://terminology.hl7.org/CodeSystem/condition-clinical", "active")]
    assert of(extracted.tokens, "verification-status") == [
        ("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed")]
    assert of(extracted.tokens, "category") == [
        ("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis"),
        ("http://snomed.info/sct", "439401001")]
    assert of(extracted.tokens, "severity") == [("http://snomed.info/sct", "24484000")]
    assert of(extracted.dates, "onset-date") == [(utc(2012, 5, 24), end_of_day(2012, 5, 24))]
    assert of(extracted.references, "patient") == [("Patient", "example")]


def test_patient(examples):
    extracted = extract(load(examples, "patient-example.json"))
    assert of(extracted.strings, "family") == [("CHALMERS",), ("WINDSOR",)]
    assert of(extracted.strings, "given") == [("PETER",), ("JAMES",), ("JIM",)]
    assert of(extracted.strings, "name") == [("CHALMERS",), ("PETER",), ("JAMES",), ("JIM",),
                                             ("WINDSOR",)]
    assert of(extracted.strings, "address-city") == [("PLEASANTVILLE",)]
    assert of(extracted.strings, "address-postalcode") == [("3999",)]
    assert of(extracted.dates, "birthdate") == [(utc(1974, 12, 25), end_of_day(1974, 12, 25))]
    assert of(extracted.tokens, "identifier") == [("urn:oid:1.2.36.146.595.217.0.1", "12345")]
    assert of(extracted.tokens, "gender") == [("", "male")]
    assert of(extracted.tokens, "active") == [("", "true")]
    assert ("", "(03) 5555 6473") in of(extracted.tokens, "telecom")
    assert of(extracted.references, "organization") == [("Organization", "1")]


def test_document_reference(examples):
    extracted = extract(load(examples, "documentreference-example.json"))
    assert of(extracted.tokens, "type") == [("http://loinc.org", "34108-1")]
    assert of(extracted.tokens, "category") == [
        ("http://ihe.net/xds/connectathon/classCodes", "History and Physical")]
    assert of(extracted.tokens, "identifier") == [
        ("urn:ietf:rfc:3986", "urn:oid:1.3.6.1.4.1.21367.2005.3.7"),
        ("urn:ietf:rfc:3986", "urn:oid:1.3.6.1.4.1.21367.2005.3.7.1234")]
    assert of(extracted.tokens, "contenttype") == [("", "application/hl7-v3+xml")]
    assert of(extracted.references, "author") == [("Practitioner", "xcda1")]
    assert of(extracted.references, "subject") == [("Patient", "xcda")]
    assert of(extracted.references, "patient") == [("Patient", "xcda")]
    assert of(extracted.references, "encounter") == [("Encounter", "xcda")]
    assert of(extracted.references, "related") == [("Patient", "xcda")]
    assert of(extracted.reference_identifiers, "related") == [
        ("urn:ietf:rfc:3986", "urn:oid:1.3.6.1.4.1.21367.2005.3.7.2345")]
    assert of(extracted.references, "relatesto") == [("DocumentReference", "example")]
    assert of(extracted.dates, "date") == [(utc(2005, 12, 23, 22, 43, 41),
                                            datetime(2005, 12, 23, 22, 43, 41, 999999, UTC))]
    assert of(extracted.dates, "period") == [(utc(2004, 12, 22, 21, 0),
                                              datetime(2004, 12, 22, 21, 1, 0, 999999, UTC))]
    assert of(extracted.uris, "location") == [
        ("http://example.org/xds/mhd/Binary/07a6483f-732b-461e-86b6-edb665c45510",)]
    assert of(extracted.strings, "description") == [("PHYSICAL",)]


def test_imaging_study(examples):
    extracted = extract(load(examples, "imagingstudy-example.json"))
    assert of(extracted.tokens, "modality") == [
        ("http://dicom.nema.org/resources/ontology/DCM", "CT")]
    assert of(extracted.tokens, "identifier") == [
        ("urn:dicom:uid", "urn:oid:2.16.124.113543.6003.1154777499.30246.19789.3503430045")]
    assert of(extracted.tokens, "series") == [
        ("", "2.16.124.113543.6003.2588828330.45298.17418.2723805630")]
    assert of(extracted.dates, "started") == [(utc(2011, 1, 1, 8, 1, 20),
                                               datetime(2011, 1, 1, 8, 1, 20, 999999, UTC))]
    assert of(extracted.references, "patient") == [("Patient", "dicom")]


def test_imaging_study_xr_endpoint_and_encounter(examples):
    extracted = extract(load(examples, "imagingstudy-example-xr.json"))
    assert of(extracted.references, "endpoint") == [("Endpoint", "example-wadors")]
    assert of(extracted.references, "encounter") == [("Encounter", "example")]
    assert of(extracted.tokens, "modality") == [
        ("http://dicom.nema.org/resources/ontology/DCM", "DX")]


def test_care_team(examples):
    extracted = extract(load(examples, "careteam-example.json"))
    assert of(extracted.references, "participant") == [("Patient", "example")]
    assert of(extracted.references, "patient") == [("Patient", "example")]
    assert of(extracted.references, "encounter") == [("Encounter", "example")]
    assert of(extracted.dates, "date") == [(DATETIME_MIN, end_of_day(2013, 1, 1))]  # open start
    assert of(extracted.tokens, "category") == [("http://loinc.org", "LA27976-2")]


def test_consent(examples):
    extracted = extract(load(examples, "consent-example.json"))
    assert of(extracted.references, "patient") == [("Patient", "f001")]
    assert of(extracted.references, "organization") == [("Organization", "f001")]
    assert of(extracted.tokens, "category") == [("http://loinc.org", "59284-0")]
    assert of(extracted.tokens, "status") == [("", "active")]
    assert of(extracted.dates, "date") == [(utc(2016, 5, 11), end_of_day(2016, 5, 11))]
    assert of(extracted.dates, "period") == [(utc(1964, 1, 1), end_of_day(2016, 1, 1))]


def test_consent_action_and_actor(examples):
    extracted = extract(load(examples, "consent-example-notThis.json"))
    assert of(extracted.references, "data") == [("Task", "example3")]


def test_audit_event(examples):
    extracted = extract(load(examples, "auditevent-example.json"))
    assert of(extracted.tokens, "type") == [
        ("http://dicom.nema.org/resources/ontology/DCM", "110100")]
    assert of(extracted.tokens, "subtype") == [
        ("http://dicom.nema.org/resources/ontology/DCM", "110120")]
    assert of(extracted.tokens, "action") == [("", "E")]
    assert of(extracted.tokens, "outcome") == [("", "0")]
    # recorded 2012-10-25T22:04:27+11:00
    assert of(extracted.dates, "date") == [(utc(2012, 10, 25, 11, 4, 27),
                                            datetime(2012, 10, 25, 11, 4, 27, 999999, UTC))]
    assert of(extracted.reference_identifiers, "agent") == [
        ("", "Grahame"), ("urn:oid:2.16.840.1.113883.4.2", "2.16.840.1.113883.4.2")]
    assert of(extracted.reference_identifiers, "entity") == [("", "ABCDEF")]
    assert of(extracted.reference_identifiers, "patient") == []  # untyped: not a patient
    assert of(extracted.strings, "address") == [("127.0.0.1",),
                                                ("WORKSTATION1.EHR.FAMILYCLINIC.COM",)]


def test_audit_event_patient_from_entity(examples):
    extracted = extract(load(examples, "auditevent-example-disclosure.json"))
    assert ("Patient", "example") in of(extracted.references, "patient")
    assert ("Patient", "example") in of(extracted.references, "entity")


def _resources(examples: Path):
    for path in sorted(examples.glob("*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        if body.get("resourceType") == "Bundle":
            for entry in body.get("entry", []):
                resource = entry.get("resource")
                if resource and resource.get("resourceType") in TYPES:
                    yield path.name, resource, False
        elif body.get("resourceType") in TYPES:
            yield path.name, body, True


def test_every_example_of_the_listed_types_extracts(examples):
    seen = set()
    for name, resource, top_level in _resources(examples):
        extracted = extract(resource)
        seen.add(resource["resourceType"])
        params = SEARCH_PARAMETERS[resource["resourceType"]] | COMMON
        for param, _, _ in extracted.tokens:
            assert params[param].type == "token", name
        for param, low, high in extracted.dates:
            assert params[param].type == "date" and low.tzinfo and high.tzinfo and low <= high, name
        for param, type_, id_ in extracted.references:
            targets = params[param].targets
            assert not targets or type_ in targets, (name, param, type_)
            assert id_ and "/" not in id_, name
        for param, value, _, _ in extracted.quantities:
            assert params[param].type == "quantity" and isinstance(value, float), name
        if top_level:  # every example file is tagged HTEST; Bundle entries are not
            assert ("_tag", "http://terminology.hl7.org/CodeSystem/v3-ActReason", "HTEST") \
                in extracted.tokens, name
    assert seen == TYPES - {"Endpoint"}  # the R4 examples folder has no Endpoint


def test_endpoint_parameters_index_a_pacs_endpoint():
    endpoint = {"resourceType": "Endpoint", "status": "active", "name": "PACS du CHU",
                "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                                   "code": "dicom-wado-rs"},
                "managingOrganization": {"reference": "Organization/ej-490000031"},
                "payloadType": [{"text": "DICOM"}], "address": "https://pacs.example/dicomweb"}
    extracted = extract(endpoint)
    assert ("connection-type", "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
            "dicom-wado-rs") in extracted.tokens
    assert ("organization", "Organization", "ej-490000031") in extracted.references
    assert ("name", "PACS DU CHU") in extracted.strings
