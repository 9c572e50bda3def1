"""Interoperability proof: a third-party FHIR client (fhirpy) drives the API with the official
FHIR R4 examples (../shared/fhir-r4-examples). What is valid round-trips unchanged; what is
invalid gets an OperationOutcome pointing at the fault.

The examples' patients (Dutch and American test patients with no IPP) are not GHT identities:
their Patient resources are refused by the identity server (422, no IPP), and the other examples'
references to them are pointed at one FR Core patient of the test territory before loading.
"""

import copy
import json
from pathlib import Path

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome as ClientOperationOutcome

from ght.directory.vocab import Role
from ght.identity import service
from ght.interop.fhir.resource_routes import RECORD_TYPES
from support import PASSWORD, add_establishments, grant_record, paul

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "fhir-r4-examples"
CHU, CH = "490000031", "490000049"


def examples():
    if not EXAMPLES.is_dir():
        pytest.skip(f"official FHIR R4 examples not found at {EXAMPLES} (see ../shared/README.md)")
    found = []
    for path in sorted(EXAMPLES.glob("*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        found.append((path.name, resource))
    return found


def pointed_at(value, patient_reference):
    """The example with every reference to a Patient replaced by our patient's."""
    if isinstance(value, dict):
        return {k: (patient_reference if k == "reference" and isinstance(v, str) and v.split("/")[-2:-1] == ["Patient"]
                    else pointed_at(v, patient_reference)) for k, v in value.items()}
    if isinstance(value, list):
        return [pointed_at(v, patient_reference) for v in value]
    return value


def without_server_meta(resource):
    meta = {k: v for k, v in resource.get("meta", {}).items() if k not in ("versionId", "lastUpdated", "source")}
    tags = [t for t in meta.get("tag", []) if t.get("system") != "http://finess.sante.gouv.fr"]
    meta = {k: v for k, v in meta.items() if k != "tag"} | ({"tag": tags} if tags else {})
    return {k: v for k, v in resource.items() if k != "meta"} | ({"meta": meta} if meta else {})


@pytest.fixture
def client(live_server, db, make_account):
    add_establishments(db, CHU, CH)
    grant_record(db, make_account("doc", roles=(Role.CLINICIAN, Role.SECRETARY)))  # writes the record and identities
    identity = service.record_identity(db, paul(CHU), actor="t", channel="api")
    db.commit()
    with live_server.client() as http:
        token = http.post("/auth/token", data={"username": "doc", "password": PASSWORD}).json()["access_token"]
    fhir = SyncFHIRClient(f"{live_server.url}/fhir", authorization=f"Bearer {token}")
    fhir.patient_reference = f"Patient/{identity.identity_id}"
    return fhir


def test_valid_examples_round_trip_unchanged(client):
    loaded = []
    for name, example in examples():
        kind = example["resourceType"]
        if kind not in RECORD_TYPES:
            continue
        sent = pointed_at(example, client.patient_reference)
        saved = client.resource(kind, **copy.deepcopy(sent)).save()  # PUT with the example's id
        assert saved.id == example["id"], name
        read = client.get(kind, example["id"])
        assert without_server_meta(read) == sent, name
        loaded.append(kind)
    assert set(loaded) == set(RECORD_TYPES) - {"Endpoint"}  # the R4 examples folder has no Endpoint
    # Searches through the client library find them again.
    found = client.resources("Observation").search(patient=client.patient_reference).fetch_all()
    assert {o.id for o in found} >= {"f001", "blood-pressure", "bmi", "example"}
    glucose = client.resources("Observation").search(code="http://loinc.org|15074-8").fetch_all()
    assert [o.id for o in glucose] == ["f001"]


def test_example_patients_without_ipp_are_refused_precisely(client):
    for name, example in examples():
        if example["resourceType"] != "Patient":
            continue
        with pytest.raises(ClientOperationOutcome) as refused:
            client.resource("Patient", **{k: v for k, v in example.items() if k != "id"}).save()
        issue = refused.value.resource["issue"][0]
        assert issue["code"] == "required" and issue["expression"] == ["Patient.identifier"], name


def test_invalid_examples_get_a_precise_operation_outcome(client):
    by_name = dict(examples())
    broken = {
        "observation-example-f001-glucose.json": ("effectivePeriod", {"start": "2013-13-05"}, "Observation.effectivePeriod.start"),
        "encounter-example.json": ("status", 12, "Encounter.status"),
        "condition-example.json": ("colour", "blue", "Condition.colour"),
    }
    for name, (element, value, expression) in broken.items():
        resource = pointed_at(by_name[name], client.patient_reference) | {element: value}
        resource.pop("id")
        with pytest.raises(ClientOperationOutcome) as refused:
            client.resource(resource["resourceType"], **resource).save()
        expressions = [e for issue in refused.value.resource["issue"] for e in issue.get("expression", [])]
        assert expression in expressions, (name, refused.value.resource)
