"""The shared record through the FHIR API on a real server: CRUD with versions, search over the
index tables, the territorial view by patient, transactions (all or nothing), batches,
$everything, and the compartment following merges and unmerges."""

import base64
from datetime import date

import pytest
from fhir.resources.R4B.bundle import Bundle

from ght.directory.vocab import Role
from ght.identity import service
from ght.identity.ins import nir_with_key
from ght.identity.models import LocalIdentity
from support import PASSWORD, add_establishments, grant_record, marie, paul

CHU, CH = "490000031", "490000049"
FHIR = {"Content-Type": "application/fhir+json"}
LOINC = "http://loinc.org"


def observation(patient_ref, code="2345-7", value=5.4, when="2025-03-02T08:30:00+01:00", **extra):
    return {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "laboratory"}]}],
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "subject": {"reference": patient_ref}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
            **extra}


def encounter(patient_ref, start="2025-03-01T10:00:00+01:00", end="2025-03-04T12:00:00+01:00", **extra):
    return {"resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"reference": patient_ref}, "period": {"start": start, "end": end}, **extra}


@pytest.fixture
def world(live_server, db, make_account):
    """Marie known at the CHU and the CH (one GHT patient, by qualified INS), Paul at the CHU,
    a clinician whose token writes and reads the record."""
    chu, ch = add_establishments(db, CHU, CH)
    account = make_account("doc", roles=(Role.CLINICIAN,))
    account.establishment_id = chu.id
    db.commit()
    grant_record(db, account)
    ins = nir_with_key("2850349007123")
    at_chu = service.record_identity(db, marie(CHU, ins=ins, status="QUAL"), actor="t", channel="api")
    at_ch = service.record_identity(db, marie(CH, ipp="M-9", ins=ins, status="QUAL"), actor="t", channel="api")
    other = service.record_identity(db, paul(CHU), actor="t", channel="api")
    db.commit()
    assert at_chu.patient_id == at_ch.patient_id != other.patient_id
    with live_server.client() as http:
        token = http.post("/auth/token", data={"username": "doc", "password": PASSWORD}).json()["access_token"]
        http.headers.update({"Authorization": f"Bearer {token}", **FHIR})
        yield http, at_chu, at_ch, other


def created(http, resource):
    answer = http.post(f"/fhir/{resource['resourceType']}", json=resource)
    assert answer.status_code == 201, answer.text
    return answer.json()


def found(http, path, **params):
    answer = http.get(f"/fhir/{path}", params=params)
    assert answer.status_code == 200, answer.text
    Bundle.model_validate(answer.json())
    return answer.json()


def ids(bundle, mode="match"):
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode)


def test_create_read_update_delete_with_versions(world):
    http, chu, _, _ = world
    sent = observation(f"Patient/{chu.identity_id}")
    first = created(http, sent)
    assert first["meta"]["versionId"] == "1" and first["meta"]["source"] == f"urn:finess:{CHU}"
    assert {"system": "http://finess.sante.gouv.fr", "code": CHU, "display": "CHU"} in first["meta"]["tag"]
    url = f"/fhir/Observation/{first['id']}"
    read = http.get(url)
    assert read.headers["etag"] == 'W/"1"'
    assert {k: v for k, v in read.json().items() if k not in ("id", "meta")} == sent  # unchanged
    changed = {**sent, "id": first["id"], "status": "amended"}
    assert http.put(url, json=changed, headers={"If-Match": 'W/"9"'}).status_code == 412
    second = http.put(url, json=changed, headers={"If-Match": 'W/"1"'})
    assert second.status_code == 200 and second.json()["meta"]["versionId"] == "2"
    assert http.put(url, json=changed).json()["meta"]["versionId"] == "2"  # same content: no version
    assert http.get(f"{url}/_history/1").json()["status"] == "final"
    assert http.delete(url).status_code == 204
    gone = http.get(url)
    assert gone.status_code == 410 and gone.json()["resourceType"] == "OperationOutcome"
    history = http.get(f"{url}/_history").json()
    assert [e["response"]["status"] for e in history["entry"]] == ["204", "200", "201"]
    assert found(http, "Observation", _id=first["id"]).get("total") == 0
    type_history = http.get("/fhir/Observation/_history").json()
    assert type_history["type"] == "history" and type_history["total"] == 3
    # Update as create, with the client's id.
    own = http.put("/fhir/Observation/labo-42", json={**sent, "id": "labo-42"})
    assert own.status_code == 201 and own.json()["id"] == "labo-42"


