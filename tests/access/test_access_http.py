"""The access rules through the real doors (FHIR API, JSON API) on a real server, and what they
leave in the trace: care team, outsider, opposition honoured at once, break-the-glass with its
reason and review, external member with an expired membership, secretaries, sensitive data."""

from __future__ import annotations

from support import last_entries, trace_count

from ght.audit.trail import Action


def test_care_team_reads_and_outsider_is_refused_each_traced_once(territory, db):
    doc, outsider = territory.client("doc"), territory.client("outsider")
    before = trace_count(db)
    answer = doc.get(f"/fhir/Observation/{territory.result_ch}")
    assert answer.status_code == 200
    [entry] = last_entries(db, trace_count(db) - before)
    assert (entry.account, entry.outcome, entry.action, entry.ght_patient_id, entry.door) == (
        "doc", "allowed", "read", territory.marie, "fhir")
    assert entry.resources == f'["Observation/{territory.result_ch}"]' and entry.rpps == "10000000011"
    assert "séjour" in entry.reason  # why it was allowed: the stay at the CH

    before = trace_count(db)
    refused = outsider.get(f"/fhir/Observation/{territory.result_ch}")
    assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"
    assert "équipe de soins" in refused.json()["issue"][0]["diagnostics"]
    [entry] = last_entries(db, trace_count(db) - before)
    assert (entry.account, entry.outcome, entry.ght_patient_id) == ("outsider", "denied", territory.marie)

    searched = doc.get("/fhir/Observation", params={"patient": territory.marie_chu})
    assert searched.status_code == 200 and searched.json()["total"] == 2  # both establishments
    assert outsider.get("/fhir/Observation", params={"patient": territory.marie_chu}).status_code == 403
    assert outsider.get(f"/fhir/Patient/{territory.marie}/$everything").status_code == 403
    everything = doc.get(f"/fhir/Patient/{territory.marie}/$everything").json()
    assert {e["resource"]["resourceType"] for e in everything["entry"]} >= {"Patient", "Encounter", "Observation"}


def test_opposition_is_honoured_at_once_for_other_establishments_data(territory, db):
    doc = territory.client("doc")
    recorded = doc.post(f"/api/patients/{territory.marie}/will", json={"kind": "opposition"})
    assert recorded.status_code == 201, recorded.text
    will = doc.get(f"/api/patients/{territory.marie}/will").json()
    assert len(will) == 1 and "opposition" in will[0]["text"] and "TEST DOC" in will[0]["text"].upper()
    # The CH's data are no longer shared with the CHU's doctor; the CHU's own still are.
    refused = doc.get(f"/fhir/Observation/{territory.result_ch}")
    assert refused.status_code == 403 and "oppose" in refused.json()["issue"][0]["diagnostics"]
    assert doc.get(f"/fhir/Observation/{territory.result_chu}").status_code == 200
    page = doc.get("/fhir/Observation", params={"patient": territory.marie_chu}).json()
    assert [e["resource"]["id"] for e in page["entry"]] == [territory.result_chu] and "total" not in page
    # The CH's own nurse (in the same establishment as the data) is not concerned by sharing.
    entries = last_entries(db, 3)
    assert any(e.outcome == "denied" and territory.result_ch in e.resources for e in entries)


def test_break_the_glass_needs_a_reason_lasts_and_is_reviewed(territory, db):
    outsider, dpo = territory.client("outsider"), territory.client("dpo")
    short = outsider.post("/api/access/break-glass", json={"patient": territory.marie, "reason": "urgence"})
    assert short.status_code == 422 and "motif" in short.json()["detail"]
    declared = outsider.post("/api/access/break-glass", json={
        "patient": f"Patient/{territory.marie_chu}", "reason": "patient inconscient aux urgences, antécédents inconnus"})
    assert declared.status_code == 201, declared.text
    assert declared.json()["ght_patient_id"] == territory.marie
    answer = outsider.get(f"/fhir/Observation/{territory.result_ch}")
    assert answer.status_code == 200
    [entry] = last_entries(db, 1)
    assert entry.purpose == "emergency" and entry.break_glass_reason.startswith("patient inconscient")
    # The other patient stays closed.
    assert outsider.get("/fhir/Observation", params={"patient": territory.paul}).status_code == 403
    pending = dpo.get("/api/access/break-glass").json()
    assert [p["account"] for p in pending] == ["outsider"]
    assert territory.client("doc").get("/api/access/break-glass").status_code == 403
    reviewed = dpo.post(f"/api/access/break-glass/{pending[0]['id']}/review", json={"verdict": "justified"})
    assert reviewed.status_code == 200 and reviewed.json()["review_verdict"] == "justified"
    assert dpo.get("/api/access/break-glass").json() == []
    log = dpo.get(f"/api/patients/{territory.marie}/access-log").json()
    assert any(a["account"] == "outsider" and a["break_glass_reason"] for a in log)
    assert any(a["action"] == Action.BREAK_GLASS.value for a in log)


