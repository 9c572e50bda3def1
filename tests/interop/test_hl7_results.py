"""Lab results (ORU^R01) into DiagnosticReport and Observation on a real database: values by
OBX-2, LOINC codes, UCUM units, ranges and flags, stable ids so that a result sent again
updates it, withdrawn results, and refusals located at their segment and field."""

import base64

import pytest
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.observation import Observation
from sqlalchemy import func, select

from ght.identity.models import LocalIdentity
from ght.record import search, store
from ght.record.models import Resource
from interop.hl7_samples import (  # noqa: F401  (feed: a fixture)
    CHU, MINIMAL_PDF, UNKNOWN, feed, obr, obx, oru, send,
)

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
REPORT_ID = f"{CHU}-F123"


def body(db, resource_type: str, fhir_id: str) -> dict:
    db.expire_all()
    return store.read(db, resource_type, fhir_id).body


def panel(control_id: str = "L-1", *, glucose: str = "6.1", glucose_status: str = "F", with_comment: bool = True,
          report_status: str = "F") -> bytes:
    results = [
        obr(1, "F123", "24323-8^Bilan métabolique^LN", placer="P77", status=report_status),
        "NTE|1||Prélèvement hémolysé",
        obx(1, "NM", "2345-7^Glucose^LN", glucose, unit="mmol/L^^UCUM", ref_range="3.9-5.8", flags="H",
            status=glucose_status),
        obx(2, "SN", "2160-0^Créatinine^LN", "<^20", unit="umol/L^^UCUM", ref_range="45-90"),
        obx(3, "SN", "33914-3^DFG^LN", "^60^-^90", unit="mL/min/{1.73_m2}^^UCUM"),
        obx(4, "CE", "5778-6^Aspect^LN", "CLAIR^Clair^L", ref_range="clair"),
    ]
    if with_comment:
        results += [obx(5, "FT", "COM^Commentaire^L", "Contrôle\\.br\\à 3 mois"), "NTE|1||Avis biologiste"]
    return oru(control_id, *results)


def test_results_become_a_report_and_its_observations(feed, db):
    assert send(feed, panel()) == {"msa1": "AA", "msa2": "L-1"}
    identity = db.scalar(select(LocalIdentity.id).where(LocalIdentity.ipp == "100234"))
    report = body(db, "DiagnosticReport", REPORT_ID)
    DiagnosticReport.model_validate(report)
    assert report["status"] == "final"
    assert report["code"] == {"coding": [{"system": LOINC, "code": "24323-8", "display": "Bilan métabolique"}],
                              "text": "Bilan métabolique"}
    assert report["subject"] == {"reference": f"Patient/{identity}"}
    assert report["encounter"] == {"reference": f"Encounter/{CHU}-NDA001"}
    assert (report["effectiveDateTime"], report["issued"]) == ("2024-03-01T10:15:00+01:00", "2024-03-01T12:30:00+01:00")
    assert report["conclusion"] == "Prélèvement hémolysé"
    assert report["identifier"][0]["value"] == "F123" and report["meta"]["source"] == f"urn:finess:{CHU}"
    assert [r["reference"] for r in report["result"]] == [
        f"Observation/{CHU}-F123-2345-7", f"Observation/{CHU}-F123-2160-0", f"Observation/{CHU}-F123-33914-3",
        f"Observation/{CHU}-F123-5778-6", f"Observation/{CHU}-F123-COM"]
    glucose, creatinine, dfg, aspect, comment = (
        body(db, "Observation", r["reference"].split("/")[1]) for r in report["result"])
    for observation in (glucose, creatinine, dfg, aspect, comment):
        Observation.model_validate(observation)
        assert observation["subject"] == report["subject"] and observation["encounter"] == report["encounter"]
        assert observation["category"][0]["coding"][0]["code"] == "laboratory"
    assert glucose["code"]["coding"][0] == {"system": LOINC, "code": "2345-7", "display": "Glucose"}
    assert glucose["valueQuantity"] == {"value": 6.1, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}
    assert glucose["referenceRange"] == [{"low": {"value": 3.9, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"},
                                          "high": {"value": 5.8, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}}]
    assert glucose["interpretation"][0]["coding"][0]["code"] == "H" and glucose["status"] == "final"
    assert creatinine["valueQuantity"] == {"value": 20, "comparator": "<", "unit": "umol/L", "system": UCUM,
                                           "code": "umol/L"}
    assert dfg["valueRange"]["low"]["value"] == 60 and dfg["valueRange"]["high"]["value"] == 90
    assert aspect["valueCodeableConcept"]["coding"][0] == {
        "system": f"urn:finess:{CHU}:code:L", "code": "CLAIR", "display": "Clair"}
    assert aspect["referenceRange"] == [{"text": "clair"}]
    assert comment["valueString"] == "Contrôle\nà 3 mois" and comment["note"] == [{"text": "Avis biologiste"}]
    # Searchable as any record resource: by patient and LOINC code.
    query = search.compile_query(db, "Observation", [("patient", str(identity)), ("code", f"{LOINC}|2345-7")],
                                 lenient=False)
    total, rows = search.run(db, query)
    assert total == 1 and rows[0].fhir_id == f"{CHU}-F123-2345-7"


def test_a_result_sent_again_updates_and_a_dropped_one_is_withdrawn(feed, db):
    assert send(feed, panel("L-1", glucose_status="P", report_status="P"))["msa1"] == "AA"
    assert body(db, "DiagnosticReport", REPORT_ID)["status"] == "preliminary"
    # The same message under another control id: nothing changes.
    assert send(feed, panel("L-2", glucose_status="P", report_status="P"))["msa1"] == "AA"
    assert body(db, "Observation", f"{CHU}-F123-2345-7")["meta"]["versionId"] == "1"
    # The corrected, final report: the glucose changes, the comment is no longer sent.
    assert send(feed, panel("L-3", glucose="6.4", glucose_status="C", with_comment=False))["msa1"] == "AA"
    glucose = body(db, "Observation", f"{CHU}-F123-2345-7")
    assert (glucose["meta"]["versionId"], glucose["status"], glucose["valueQuantity"]["value"]) == ("2", "corrected", 6.4)
    report = body(db, "DiagnosticReport", REPORT_ID)
    assert (report["meta"]["versionId"], report["status"], len(report["result"])) == ("2", "final", 4)
    assert body(db, "Observation", f"{CHU}-F123-COM")["status"] == "entered-in-error"
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Resource)) == 6  # no duplicate