def test_bad_input_answers_operation_outcome(world):
    http, chu, _, _ = world
    bad = observation(f"Patient/{chu.identity_id}", effectiveDateTime="2025-13-02")
    answer = http.post("/fhir/Observation", json=bad)
    assert answer.status_code == 400 and answer.json()["issue"][0]["expression"] == ["Observation.effectiveDateTime"]
    unknown = http.post("/fhir/Observation", json=observation("Patient/999999"))
    assert unknown.status_code == 422 and unknown.json()["issue"][0]["expression"] == ["Observation.subject"]
    assert http.post("/fhir/Spaceship", json={"resourceType": "Spaceship"}).status_code == 404
    assert http.get("/fhir/Observation", params={"colour": "blue"}).status_code == 400
    assert http.get("/fhir/Observation", params={"date": "yesterday"}).status_code == 400
    assert http.get("/fhir/Observation", params={"code": "x' OR 1=1 --"}).json()["total"] == 0
    assert http.put("/fhir/Observation/abc", json={**observation(f"Patient/{chu.identity_id}"), "id": "xyz"}).status_code == 400


def test_search_parameters(world):
    http, chu, ch, paul_ = world
    glucose = created(http, observation(f"Patient/{chu.identity_id}", value=5.4))
    potassium = created(http, observation(f"Patient/{ch.identity_id}", code="2823-3", value=4.1,
                                          when="2025-06-10T09:00:00+02:00"))
    other = created(http, observation(f"Patient/{paul_.identity_id}", value=7.9, when="2024-12-31T23:00:00Z",
                                      status="preliminary"))
    assert ids(found(http, "Observation", code=f"{LOINC}|2345-7")) == sorted([glucose["id"], other["id"]])
    assert ids(found(http, "Observation", code="2823-3")) == [potassium["id"]]
    assert ids(found(http, "Observation", status="preliminary")) == [other["id"]]
    assert ids(found(http, "Observation", date="2025")) == sorted([glucose["id"], potassium["id"]])
    assert ids(found(http, "Observation", date="lt2025-01-01")) == [other["id"]]
    assert ids(found(http, "Observation", date="ge2025-06-01")) == [potassium["id"]]
    assert ids(found(http, "Observation", **{"value-quantity": "5.4"})) == [glucose["id"]]
    assert ids(found(http, "Observation", **{"value-quantity": "gt5|http://unitsofmeasure.org|mmol/L"})) == sorted(
        [glucose["id"], other["id"]])
    assert ids(found(http, "Observation", code="2345-7", date="2025")) == [glucose["id"]]  # AND
    assert ids(found(http, "Observation", code="2345-7,2823-3", date="2025")) == sorted(
        [glucose["id"], potassium["id"]])  # OR within
    sorted_desc = found(http, "Observation", _sort="-date")
    assert [e["resource"]["id"] for e in sorted_desc["entry"]] == [potassium["id"], glucose["id"], other["id"]]
    page = found(http, "Observation", _count=2, _sort="date")
    assert page["total"] == 3 and len(page["entry"]) == 2
    following = next(link["url"] for link in page["link"] if link["relation"] == "next")
    assert [e["resource"]["id"] for e in http.get(following).json()["entry"]] == [potassium["id"]]
    assert found(http, "Observation", _summary="count")["total"] == 3
    included = found(http, "Observation", _id=glucose["id"], _include="Observation:subject")
    assert ids(included, "include") == [str(chu.identity_id)]


