"""A refusal inside a batch or transaction Bundle, after an entry has already written: found by
fuzzing (tests/api/test_fuzz_openapi.py), the refusal's trace entry, written on a connection of
its own, waited on SQLite for the write lock of the Bundle's transaction until the lock timeout,
and the request answered 500. The refusal is now traced once the transaction has ended
(ght.access.gate.Gate.refusals_after): the answer is the refusal's, and it is still traced."""

from __future__ import annotations

from sqlalchemy import select

from ght.audit.models import AuditEntry
from support import trace_count

from access.conftest import CHU, observation


def _organization(value: str) -> dict:
    return {"resource": {"resourceType": "Organization", "name": "Pharmacie (fictive)",
                         "identifier": [{"system": "urn:t", "value": value}]},
            "request": {"method": "POST", "url": "Organization", "ifNoneExist": f"identifier=urn:t|{value}"}}


def _bundle(kind: str, territory) -> dict:
    # The DSI writes the directory, never the clinical record: the first entry is written (a
    # conditional create is applied at once), the second refused.
    return {"resourceType": "Bundle", "type": kind, "entry": [
        _organization(kind),
        {"resource": observation(str(territory.marie_chu), CHU), "request": {"method": "POST", "url": "Observation"}},
    ]}


def _refusals(db) -> list[AuditEntry]:
    db.rollback()
    return list(db.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied", AuditEntry.account == "dsi")))


def test_refusal_in_a_transaction_after_a_write_answers_403_and_is_traced(territory, db):
    before = trace_count(db)
    answer = territory.client("dsi").post("/fhir", json=_bundle("transaction", territory))
    assert answer.status_code == 403, answer.text
    assert answer.json()["issue"][0]["diagnostics"].endswith("rôle sans accès au contenu clinique")
    refusals = _refusals(db)
    assert len(refusals) == 1 and refusals[0].ght_patient_id == territory.marie
    assert trace_count(db) == before + 1  # the refusal only: the transaction left nothing


def test_refusal_in_a_batch_after_a_write_answers_per_entry_and_is_traced(territory, db):
    answer = territory.client("dsi").post("/fhir", json=_bundle("batch", territory))
    assert answer.status_code == 200, answer.text
    assert [e["response"]["status"] for e in answer.json()["entry"]] == ["201", "403"]
    refusals = _refusals(db)
    assert len(refusals) == 1 and refusals[0].ght_patient_id == territory.marie