def test_external_member_only_through_a_dated_current_membership(territory):
    gp, expired = territory.client("gp"), territory.client("gp.expired")
    assert gp.get(f"/fhir/Observation/{territory.result_ch}").status_code == 200
    assert expired.get(f"/fhir/Observation/{territory.result_ch}").status_code == 403
    assert gp.get("/fhir/Observation", params={"patient": territory.paul}).status_code == 403
    explained = gp.get(f"/api/patients/{territory.marie}/access").json()
    assert explained["allowed"] and "CareTeam" in explained["relations"][0]


def test_roles_without_clinical_content(territory):
    for username in ("dsi", "iv", "dim", "dpo"):
        client = territory.client(username)
        assert client.get(f"/fhir/Observation/{territory.result_chu}").status_code == 403, username
        assert client.get("/fhir/Observation", params={"patient": territory.marie_chu}).status_code == 403, username
    desk = territory.client("desk")
    assert desk.get(f"/fhir/Encounter/{territory.stay_ch}").status_code == 200  # administrative: the stay
    assert desk.get(f"/fhir/Observation/{territory.result_chu}").status_code == 403
    assert territory.client("dsi").get(f"/fhir/Patient/{territory.marie_chu}").status_code == 403
    assert territory.client("iv").get(f"/fhir/Patient/{territory.marie_chu}").status_code == 200


def test_sensitive_resources_need_an_explicit_grant(territory, db):
    doc, dpo = territory.client("doc"), territory.client("dpo")
    created = doc.post("/fhir/Observation", json={
        "resourceType": "Observation", "status": "final",
        "meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]},
        "code": {"text": "sérologie"}, "subject": {"reference": f"Patient/{territory.marie_chu}"}})
    assert created.status_code == 403 and "sensible" in created.json()["issue"][0]["diagnostics"]
    given = dpo.post("/api/access/grants", json={"username": "doc", "kind": "sensitive", "days": 1,
                                                 "reason": "suivi VIH", "patient": territory.marie})
    assert given.status_code == 201, given.text
    created = doc.post("/fhir/Observation", json={
        "resourceType": "Observation", "status": "final",
        "meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]},
        "code": {"text": "sérologie"}, "subject": {"reference": f"Patient/{territory.marie_chu}"}})
    assert created.status_code == 201
    assert doc.get(f"/fhir/Observation/{created.json()['id']}").status_code == 200
    assert territory.client("nurse.ch").get(f"/fhir/Observation/{created.json()['id']}").status_code == 403
    assert dpo.delete(f"/api/access/grants/{given.json()['id']}").status_code == 204
    assert doc.get(f"/fhir/Observation/{created.json()['id']}").status_code == 403  # at once


def test_writes_are_decided_and_traced_in_their_transaction(territory, db):
    weight = {"resourceType": "Observation", "status": "final", "code": {"text": "poids"},
              "subject": {"reference": f"Patient/{territory.paul_chu}"}}
    # Paul is known at the CHU, the outsider's establishment: receiving him there, one may write.
    assert territory.client("outsider").post("/fhir/Observation", json=weight).status_code == 201
    [entry] = last_entries(db, 1)
    assert (entry.action, entry.outcome, entry.ght_patient_id) == ("create", "allowed", territory.paul)
    # The CH's nurse: Paul is not known at the CH and she is not in his care team.
    assert territory.client("nurse.ch").post("/fhir/Observation", json=weight).status_code == 403
    [entry] = last_entries(db, 1)
    assert (entry.account, entry.action, entry.outcome) == ("nurse.ch", "create", "denied")
