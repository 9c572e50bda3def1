"""Patient movements (PAM FR ITI-31 with ZBE) into Encounter resources on a real database:
the shape of the Encounter, a whole stay, cancellations undone exactly (as new versions),
refusals located at their segment and field, repeats, and the end-to-end path from an MLLP
socket to FHIR searches on a live server (movements, with a result and a document)."""

import base64

import pytest
from fhir.resources.R4B.encounter import Encounter
from sqlalchemy import func, select

from ght.directory.vocab import Role
from ght.identity.models import LocalIdentity
from ght.interop.fhir.outcome import FhirError
from ght.interop.hl7v2.feed import Feed
from ght.interop.hl7v2.models import Hl7Message
from ght.interop.hl7v2.server import BackgroundListener
from ght.record import search, store
from ght.record.models import Resource
from interop.hl7_samples import (  # noqa: F401  (feed: a fixture)
    feed,
    send,
    CHU,
    MINIMAL_PDF,
    RPPS_DUVAL,
    RPPS_UNKNOWN,
    UF_CARDIO,
    UF_REA,
    ack_fields,
    add_directory,
    ed,
    exchange,
    mdm,
    message,
    movement,
    obr,
    obx,
    oru,
    pid,
    pv1,
    txa,
    xcn,
)
from support import PASSWORD, grant_record, last_entries, trace_count

ENCOUNTER_ID = f"{CHU}-NDA001"
DUVAL = xcn(RPPS_DUVAL, "DUVAL", "Jean")
MARTIN = xcn(RPPS_UNKNOWN, "MARTIN", "Luc")


def current(db) -> dict | None:
    db.expire_all()
    row = store.current(db, "Encounter", ENCOUNTER_ID)
    return None if row is None or row.deleted else row.body


def content(body: dict) -> dict:
    """A body without the version bookkeeping, to compare contents across versions."""
    meta = {k: v for k, v in body["meta"].items() if k not in ("versionId", "lastUpdated")}
    return {**body, "meta": meta}


def versions(db) -> list[dict | None]:
    db.expire_all()
    return [v.body for v in reversed(store.instance_history(db, "Encounter", ENCOUNTER_ID))]


def marie_id(db) -> int:
    db.expire_all()
    return db.scalar(select(LocalIdentity.id).where(LocalIdentity.ipp == "100234"))


def admit(feed, control_id="M-1", movement_id="MV1", **extra):
    fields = dict(uf=UF_CARDIO, uf_label="Cardiologie", point=UF_CARDIO, room="12", bed="1", attending=DUVAL,
                  consulting=MARTIN, admitted="202403011000")
    return send(feed, movement("A01", control_id, movement_id, "202403011000", **{**fields, **extra}))


def test_admission_creates_the_encounter_in_the_territory_shape(feed, db):
    assert admit(feed) == {"msa1": "AA", "msa2": "M-1"}
    body = current(db)
    Encounter.model_validate(body)
    assert body["id"] == ENCOUNTER_ID
    assert body["meta"]["source"] == f"urn:finess:{CHU}"
    assert {"system": f"urn:finess:{CHU}:movement", "code": "MV1", "display": "A01"} in body["meta"]["tag"]
    assert body["identifier"] == [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                        "code": "VN"}]},
                                   "system": f"urn:finess:{CHU}:nda", "value": "NDA001"}]
    assert (body["status"], body["class"]["code"]) == ("in-progress", "IMP")
    assert body["subject"] == {"reference": f"Patient/{marie_id(db)}"}
    assert body["period"] == {"start": "2024-03-01T10:00:00+01:00"}
    assert body["serviceProvider"]["reference"] == f"Organization/ej-{CHU}"
    attending, consulting = body["participant"]
    assert attending["type"][0]["coding"][0]["code"] == "ATND"
    assert attending["individual"] == {"reference": f"Practitioner/pr-{RPPS_DUVAL}", "display": "Dr Jean DUVAL",
                                       "identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1",
                                                      "value": f"8{RPPS_DUVAL}"}}
    # Not in the directory: an identifier-only reference, never a dangling Practitioner id.
    assert consulting["type"][0]["coding"][0]["code"] == "CON"
    assert consulting["individual"] == {"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1",
                                                       "value": f"8{RPPS_UNKNOWN}"}, "display": "Dr Luc MARTIN"}
    unit, bed = body["location"]
    assert unit == {"location": {"reference": f"Location/uf-{CHU}-{UF_CARDIO}", "display": "Cardiologie"},
                    "status": "active", "period": {"start": "2024-03-01T10:00:00+01:00"}}
    assert bed["location"] == {"identifier": {"system": f"urn:finess:{CHU}:lit", "value": f"{UF_CARDIO}/12/1"},
                               "display": "chambre 12 lit 1"}
    # The identity was recorded first, in the same transaction, and the journal says what was done.
    db.expire_all()
    [row] = db.scalars(select(Hl7Message))
    assert row.result.startswith("identity ") and f"encounter {ENCOUNTER_ID} v1 A01 MV1" in row.result