def test_a_pdf_report_rides_in_the_report_and_repeated_codes_get_their_own_ids(feed, db):
    raw = oru("L-5", obr(1, "F200", "11502-2^Compte rendu de biologie^LN"),
              obx(1, "ST", "COM^Commentaire^L", "premier"), obx(2, "ST", "COM^Commentaire^L", "second"),
              obx(3, "ED", "PDF^Compte rendu^L", f"^application^pdf^Base64^{base64.b64encode(MINIMAL_PDF).decode()}"),
              nda=None)
    assert send(feed, raw)["msa1"] == "AA"
    report = body(db, "DiagnosticReport", f"{CHU}-F200")
    DiagnosticReport.model_validate(report)
    assert "encounter" not in report
    assert [r["reference"] for r in report["result"]] == [f"Observation/{CHU}-F200-COM", f"Observation/{CHU}-F200-COM-2"]
    [form] = report["presentedForm"]
    assert form["contentType"] == "application/pdf" and base64.b64decode(form["data"]) == MINIMAL_PDF
    assert body(db, "Observation", f"{CHU}-F200-COM-2")["valueString"] == "second"


def test_refusals_point_at_segment_and_field_and_write_nothing(feed, db):
    report = obr(1, "F300", "24323-8^Bilan^LN")
    cases = [
        (oru("E-1", report, obx(1, "NM", "2345-7^Glucose^LN", "6,1")), "OBX^1^5", "102", "valeur numérique"),
        (oru("E-2", report, obx(1, "NM", "2345-7^Glucose^LN", "6.1", status="")), "OBX^1^11", "101", "statut"),
        (oru("E-3", report, obx(1, "NM", "2345-7^Glucose^LN", "6.1", flags="ZZ")), "OBX^1^8^1^1", "103", "interprétation"),
        (oru("E-4", report, obx(1, "RP", "2345-7^Glucose^LN", "x")), "OBX^1^2", "103", "type de valeur"),
        (oru("E-5", obx(1, "NM", "2345-7^Glucose^LN", "6.1"), report), "OBX^1", "100", "avant tout segment OBR"),
        (oru("E-6", obr(1, "", "24323-8^Bilan^LN"), obx(1, "NM", "2345-7^Glucose^LN", "6.1")), "OBR^1^3", "101",
         "numéro de demande"),
        (oru("E-7", report, obx(1, "NM", "2345-7^Glucose^LN", "6.1", when="20240231")), "OBX^1^14", "102", "impossible"),
        # Results of the second OBR are wrong: the first one is not kept either (all or nothing).
        (oru("E-8", report, obx(1, "NM", "2345-7^Glucose^LN", "6.1"), obr(2, "F301", "2951-2^Na^LN"),
             obx(1, "NM", "2951-2^Sodium^LN", "abc")), "OBX^2^5", "102", "valeur numérique"),
    ]
    for raw, erl, code, words in cases:
        fields = send(feed, raw)
        assert (fields["msa1"], fields["err2"], fields["err3"]) == ("AE", erl, code), fields
        assert words in fields["err8"]
    twice = oru("E-10", report, obx(1, "NM", "2345-7^Glucose^LN", "6.1"), obr(2, "F300", "2951-2^Na^LN"),
                obx(1, "NM", "2951-2^Sodium^LN", "140"))
    fields = send(feed, twice)
    assert (fields["msa1"], fields["err2"], fields["err3"]) == ("AE", "OBR^2^3^1^1", "205")
    unknown = oru("E-9", report, obx(1, "NM", "2345-7^Glucose^LN", "6.1")).replace(
        f"&{CHU}&M^PI".encode(), f"&{UNKNOWN}&M^PI".encode())
    fields = send(feed, unknown)
    assert (fields["msa1"], fields["err2"], fields["err3"]) == ("AE", "PID^1^3^1^4", "204")
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Resource)) == 0
