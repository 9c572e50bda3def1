"""FHIR Patient on a real server: FR Core feed into the identity server, versions, PDQm
search, $ihe-pix, $match, and an OperationOutcome naming the fault for each bad input."""

import copy
from datetime import date

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.parameters import Parameters

from ght.directory.models import Establishment, Site
from ght.directory.vocab import Role
from ght.identity.ins import INS_NIR_DEMO_SYSTEM, nir_with_key
from ght.identity.models import LocalIdentity
from ght.identity.service import IdentityInput, record_identity
from support import PASSWORD

CHU, CH, CH_SITE = "490000031", "490000049", "490000056"
INS = nir_with_key("1621149007123")
FHIR = {"Content-Type": "application/fhir+json"}
RELIABILITY = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"


def patient(finess=CHU, ipp="1001", *, ins=INS, status="QUAL", given="Paul Marie", **extra):
    resource = {
        "resourceType": "Patient",
        "meta": {"profile": ["https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins"]},
        "extension": [
            {"url": RELIABILITY, "extension": [{"url": "identityStatus", "valueCoding": {
                "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445", "code": status}}]},
            {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace", "valueAddress": {"extension": [
                {"url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code",
                 "valueCoding": {"system": "https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune",
                                 "code": "49007"}}], "city": "Angers"}},
        ],
        "identifier": [{"use": "usual", "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                              "code": "PI"}]},
                        "system": f"urn:finess:{finess}:ipp", "value": ipp}],
        "name": [{"extension": [{"url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name",
                                 "valueString": given}],
                  "use": "official", "family": "Durand", "given": [given.split()[0]]}],
        "gender": "male",
        "birthDate": "1962-11-02",
        "address": [{"use": "home", "line": ["3 rue des Lices"], "city": "Angers", "postalCode": "49000"}],
        "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}]},
        "contact": [{"name": {"family": "Durand", "given": ["Anne"]}, "telecom": [{"system": "phone", "value": "0241000000"}]}],
    }
    if ins:
        resource["identifier"].append({"use": "official", "type": {"coding": [
            {"system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203", "code": "INS-NIR"}]},
            "system": INS_NIR_DEMO_SYSTEM, "value": ins})
    resource.update(extra)
    return resource


def content(resource):
    return {k: v for k, v in resource.items() if k not in ("id", "meta")}


@pytest.fixture
def http(live_server, db, make_account):
    make_account("desk", roles=(Role.SECRETARY,))
    make_account("doc", roles=(Role.CLINICIAN,))
    make_account("admin", roles=(Role.DSI_ADMIN,))
    db.add_all([Establishment(finess_ej=CHU, name="CHU d'Angers", short_name="CHU", role="support"),
                Establishment(finess_ej=CH, name="CH de Cholet", short_name="CH", role="partie",
                              sites=[Site(finess_et=CH_SITE, name="Site de Cholet", commune_insee="49099",
                                         postcode="49300", city="Cholet", is_main=True)])])
    db.commit()
    with live_server.client() as client:
        tokens = {}
        for user in ("desk", "doc", "admin"):
            answer = client.post("/auth/token", data={"username": user, "password": PASSWORD}).json()
            tokens[user] = {"Authorization": f"Bearer {answer['access_token']}", **FHIR}
        client.tokens = tokens
        yield client