def test_a_whole_stay_then_cancellations_restore_each_previous_state(feed, db):
    admit(feed)
    steps = [
        movement("A02", "M-2", "MV2", "202403021000", uf=UF_REA, attending=MARTIN),
        movement("A21", "M-3", "MV3", "202403031000"),
        movement("A22", "M-4", "MV4", "202403031800"),
        movement("A03", "M-5", "MV5", "202403051000", discharged="202403051030"),
    ]
    for raw in steps:
        assert send(feed, raw)["msa1"] == "AA"
    stay = current(db)
    Encounter.model_validate(stay)
    assert stay["status"] == "finished"
    assert stay["period"] == {"start": "2024-03-01T10:00:00+01:00", "end": "2024-03-05T10:30:00+01:00"}
    assert [(e["location"].get("reference"), e["status"], e["period"]) for e in stay["location"]] == [
        (f"Location/uf-{CHU}-{UF_CARDIO}", "completed",
         {"start": "2024-03-01T10:00:00+01:00", "end": "2024-03-02T10:00:00+01:00"}),
        (None, "completed", {"start": "2024-03-01T10:00:00+01:00", "end": "2024-03-02T10:00:00+01:00"}),
        (f"Location/uf-{CHU}-{UF_REA}", "completed",
         {"start": "2024-03-02T10:00:00+01:00", "end": "2024-03-05T10:30:00+01:00"}),
    ]
    assert stay["statusHistory"] == [
        {"status": "in-progress", "period": {"start": "2024-03-01T10:00:00+01:00", "end": "2024-03-03T10:00:00+01:00"}},
        {"status": "onleave", "period": {"start": "2024-03-03T10:00:00+01:00", "end": "2024-03-03T18:00:00+01:00"}},
    ]
    # The transfer named a new attending physician; the consultant is kept.
    assert [(p["type"][0]["coding"][0]["code"], p["individual"]["display"]) for p in stay["participant"]] == [
        ("ATND", "Dr Luc MARTIN"), ("CON", "Dr Luc MARTIN")]
    before = versions(db)
    assert len(before) == 5

    # Cancel the discharge, the return, the leave, the transfer: each restores the state before it.
    cancels = [("A13", "MV5", 4), ("A53", "MV4", 3), ("A52", "MV3", 2), ("A12", "MV2", 1)]
    for number, (event, movement_id, restored) in enumerate(cancels, start=6):
        fields = send(feed, movement(event, f"C-{number}", movement_id, "202403061000"))
        assert fields["msa1"] == "AA", fields
        now = versions(db)
        assert len(now) == number  # a new version each time: history is kept, never rewritten
        assert content(now[-1]) == content(before[restored - 1])
    assert versions(db)[:5] == before
    assert current(db)["status"] == "in-progress" and len(current(db)["location"]) == 2


def test_cancelling_the_admission_deletes_the_encounter_kept_in_history(feed, db):
    admit(feed)
    assert send(feed, movement("A11", "C-1", "MV1", "202403011100"))["msa1"] == "AA"
    with pytest.raises(FhirError) as gone:
        store.read(db, "Encounter", ENCOUNTER_ID)
    assert gone.value.status == 410
    history = store.instance_history(db, "Encounter", ENCOUNTER_ID)
    assert [(v.version, v.method, v.deleted) for v in history] == [(2, "DELETE", True), (1, "POST", False)]
    # The same cancellation under another control id: nothing left to undo, no new version.
    again = send(feed, movement("A11", "C-2", "MV1", "202403011100"))
    assert again["msa1"] == "AA"
    assert len(store.instance_history(db, "Encounter", ENCOUNTER_ID)) == 2
    # A new admission of the same visit brings it back.
    assert admit(feed, "M-9", "MV9")["msa1"] == "AA"
    assert current(db)["status"] == "in-progress"


