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