def test_territorial_view_by_any_identifier(world, db):
    http, chu, ch, paul_ = world
    at_chu = created(http, observation(f"Patient/{chu.identity_id}"))
    stay_ch = created(http, encounter(f"Patient/{ch.identity_id}"))
    created(http, observation(f"Patient/{paul_.identity_id}"))
    everyone = sorted([at_chu["id"], stay_ch["id"]])
    for reference in (f"Patient/{chu.identity_id}", str(ch.identity_id), chu.patient_id):
        observations = ids(found(http, "Observation", patient=reference))
        encounters = ids(found(http, "Encounter", subject=reference))
        assert sorted(observations + encounters) == everyone
    assert ids(found(http, "Observation", **{"patient:identifier": f"urn:finess:{CH}:ipp|M-9"})) == [at_chu["id"]]
    sources = {e["resource"]["meta"]["source"] for e in found(http, "Encounter", patient=chu.patient_id)["entry"]}
    assert sources == {f"urn:finess:{CH}"}
    everything = http.get(f"/fhir/Patient/{chu.identity_id}/$everything").json()
    kinds = sorted(e["resource"]["resourceType"] for e in everything["entry"])
    assert kinds == ["Encounter", "Observation", "Patient", "Patient", "Patient"]  # GHT patient + 2 local


def test_merge_and_unmerge_move_the_record(world, db):
    http, chu, _, paul_ = world
    on_paul = created(http, observation(f"Patient/{paul_.identity_id}"))
    assert ids(found(http, "Observation", patient=chu.patient_id)) == []
    merge = service.merge_patients(db, chu.patient_id, paul_.patient_id, actor="iv", channel="api", reason="test")
    db.commit()
    assert ids(found(http, "Observation", patient=chu.patient_id)) == [on_paul["id"]]
    assert ids(found(http, "Observation", patient=f"Patient/{paul_.identity_id}")) == [on_paul["id"]]
    service.unmerge(db, merge.id, actor="iv", channel="api", reason="erreur")
    db.commit()
    assert ids(found(http, "Observation", patient=chu.patient_id)) == []
    assert ids(found(http, "Observation", patient=paul_.patient_id)) == [on_paul["id"]]


def test_search_by_patient_follows_a_chain_of_merges(world, db):
    http, chu, _, paul_ = world
    third = service.record_identity(db, paul(CH, ipp="Z-1", birth_name="Zola", given_names="Émile",
                                             birth_date=date(1940, 4, 2), birth_place="13055"),
                                    actor="t", channel="api")
    db.commit()
    on_paul = created(http, observation(f"Patient/{paul_.identity_id}"))
    service.merge_patients(db, chu.patient_id, paul_.patient_id, actor="iv", channel="api", reason="test")
    service.merge_patients(db, third.patient_id, chu.patient_id, actor="iv", channel="api", reason="test")
    db.commit()
    # Paul's identity -> Marie's patient (retired) -> the third patient: the record follows.
    for reference in (f"Patient/{paul_.identity_id}", paul_.patient_id, chu.patient_id, third.patient_id):
        assert ids(found(http, "Observation", patient=reference)) == [on_paul["id"]], reference
    assert ids(found(http, "Observation", patient="Patient/424242")) == []