def test_outpatient_visit_class_changes_and_update_of_the_current_movement(feed, db):
    assert send(feed, movement("A04", "O-1", "MV1", "202403011000", klass="O", uf=UF_CARDIO))["msa1"] == "AA"
    assert current(db)["class"]["code"] == "AMB"
    assert send(feed, movement("A06", "O-2", "MV2", "202403011200", uf=UF_REA))["msa1"] == "AA"
    assert current(db)["class"]["code"] == "IMP"
    # ZBE-4 UPDATE: the current movement was to cardiology, not intensive care.
    fixed = send(feed, movement("A06", "O-3", "MV2", "202403011200", action="UPDATE", uf=UF_CARDIO, original="A06"))
    assert fixed["msa1"] == "AA", fixed
    body = current(db)
    assert [(e["location"]["reference"], e["status"]) for e in body["location"]] == [
        (f"Location/uf-{CHU}-{UF_CARDIO}", "completed"), (f"Location/uf-{CHU}-{UF_CARDIO}", "active")]
    assert body["class"]["code"] == "IMP"
    assert send(feed, movement("A07", "O-4", "MV3", "202403021200", klass="O"))["msa1"] == "AA"
    assert current(db)["class"]["code"] == "AMB"
    # An old movement can be neither updated nor cancelled.
    stale = send(feed, movement("A06", "O-5", "MV2", "202403011200", action="UPDATE", uf=UF_REA, original="A06"))
    assert (stale["msa1"], stale["err2"], stale["err3"]) == ("AE", "ZBE^1^1^1^1", "204")
    assert "seul le dernier mouvement" in stale["err8"]
    # A cancellation must be of the kind of the movement it cancels (A12 a transfer, A52 a leave).
    assert send(feed, movement("A12", "O-6", "MV3", "202403021300"))["err3"] == "103"
    assert send(feed, movement("A52", "O-7", "MV3", "202403021300"))["err3"] == "103"


def test_refusals_point_at_segment_and_field_and_write_nothing(feed, db):
    no_zbe = message("A02", "E-1", pid(), pv1("NDA001")).encode()
    cases = [
        (no_zbe, "ZBE^1", "100", "segment ZBE absent"),
        (movement("A02", "E-2", "MV2", "202403021000", nda="", uf=UF_REA), "PV1^1^19", "101", "NDA"),
        (movement("A02", "E-3", "MV2", "2024-03-02", uf=UF_REA), "ZBE^1^2", "102", "date du mouvement"),
        (movement("A02", "E-4", "MV2", "202403021000"), "ZBE^1^7^1^10", "101", "UF médicale"),
        (movement("A02", "E-5", "MV2", "202403021000", uf=UF_REA, klass="Z"), "PV1^1^2", "103", "classe"),
        (movement("A12", "E-6", "MV7", "202403021000"), "ZBE^1^1^1^1", "204", "inconnu"),
        (movement("A01", "E-7", "MV1", "202403021000", action="DELETE"), "ZBE^1^4", "103", "action"),
    ]
    for raw, erl, code, words in cases:
        fields = send(feed, raw)
        assert (fields["msa1"], fields["err2"], fields["err3"]) == ("AE", erl, code), fields
        assert words in fields["err8"]
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Resource)) == 0
    # The refused A01 recorded no identity either: one transaction for identity and movement.
    assert marie_id(db) is None
    assert [row.status for row in db.scalars(select(Hl7Message).order_by(Hl7Message.id))] == ["rejected"] * 7


def test_repeats_change_nothing(feed, db):
    raw = movement("A01", "R-1", "MV1", "202403011000", uf=UF_CARDIO, attending=DUVAL)
    first = feed.receive(raw)
    again = feed.receive(raw)  # same MSH-10: the stored ACK
    assert again.duplicate and again.ack == first.ack
    # The same movement under a new control id (a sender that lost our ACK and renumbered).
    assert send(feed, movement("A01", "R-2", "MV1", "202403011000", uf=UF_CARDIO, attending=DUVAL))["msa1"] == "AA"
    assert len(versions(db)) == 1
    assert send(feed, movement("A02", "R-3", "MV2", "202403021000", uf=UF_REA))["msa1"] == "AA"
    # An older movement sent again once a later one is in force: acknowledged, not re-applied.
    assert send(feed, movement("A01", "R-4", "MV1", "202403011000", uf=UF_CARDIO, attending=DUVAL))["msa1"] == "AA"
    assert len(versions(db)) == 2 and current(db)["meta"]["tag"][0]["code"] == "MV2"


