"""The facts read on the event loop (ght.access.async_gate, PostgreSQL) are the facts read by
every other door: same statement, same composition, compared field by field for every person of
the access territory on both patients, with an opposition, grants and a break-the-glass."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ght.access import facts as access_facts
from ght.access.async_gate import AsyncFacts
from ght.access.facts import AccessRules
from ght.access.models import AccessGrant, BreakGlass
from ght.access.subject import subject_of_account
from ght.db.async_pool import make_engine_pool
from ght.directory.models import Account
from ght.record import store

CHU = "490000031"  # the access territory's CHU (conftest)


def test_async_facts_are_the_facts_of_every_other_door(territory, db, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the event-loop path is PostgreSQL's (SQLite reads facts in the thread pool)")
    now = datetime.now(UTC)
    accounts = {a.username: a for a in db.scalars(select(Account))}
    # An opposition to sharing at the CHU, written by the CHU (a Consent whose actor is a FINESS).
    store.create(db, {
        "resourceType": "Consent", "status": "active", "meta": {"source": f"urn:finess:{CHU}"},
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{territory.marie_chu}"}, "dateTime": now.isoformat(),
        "provision": {"type": "deny", "actor": [{"role": {"coding": [{"code": "PRCP"}]},
                                                 "reference": {"reference": f"Organization/ej-{CHU}"}}]}},
        store.WriteContext(actor="test"))
    db.add_all([
        AccessGrant(account_id=accounts["outsider"].id, ght_patient_id=territory.marie, kind="record", reason="t",
                    granted_by=accounts["dpo"].id, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=1)),
        AccessGrant(account_id=accounts["dim"].id, ght_patient_id=None, kind="sensitive", reason="t",
                    granted_by=accounts["dpo"].id, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=1)),
        BreakGlass(account_id=accounts["nurse.ch"].id, ght_patient_id=territory.paul, reason="urgence vitale",
                   started_at=now - timedelta(minutes=5), expires_at=now + timedelta(hours=4)),
    ])
    db.commit()
    patients = [territory.marie, territory.paul]
    rules = AccessRules()
    pool = make_engine_pool(engine)

    async def async_facts(subject):
        return await AsyncFacts(pool, engine.dialect).load_many(subject, patients, rules, now)

    async def all_async(subjects):
        await pool.open()
        try:
            return [await async_facts(s) for s in subjects]
        finally:
            await pool.close()

    subjects = [subject_of_account(a) for a in accounts.values()]
    on_the_loop = asyncio.run(all_async(subjects))
    for subject, found in zip(subjects, on_the_loop, strict=True):
        assert found == access_facts.load_many(db, subject, patients, rules, now), subject.username
    # The cases above were really met: a relation, a will, a grant and the break-the-glass.
    by_name = dict(zip((s.username for s in subjects), on_the_loop, strict=True))
    assert by_name["doc"][territory.marie].relations
    assert by_name["doc"][territory.marie].wills
    assert by_name["outsider"][territory.marie].grants == frozenset({"record"})
    assert by_name["dim"][territory.paul].grants == frozenset({"sensitive"})
    assert by_name["nurse.ch"][territory.paul].break_glass.reason == "urgence vitale"


def test_read_by_id_statement_is_the_row_and_the_facts(territory, db, engine):
    """The read route's one statement (row and facts together, ght.access.facts.
    current_with_facts_statement) gives the row the reader gives and the facts every other door
    reads: a result of Marie's (with the CH stay that relates `doc` to her), a deleted one, a
    resource of no patient and an unknown id."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the event-loop path is PostgreSQL's")
    from ght.record.reader import PostgresReader

    now = datetime.now(UTC)
    context = store.WriteContext(actor="test")
    gone = store.create(db, {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                             "subject": {"reference": f"Patient/{territory.marie_ch}"}}, context).body["id"]
    store.remove(db, "Observation", gone, context=context)
    nobody = store.create(db, {"resourceType": "Organization", "name": "Labo"}, context).body["id"]
    db.commit()
    rules = AccessRules()
    pool = make_engine_pool(engine)
    subjects = [subject_of_account(a) for a in db.scalars(select(Account))]
    wanted = [("Observation", territory.result_ch), ("Encounter", territory.stay_ch), ("Observation", gone),
              ("Organization", nobody), ("Observation", "unknown")]

    async def both():
        await pool.open()
        try:
            reader, facts = PostgresReader(pool), AsyncFacts(pool, engine.dialect)
            return [(await reader.current(t, i), await facts.current(s, t, i, rules, now))
                    for s in subjects for t, i in wanted]
        finally:
            await pool.close()

    results = asyncio.run(both())
    for (subject, (resource_type, fhir_id)), (alone, (row, facts)) in zip(
            ((s, w) for s in subjects for w in wanted), results, strict=True):
        assert row == alone, (resource_type, fhir_id)
        patient = row.ght_patient_id if row is not None else None
        expected = access_facts.load_many(db, subject, [patient], rules, now) if patient else {}
        assert facts == expected, (subject.username, resource_type, fhir_id)
    assert results[1][0].deleted is False and results[2][0].deleted is True
    assert results[3][0].ght_patient_id is None and results[4][0] is None
    assert any(f[territory.marie].relations for _, (_, f) in results if territory.marie in f)