def test_transaction_is_all_or_nothing_and_batch_is_per_entry(world):
    http, chu, _, _ = world
    stay = encounter(f"Patient/{chu.identity_id}")
    result = observation(f"Patient/{chu.identity_id}", encounter={"reference": "urn:uuid:stay-1"})
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:obs-1", "resource": result, "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": "urn:uuid:stay-1", "resource": stay, "request": {"method": "POST", "url": "Encounter"}},
    ]}
    answer = http.post("/fhir", json=transaction)
    assert answer.status_code == 200, answer.text
    Bundle.model_validate(answer.json())
    statuses = [e["response"]["status"] for e in answer.json()["entry"]]
    assert statuses == ["201", "201"]
    stay_id = answer.json()["entry"][1]["resource"]["id"]
    assert answer.json()["entry"][0]["resource"]["encounter"]["reference"] == f"Encounter/{stay_id}"
    assert ids(found(http, "Observation", encounter=f"Encounter/{stay_id}")) == [answer.json()["entry"][0]["resource"]["id"]]
    revinclude = found(http, "Encounter", _id=stay_id, _revinclude="Observation:encounter")
    assert len(ids(revinclude, "include")) == 1
    broken = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": encounter(f"Patient/{chu.identity_id}"), "request": {"method": "POST", "url": "Encounter"}},
        {"resource": observation("Patient/999999"), "request": {"method": "POST", "url": "Observation"}},
    ]}
    refused = http.post("/fhir", json=broken)
    assert refused.status_code == 422 and "entrée 1" in refused.json()["issue"][0]["diagnostics"]
    assert found(http, "Encounter", _summary="count")["total"] == 1  # nothing of the failed transaction
    batch = {**broken, "type": "batch"}
    answer = http.post("/fhir", json=batch).json()
    assert [e["response"]["status"] for e in answer["entry"]] == ["201", "422"]
    assert answer["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert found(http, "Encounter", _summary="count")["total"] == 2


def test_conditional_create_and_update(world):
    http, chu, _, _ = world
    tagged = observation(f"Patient/{chu.identity_id}", identifier=[{"system": "urn:lab", "value": "R-1"}])
    first = http.post("/fhir/Observation", json=tagged, headers={"If-None-Exist": "identifier=urn:lab|R-1"})
    again = http.post("/fhir/Observation", json=tagged, headers={"If-None-Exist": "identifier=urn:lab|R-1"})
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    updated = http.put("/fhir/Observation", params={"identifier": "urn:lab|R-1"}, json={**tagged, "status": "amended"})
    assert updated.status_code == 200 and updated.json()["id"] == first.json()["id"]
    new = http.put("/fhir/Observation", params={"identifier": "urn:lab|R-2"},
                   json={**tagged, "identifier": [{"system": "urn:lab", "value": "R-2"}]})
    assert new.status_code == 201


def test_roles(world, live_server, make_account, db):
    http, chu, _, _ = world
    make_account("dsi", roles=(Role.DSI_ADMIN,))
    with live_server.client() as other:
        token = other.post("/auth/token", data={"username": "dsi", "password": PASSWORD}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", **FHIR}
        assert other.get("/fhir/Observation", headers=headers).status_code == 403
        assert other.get("/fhir/Observation", headers=FHIR).status_code == 401
    assert db.get(LocalIdentity, chu.identity_id) is not None


def test_binary_is_served_as_its_own_content(world):
    http, chu, _, _ = world
    pdf = b"%PDF-1.4\n% compte rendu\n%%EOF\n"
    stored = created(http, {"resourceType": "Binary", "contentType": "application/pdf",
                            "data": base64.b64encode(pdf).decode()})
    native = http.get(f"/fhir/Binary/{stored['id']}", headers={"Accept": "application/pdf"})
    assert native.status_code == 200 and native.content == pdf
    assert native.headers["content-type"] == "application/pdf"
    as_fhir = http.get(f"/fhir/Binary/{stored['id']}", headers={"Accept": "application/fhir+json"})
    assert as_fhir.json()["resourceType"] == "Binary"
    # The document that attaches it brings the Binary into the patient's record.
    created(http, {"resourceType": "DocumentReference", "status": "current",
                   "subject": {"reference": f"Patient/{chu.identity_id}"},
                   "content": [{"attachment": {"contentType": "application/pdf", "url": f"Binary/{stored['id']}"}}]})
    everything = http.get(f"/fhir/Patient/{chu.patient_id}/$everything").json()
    assert stored["id"] in {e["resource"]["id"] for e in everything["entry"] if e["resource"]["resourceType"] == "Binary"}