def test_identity_only_admissions_are_kept_and_search_finds_the_encounter(feed, db):
    # A sender without ZBE nor PV1-19 (identity feed only): the admission records the identity.
    assert send(feed, message("A01", "I-1", pid(ipp="300")).encode()).get("msa1") == "AA"
    admit(feed)
    query = search.compile_query(db, "Encounter", [("patient", str(marie_id(db))),
                                                   ("identifier", f"urn:finess:{CHU}:nda|NDA001")], lenient=False)
    total, rows = search.run(db, query)
    assert total == 1 and rows[0].fhir_id == ENCOUNTER_ID
    located = search.compile_query(db, "Encounter", [("location", f"Location/uf-{CHU}-{UF_CARDIO}"),
                                                     ("practitioner", f"Practitioner/pr-{RPPS_DUVAL}")], lenient=False)
    assert search.run(db, located)[0] == 1


def test_movements_over_mllp_are_read_back_through_fhir_search(engine, db, live_server, make_account):
    add_directory(db)
    grant_record(db, make_account("soignant", roles=(Role.CLINICIAN,)))
    with BackgroundListener(Feed(engine)) as listener:
        admitted = exchange(listener.port, movement(
            "A01", "NET-1", "MV1", "202403011000", uf=UF_CARDIO, uf_label="Cardiologie", attending=DUVAL))
        moved = exchange(listener.port, movement("A02", "NET-2", "MV2", "202403021000", uf=UF_REA))
        lab = exchange(listener.port, oru("NET-3", obr(1, "F9", "2345-7^Glucose^LN"),
                                          obx(1, "NM", "2345-7^Glucose^LN", "5.5", unit="mmol/L")))
        letter = exchange(listener.port, mdm("NET-4", txa("DOC-9"), ed(MINIMAL_PDF)))
    assert [ack_fields(a)["msa1"] for a in (admitted, moved, lab, letter)] == ["AA"] * 4
    # Each message's writes are traced, in its own transaction, as the sending system.
    hl7 = [e for e in last_entries(db, trace_count(db)) if e.door == "hl7"]
    assert all(e.outcome == "allowed" and e.account.startswith("hl7:") for e in hl7)
    patient = db.get(LocalIdentity, marie_id(db)).patient_id
    assert [(e.action, e.ght_patient_id) for e in hl7] == [
        ("create", patient), ("update", patient), ("create", patient),
        ("create", None),  # the document's Binary, written before the DocumentReference that attaches it
        ("create", patient)]
    assert "Encounter/" + ENCOUNTER_ID in hl7[0].resources and "Binary/" in hl7[3].resources
    with live_server.client() as http:
        token = http.post("/auth/token", data={"username": "soignant", "password": PASSWORD}).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        answer = http.get("/fhir/Encounter", params={"patient": str(marie_id(db))})
        assert answer.status_code == 200, answer.text
        [entry] = answer.json()["entry"]
        encounter = entry["resource"]
        assert encounter["id"] == ENCOUNTER_ID and encounter["meta"]["versionId"] == "2"
        assert [e["location"]["reference"] for e in encounter["location"]] == [
            f"Location/uf-{CHU}-{UF_CARDIO}", f"Location/uf-{CHU}-{UF_REA}"]
        history = http.get(f"/fhir/Encounter/{ENCOUNTER_ID}/_history")
        assert history.status_code == 200 and history.json()["total"] == 2
        observations = http.get("/fhir/Observation", params={"patient": str(marie_id(db)),
                                                             "code": "http://loinc.org|2345-7"}).json()
        assert [e["resource"]["valueQuantity"]["value"] for e in observations["entry"]] == [5.5]
        [document] = http.get("/fhir/DocumentReference", params={"encounter": f"Encounter/{ENCOUNTER_ID}"}).json()["entry"]
        url = document["resource"]["content"][0]["attachment"]["url"]
        native = http.get(f"/fhir/{url}")  # a Binary is served as its own content
        assert (native.status_code, native.headers["content-type"], native.content) == (
            200, "application/pdf", MINIMAL_PDF)
        binary = http.get(f"/fhir/{url}", headers={"Accept": "application/fhir+json"})
        assert base64.b64decode(binary.json()["data"]) == MINIMAL_PDF
