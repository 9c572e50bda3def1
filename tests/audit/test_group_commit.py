"""The trace's group commit (ght.audit.group_commit, PostgreSQL): concurrent requests' entries
share commits, each request returns only once its own entries are committed, the rows are those
ght.audit.trail writes, a request whose entry the database refuses fails alone, and the chain
seals and verifies over them as over any other entries."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ght.audit.chain import seal_all
from ght.audit.group_commit import GroupCommitTrail
from ght.audit.models import AuditEntry
from ght.audit.trail import record_many
from ght.audit.verify import verify


COLUMNS = [c.name for c in AuditEntry.__table__.columns if c.name not in ("id", "chain_seq", "previous_hash", "entry_hash")]


@pytest.fixture
def postgres(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the group commit runs on the event loop with psycopg (PostgreSQL); SQLite's reads trace in a thread")
    return engine


def run(engine, work):
    """`work(trail)` with a started writer, stopped after."""

    async def main():
        trail = GroupCommitTrail(engine.url.render_as_string(hide_password=False), engine.dialect)
        await trail.start()
        try:
            return await work(trail), trail
        finally:
            await trail.stop()

    return asyncio.run(main())


def rows(db, **where):
    db.expire_all()
    query = select(*(getattr(AuditEntry, c) for c in COLUMNS)).order_by(AuditEntry.id)
    for name, value in where.items():
        query = query.where(getattr(AuditEntry, name) == value)
    return [tuple(r) for r in db.execute(query)]


def test_concurrent_requests_share_commits_and_each_waits_for_its_own(postgres, db, event):
    start = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    requests = [[event(ght_patient_id=f"P{i:04d}", resources=(f"Observation/{i}-{j}",),
                            recorded_at=start + timedelta(milliseconds=i), account="async")
                 for j in range(1 + i % 3)] for i in range(300)]
    not_yet_committed = []

    async def work(trail):
        import psycopg

        # Another connection, as another server would see the trace: a request that went on
        # must find its entries committed there.
        async with await psycopg.AsyncConnection.connect(trail.conninfo, autocommit=True) as other:
            async def one(events):
                await trail.append(events)
                cursor = await other.execute("SELECT count(*) FROM audit_entry WHERE ght_patient_id = %s",
                                             (events[0].ght_patient_id,))
                if (await cursor.fetchone())[0] != len(events):
                    not_yet_committed.append(events[0].ght_patient_id)

            await asyncio.gather(*(one(events) for events in requests))

    _, trail = run(postgres, work)
    total = sum(len(e) for e in requests)
    assert trail.entries == total
    assert 1 <= trail.commits < len(requests)  # grouped: fewer commits than requests
    assert not_yet_committed == []
    written = rows(db, account="async")
    assert len(written) == total
    # The same rows as the synchronous trail writes for the same events.
    record_many(db, [replace(event, account="sync") for events in requests for event in events])
    db.commit()
    expected = [tuple("async" if c == "account" else v for c, v in zip(COLUMNS, row, strict=True))
                for row in rows(db, account="sync")]
    assert sorted(written, key=repr) == sorted(expected, key=repr)


def test_a_request_whose_entry_is_refused_fails_alone(postgres, db, event):
    async def work(trail):
        good = [trail.append([event(ght_patient_id=f"G{i}", account="batch")]) for i in range(20)]
        bad = trail.append([event(account="x" * 65)])  # account is VARCHAR(64)
        return await asyncio.gather(*good[:10], bad, *good[10:], return_exceptions=True)

    outcomes, _ = run(postgres, work)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failures) == 1 and "64" in str(failures[0])
    assert outcomes.index(failures[0]) == 10
    assert len(rows(db, account="batch")) == 20


def test_stop_writes_what_is_queued_and_the_chain_verifies(postgres, db, event):
    async def work(trail):
        tasks = [asyncio.create_task(trail.append([event(ght_patient_id=f"S{i}")])) for i in range(50)]
        await asyncio.sleep(0)  # queued, not necessarily committed: stop must write them
        return tasks

    tasks, trail = run(postgres, work)
    assert all(t.done() and t.exception() is None for t in tasks)
    assert db.scalar(select(func.count()).select_from(AuditEntry)) == 50
    seal_all(db)
    db.commit()
    report = verify(db)
    assert report.intact and report.checked == 50