def outcome(response, status, code, expression=None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert issue["code"] == code, body
    if expression:
        assert expression in issue.get("expression", []), body
    return body


def test_create_read_back_unchanged_and_identity_recorded(http, db):
    sent = patient()
    created = http.post("/fhir/Patient", json=sent, headers=http.tokens["desk"])
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == 'W/"1"'
    assert created.headers["location"].endswith(f"/fhir/Patient/{created.json()['id']}/_history/1")
    read = http.get(f"/fhir/Patient/{created.json()['id']}", headers=http.tokens["doc"]).json()
    assert content(read) == content(sent)  # what a system sent reads back unchanged
    assert read["meta"]["versionId"] == "1" and read["meta"]["source"] == f"urn:finess:{CHU}"
    assert read["meta"]["profile"] == sent["meta"]["profile"]
    identity = db.get(LocalIdentity, int(read["id"]))
    assert (identity.ipp, identity.birth_name, identity.given_names, identity.birth_date) == (
        "1001", "DURAND", "PAUL MARIE", date(1962, 11, 2))
    assert (identity.status, identity.ins, identity.ins_valid, identity.birth_place) == ("QUAL", INS, True, "49007")


def test_same_qualified_ins_in_another_establishment_is_one_ght_patient(http):
    first = http.post("/fhir/Patient", json=patient(), headers=http.tokens["desk"]).json()
    # The sender gives its site's FINESS (géographique): the IPP belongs to its establishment.
    second = http.post("/fhir/Patient", json=patient(CH_SITE, "77"), headers=http.tokens["desk"]).json()
    assert second["meta"]["source"] == f"urn:finess:{CH}"
    pix = http.get("/fhir/Patient/$ihe-pix", params={"sourceIdentifier": f"urn:finess:{CHU}:ipp|1001"},
                   headers=http.tokens["doc"])
    assert pix.status_code == 200, pix.text
    Parameters.model_validate(pix.json())
    targets = [p["valueIdentifier"] for p in pix.json()["parameter"] if p["name"] == "targetIdentifier"]
    systems = {t["system"]: t["value"] for t in targets}
    assert systems[f"urn:finess:{CH}:ipp"] == "77" and systems[f"urn:finess:{CHU}:ipp"] == "1001"
    assert systems[INS_NIR_DEMO_SYSTEM] == INS  # qualified: the INS may be shared
    ght_id = systems["urn:oid:2.999.1"]
    only_ch = http.get("/fhir/Patient/$ihe-pix", params={"sourceIdentifier": f"urn:finess:{CHU}:ipp|1001",
                                                         "targetSystem": f"urn:finess:{CH}:ipp"},
                       headers=http.tokens["doc"]).json()
    assert [p["valueIdentifier"]["value"] for p in only_ch["parameter"] if p["name"] == "targetIdentifier"] == ["77"]
    ght = http.get(f"/fhir/Patient/{ght_id}", headers=http.tokens["doc"]).json()
    assert {link["other"]["reference"] for link in ght["link"]} == {f"Patient/{first['id']}", f"Patient/{second['id']}"}
    assert ght["active"] is True and ght["name"][0]["family"] == "DURAND"
    outcome(http.get("/fhir/Patient/$ihe-pix", params={"sourceIdentifier": f"urn:finess:{CHU}:ipp|nope"},
                     headers=http.tokens["doc"]), 404, "not-found", "sourceIdentifier")
    outcome(http.get("/fhir/Patient/$ihe-pix", params={"sourceIdentifier": f"urn:finess:{CHU}:ipp|1001",
                                                        "targetSystem": "urn:oid:1.2.3"},
                     headers=http.tokens["doc"]), 403, "not-found", "targetSystem")


def test_versions_if_match_idempotent_update_and_other_feeds(http, db):
    created = http.post("/fhir/Patient", json=patient(), headers=http.tokens["desk"]).json()
    url = f"/fhir/Patient/{created['id']}"
    changed = patient(id=created["id"], telecom=[{"system": "phone", "value": "0612345678"}])
    outcome(http.put(url, json=changed, headers={**http.tokens["desk"], "If-Match": 'W/"7"'}), 412, "conflict")
    updated = http.put(url, json=changed, headers={**http.tokens["desk"], "If-Match": 'W/"1"'})
    assert updated.status_code == 200 and updated.json()["meta"]["versionId"] == "2"
    again = http.put(url, json=changed, headers=http.tokens["desk"])
    assert again.json()["meta"]["versionId"] == "2"  # nothing changed, no new version
    only_marital = copy.deepcopy(changed)
    only_marital["maritalStatus"]["coding"][0]["code"] = "W"
    assert http.put(url, json=only_marital, headers=http.tokens["desk"]).json()["meta"]["versionId"] == "3"
    # Another feed (HL7 v2) changes the address: a new version rendered from the traits,
    # keeping what only the FHIR body held (contact, marital status).
    record_identity(db, IdentityInput(finess=CHU, ipp="1001", address="8 place du Ralliement", postcode="49100",
                                      city="Angers"), actor="GAM", channel="hl7")
    db.commit()
    current = http.get(url, headers=http.tokens["doc"]).json()
    assert current["meta"]["versionId"] == "4"
    assert current["address"][0]["line"] == ["8 place du Ralliement"] and current["address"][0]["postalCode"] == "49100"
    assert current["contact"] == changed["contact"] and current["maritalStatus"]["coding"][0]["code"] == "W"
    first = http.get(f"{url}/_history/1", headers=http.tokens["doc"]).json()
    assert content(first) == content(patient())
    history = http.get(f"{url}/_history", headers=http.tokens["doc"]).json()
    Bundle.model_validate(history)
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["4", "3", "2", "1"]
    outcome(http.get(f"{url}/_history/9", headers=http.tokens["doc"]), 404, "not-found")
    # The IPP is not changed by an update (A47 does that).
    moved = patient(ipp="2002", id=created["id"])
    outcome(http.put(url, json=moved, headers=http.tokens["desk"]), 422, "processing", "Patient.identifier")


def test_conditional_create_and_update_by_ipp(http):
    condition = {"If-None-Exist": f"identifier=urn:finess:{CHU}:ipp|1001"}
    first = http.post("/fhir/Patient", json=patient(), headers={**http.tokens["desk"], **condition})
    assert first.status_code == 201
    again = http.post("/fhir/Patient", json=patient(), headers={**http.tokens["desk"], **condition})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    outcome(http.post("/fhir/Patient", json=patient(), headers=http.tokens["desk"]), 409, "duplicate",
            "Patient.identifier")
    created = http.put("/fhir/Patient", params={"identifier": f"urn:finess:{CH}:ipp|55"},
                       json=patient(CH, "55", ins="", status="VALI"), headers=http.tokens["desk"])
    assert created.status_code == 201
    updated = http.put("/fhir/Patient", params={"identifier": f"urn:finess:{CH}:ipp|55"},
                       json=patient(CH, "55", ins="", status="VALI", gender="male", birthDate="1962-11-03"),
                       headers=http.tokens["desk"])
    assert updated.status_code == 200 and updated.json()["id"] == created.json()["id"]
    assert updated.json()["meta"]["versionId"] == "2"


def test_unqualified_identity_does_not_carry_its_ins(http):
    created = http.post("/fhir/Patient", json=patient(status="VALI"), headers=http.tokens["desk"]).json()
    assert all(i["system"] != INS_NIR_DEMO_SYSTEM for i in created["identifier"])
    pix = http.get("/fhir/Patient/$ihe-pix", params={"sourceIdentifier": f"urn:finess:{CHU}:ipp|1001"},
                   headers=http.tokens["doc"]).json()
    assert INS_NIR_DEMO_SYSTEM not in {p["valueIdentifier"]["system"] for p in pix["parameter"]
                                       if p["name"] == "targetIdentifier"}


def test_bad_input_gets_an_operation_outcome_naming_the_fault(http):
    desk = http.tokens["desk"]
    outcome(http.post("/fhir/Patient", content=b'{"resourceType": "Patient",', headers=desk), 400, "invalid")
    outcome(http.post("/fhir/Patient", json=patient(birthDate="1962-13-02"), headers=desk), 400, "value",
            "Patient.birthDate")
    outcome(http.post("/fhir/Patient", json=patient(name=[{"family": "Durand", "given": "Paul"}]), headers=desk),
            400, "value", "Patient.name[0].given")
    outcome(http.post("/fhir/Patient", json=patient(colour="blue"), headers=desk), 400, "structure", "Patient.colour")
    outcome(http.post("/fhir/Patient", json={"resourceType": "Observation"}, headers=desk), 400, "structure",
            "resourceType")
    no_ipp = patient()
    no_ipp["identifier"] = no_ipp["identifier"][1:]
    outcome(http.post("/fhir/Patient", json=no_ipp, headers=desk), 422, "required", "Patient.identifier")
    outcome(http.post("/fhir/Patient", json=patient("999999999"), headers=desk), 422, "processing",
            "Patient.identifier")
    outcome(http.post("/fhir/Patient", json=patient(ins=nir_with_key("1621149007123")[:-2] + "00"), headers=desk),
            422, "processing", "Patient.identifier")  # QUAL with an INS whose key is wrong
    outcome(http.post("/fhir/Patient", json=patient(gender="maybe"), headers=desk), 422, "code-invalid",
            "Patient.gender")
    outcome(http.post("/fhir/Patient", content=b"<Patient/>", headers={**desk, "Content-Type": "application/fhir+xml"}),
            415, "not-supported")
    outcome(http.post("/fhir/Patient", content=b" " * (11 * 1024 * 1024), headers=desk), 413, "too-costly")
    outcome(http.delete("/fhir/Patient/1", headers=desk), 405, "not-supported")
    outcome(http.get("/fhir/Patient/424242", headers=desk), 404, "not-found")


def test_roles(http):
    outcome(http.get("/fhir/Patient", headers=FHIR), 401, "login")
    outcome(http.get("/fhir/Patient", headers=http.tokens["admin"]), 403, "forbidden")  # DSI: no patient data
    outcome(http.post("/fhir/Patient", json=patient(), headers=http.tokens["doc"]), 403, "forbidden")


def test_pdqm_search(http, db):
    desk, doc = http.tokens["desk"], http.tokens["doc"]
    http.post("/fhir/Patient", json=patient(), headers=desk)
    http.post("/fhir/Patient", json=patient(CH, "55", ins="", status="VALI", name=[{"use": "official", "family": "Lefèvre-Durand",
                                                                    "given": ["Élodie"]}], gender="female",
                                            birthDate="1980-05-17"), headers=desk)

    def ids(**params):
        answer = http.get("/fhir/Patient", params=params, headers=doc)
        assert answer.status_code == 200, answer.text
        Bundle.model_validate(answer.json())
        return sorted(e["resource"]["identifier"][0]["value"] for e in answer.json().get("entry", [])
                      if e["search"]["mode"] == "match")

    assert ids(family="durand") == ["1001"]
    assert ids(family="lefevre") == ["55"]  # accents and case do not matter
    assert ids(**{"family:contains": "durand"}) == ["1001", "55"]
    assert ids(**{"family:exact": "LEFEVRE-DURAND"}) == ["55"]
    assert ids(given="marie") == ["1001"]  # any birth given name
    assert ids(given="elo") == ["55"]
    assert ids(birthdate="1962") == ["1001"] and ids(birthdate="ge1970-01-01") == ["55"]
    assert ids(birthdate="1980-05") == ["55"]
    assert ids(gender="female") == ["55"]
    assert ids(identifier=f"urn:finess:{CH}:ipp|55") == ["55"]
    assert ids(identifier=f"urn:finess:{CH_SITE}:ipp|55") == ["55"]  # the site's FINESS works too
    assert ids(identifier=f"{INS_NIR_DEMO_SYSTEM}|{INS}") == ["1001"]
    assert ids(identifier="1001,55") == ["1001", "55"]
    assert ids(family="durand", gender="female") == []
    paged = http.get("/fhir/Patient", params={"_count": 1, "family:contains": "durand"}, headers=doc).json()
    assert paged["total"] == 2 and len(paged["entry"]) == 1
    following = next(link["url"] for link in paged["link"] if link["relation"] == "next")
    assert len(http.get(following, headers=doc).json()["entry"]) == 1
    assert http.get("/fhir/Patient", params={"_summary": "count"}, headers=doc).json()["total"] == 2
    outcome(http.get("/fhir/Patient", params={"colour": "blue"}, headers=doc), 400, "not-supported", "colour")
    lenient = http.get("/fhir/Patient", params={"colour": "blue", "family": "durand"},
                       headers={**doc, "Prefer": "handling=lenient"}).json()
    assert [e["search"]["mode"] for e in lenient["entry"]] == ["match", "outcome"]
    outcome(http.get("/fhir/Patient", params={"birthdate": "1962-02-30"}, headers=doc), 400, "value", "birthdate")
    outcome(http.get("/fhir/Patient", params={"identifier": "urn:oid:1.2.3|9"}, headers=doc), 400, "value", "identifier")
    assert ids(family="x' OR '1'='1") == []  # an injection string is just a name nobody has


def test_match_grades(http):
    desk, doc = http.tokens["desk"], http.tokens["doc"]
    first = http.post("/fhir/Patient", json=patient(ins="", status="VALI"), headers=desk).json()

    def match(resource, **more):
        parameters = [{"name": "resource", "resource": resource}] + [
            {"name": k, **v} for k, v in more.items()]
        answer = http.post("/fhir/Patient/$match", json={"resourceType": "Parameters", "parameter": parameters},
                           headers=doc)
        assert answer.status_code == 200, answer.text
        Bundle.model_validate(answer.json())
        return [(e["resource"]["id"], e["search"]["extension"][0]["valueCode"], e["search"]["score"])
                for e in answer.json()["entry"]]

    described = {"resourceType": "Patient", "name": [{"use": "official", "family": "DURAND", "given": ["Paul"]}],
                 "gender": "male", "birthDate": "1962-11-02",
                 "address": [{"postalCode": "49000"}]}
    found = match(described)
    ght_id = http.get("/fhir/Patient/$ihe-pix", params={"sourceIdentifier": f"urn:finess:{CHU}:ipp|1001"},
                      headers=doc).json()["parameter"][0]["valueIdentifier"]["value"]
    assert found[0][0] == ght_id and found[0][1] == "certain" and found[0][2] > 0.99
    typo = copy.deepcopy(described)
    typo["birthDate"] = "1962-12-02"
    typo["name"][0]["family"] = "DURANT"
    graded = match(typo)
    assert graded and graded[0][0] == ght_id and graded[0][1] in ("probable", "possible")
    assert match(typo, onlyCertainMatches={"valueBoolean": True}) == []
    stranger = {"resourceType": "Patient", "name": [{"family": "Martin", "given": ["Zoé"]}], "gender": "female",
                "birthDate": "2001-01-01"}
    assert match(stranger) == []
    outcome(http.post("/fhir/Patient/$match", json={"resourceType": "Parameters", "parameter": []}, headers=doc),
            400, "required")
    assert first["id"]


def test_capability_statement_is_truthful(http):
    answer = http.get("/fhir/metadata")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/fhir+json")
    statement = answer.json()
    CapabilityStatement.model_validate(statement)
    patient_entry = statement["rest"][0]["resource"][0]
    assert statement["fhirVersion"] == "4.0.1" and patient_entry["type"] == "Patient"
    assert {p["name"] for p in patient_entry["searchParam"]} == {
        "_id", "identifier", "family", "given", "name", "birthdate", "gender", "active"}
    assert patient_entry["updateCreate"] is False and patient_entry["conditionalDelete"] == "not-supported"


def test_fhir_update_replaces_traits_but_never_drops_the_ins(http, db):
    sent = patient(status="VALI", telecom=[{"system": "phone", "value": "0612345678"}])
    created = http.post("/fhir/Patient", json=sent, headers=http.tokens["desk"]).json()
    assert all(i["system"] != INS_NIR_DEMO_SYSTEM for i in created["identifier"])  # VALI: not shown
    # A system PUTs back what it read: no phone any more, and no INS since it was not shown.
    read_back = {k: v for k, v in created.items() if k not in ("meta", "telecom")}
    assert http.put(f"/fhir/Patient/{created['id']}", json=read_back, headers=http.tokens["desk"]).status_code == 200
    db.expire_all()
    identity = db.get(LocalIdentity, int(created["id"]))
    assert identity.phone == "" and identity.ins == INS
