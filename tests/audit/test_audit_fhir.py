"""Export of the trace as FHIR R4 AuditEvent (IHE BALP style), validated with fhir.resources."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

from ght.audit.fhir import IDNPS_SYSTEM, IDNST_SYSTEM, export_ndjson
from ght.audit.trail import record
from ght.directory.models import Establishment

GHT_OID = "2.999.1"
AUDIT_EVENT = get_fhir_model_class("AuditEvent")


@pytest.fixture
def chu(db):
    establishment = Establishment(finess_ej="750712184", name="CHU de Test", short_name="CHU", role="support")
    db.add(establishment)
    db.commit()
    return establishment


def export(db, tmp_path, **filters) -> list[dict]:
    out = tmp_path / "audit.ndjson"
    count = export_ndjson(db, out, GHT_OID, **filters)
    lines = out.read_bytes().splitlines()
    assert len(lines) == count
    resources = [orjson.loads(line) for line in lines]
    for resource in resources:
        AUDIT_EVENT.model_validate(resource)  # raises on any structural fault
    return resources


def codes(concepts) -> list[str]:
    return [c["code"] for c in concepts]


def test_fhir_read_is_a_balp_patient_read(db, tmp_path, event, chu):
    record(db, event(establishment_id=chu.id, recorded_at=datetime(2026, 5, 4, 10, 0, 0, 250000, tzinfo=UTC)))
    db.commit()
    [resource] = export(db, tmp_path)
    assert resource["meta"]["profile"] == ["https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead"]
    assert resource["type"] == {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                                "display": "Restful Operation"}
    assert codes(resource["subtype"]) == ["read"]
    assert (resource["action"], resource["outcome"], resource["recorded"]) == ("R", "0", "2026-05-04T10:00:00.250Z")
    user, organisation, server = resource["agent"]
    assert user["requestor"] is True
    assert user["who"]["identifier"] == {"system": IDNPS_SYSTEM, "value": "810001234565"}
    assert user["altId"] == "c.martin"
    assert codes(user["type"]["coding"]) == ["IRCP"]
    assert user["role"][0]["coding"][0]["code"] == "clinician" and user["role"][0]["coding"][0]["display"] == "Médecin"
    assert user["network"] == {"address": "10.1.2.3", "type": "2"}
    assert organisation["who"]["identifier"] == {"system": IDNST_SYSTEM, "value": "1750712184"}
    assert organisation["requestor"] is False and server["requestor"] is False
    assert resource["source"]["observer"]["identifier"]["value"] == f"urn:oid:{GHT_OID}"
    patient, *objects = resource["entity"]
    assert patient["what"]["reference"] == "Patient/P0001" and patient["role"]["code"] == "1"
    assert patient["what"]["identifier"] == {"system": f"urn:oid:{GHT_OID}", "value": "P0001"}
    assert [o["what"]["reference"] for o in objects] == ["Observation/12", "Observation/13"]
    assert {o["role"]["code"] for o in objects} == {"4"} and {o["type"]["code"] for o in objects} == {"2"}
    assert codes(resource["purposeOfEvent"][0]["coding"]) == ["TREAT"]


@pytest.mark.parametrize(("changes", "type_code", "subtype", "action", "outcome", "purpose"), [
    (dict(action="search", door="api", outcome="denied", reason="hors de l'équipe de soins"),
     "110110", ["search-type"], "E", "4", "TREAT"),
    (dict(action="create", purpose="coordination"), "rest", ["create"], "C", "0", "COC"),
    (dict(action="update", door="web", purpose="dim"), "110110", ["update"], "U", "0", "HOPERAT"),
    (dict(action="delete", outcome="failed", reason="erreur du serveur"), "rest", ["delete"], "D", "8", "TREAT"),
    (dict(action="export", door="export", purpose="administration"), "110106", [], "R", "0", "HSYSADMIN"),
    (dict(action="login", door="web", rpps=None, ght_patient_id=None, resources=()), "110114", ["110122"], "E", "0",
     "TREAT"),
    (dict(action="break-glass", door="web", purpose="emergency", break_glass_reason="patient inconscient aux urgences"),
     "110113", ["110127"], "E", "0", "ETREAT"),
])
def test_codes_of_each_kind_of_entry(db, tmp_path, event, changes, type_code, subtype, action, outcome, purpose):
    record(db, event(**changes))
    db.commit()
    [resource] = export(db, tmp_path)
    assert resource["type"]["code"] == type_code
    assert codes(resource.get("subtype", [])) == subtype
    assert (resource["action"], resource["outcome"]) == (action, outcome)
    assert codes(resource["purposeOfEvent"][0]["coding"]) == [purpose]
    if changes.get("reason"):
        assert resource["outcomeDesc"] == changes["reason"]
    if outcome != "0" or changes["action"] not in ("read", "search", "create", "update", "delete"):
        assert "meta" not in resource  # BALP's profiles describe successful REST interactions only


def test_break_glass_access_carries_its_reason(db, tmp_path, event):
    record(db, event(purpose="care", break_glass_reason="patient inconscient aux urgences"))
    db.commit()
    [resource] = export(db, tmp_path)
    purpose = resource["purposeOfEvent"][0]
    assert codes(purpose["coding"]) == ["ETREAT"]
    assert purpose["text"] == "Bris de glace : patient inconscient aux urgences"
    assert resource["agent"][0]["purposeOfUse"] == [purpose]


def test_account_without_rpps_is_named_by_its_username(db, tmp_path, event):
    record(db, event(account="secretaire", rpps=None, role="secretary", ght_patient_id=None, resources=()))
    db.commit()
    [resource] = export(db, tmp_path)
    user = resource["agent"][0]
    assert user["who"]["identifier"]["value"] == "secretaire"
    assert user["who"]["identifier"]["system"] != IDNPS_SYSTEM
    assert "entity" not in resource and len(resource["agent"]) == 2  # no establishment: no organisation agent


def test_export_filters_by_patient_and_period(db, tmp_path, event):
    for day, patient in ((1, "P0001"), (2, "P0002"), (3, "P0001"), (4, "P0001")):
        record(db, event(ght_patient_id=patient, recorded_at=datetime(2026, 5, day, 9, tzinfo=UTC)))
    db.commit()
    assert [r["recorded"][:10] for r in export(db, tmp_path)] == ["2026-05-01", "2026-05-02", "2026-05-03",
                                                                   "2026-05-04"]
    selected = export(db, tmp_path, patient="P0001", since=datetime(2026, 5, 2, tzinfo=UTC),
                      until=datetime(2026, 5, 4, tzinfo=UTC))
    assert [r["recorded"][:10] for r in selected] == ["2026-05-03"]
    assert selected[0]["entity"][0]["what"]["reference"] == "Patient/P0001"


def test_purge_entry_names_its_anchor(db, tmp_path, event):
    from ght.audit.purge import purge

    record(db, event(recorded_at=datetime(2020, 1, 1, tzinfo=UTC)))
    anchor = purge(db, datetime(2021, 1, 1, tzinfo=UTC), "cli:exploitant").anchor
    db.commit()
    [resource] = export(db, tmp_path)
    assert (resource["type"]["code"], resource["action"]) == ("110101", "D")
    assert resource["agent"][0]["who"]["identifier"]["value"] == "cli:exploitant"
    assert resource["entity"][0]["what"]["identifier"]["value"] == f"urn:ght:audit-anchor:{anchor.anchor_hash}"
