"""The trace's chain: appends, sealing, and verify finding every kind of tampering."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, insert, select, update

from ght.audit.chain import CONTENT, ENTRIES, HEAD, entry_hash, read_head, seal, seal_all
from ght.audit.models import AuditEntry
from ght.audit.sealer import run_sealer, seal_pending
from ght.audit.trail import AccessEvent, record, record_many
from ght.audit.verify import BreakKind, verify
from ght.db.engine import session_factory


def kinds(report) -> list[BreakKind]:
    return [found.kind for found in report.breaks]


def test_append_is_one_unsealed_row_and_sealing_chains_it(db, event, read_chain):
    record(db, event(recorded_at=datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)))
    assert record_many(db, [event(action="search"), event(outcome="denied", reason="hors équipe de soins")]) == 2
    db.commit()
    rows = db.execute(select(AuditEntry.chain_seq, AuditEntry.entry_hash, AuditEntry.recorded_at,
                             AuditEntry.resources).order_by(AuditEntry.id)).all()
    assert [(r.chain_seq, r.entry_hash) for r in rows] == [(None, None)] * 3
    assert rows[0].recorded_at == datetime(2026, 3, 1, 8, 30, 15, 123000, tzinfo=UTC)  # milliseconds kept
    assert rows[0].resources == '["Observation/12","Observation/13"]'

    assert seal(db) == 3
    db.commit()
    entries = read_chain()
    assert [e.chain_seq for e in entries] == [1, 2, 3]
    assert entries[0].previous_hash == "0" * 64
    assert [e.previous_hash for e in entries[1:]] == [e.entry_hash for e in entries[:-1]]
    assert read_head(db) == (3, entries[-1].entry_hash)
    report = verify(db)
    assert report.intact, report.breaks
    assert (report.checked, report.last_seq, report.unsealed) == (3, 3, 0)
    assert seal(db) == 0  # nothing left


def test_hash_is_the_documented_serialisation_on_every_backend(db, event, read_chain):
    """What is hashed is exactly this text, whatever the database: sorted keys, UTC milliseconds,
    `resources` as stored, the previous hash in front."""
    record(db, event(recorded_at=datetime(2026, 1, 2, 4, 4, 5, 678000, tzinfo=timezone(timedelta(hours=1))),
                     break_glass_reason="Arrêt cardiaque, patient inconscient"))
    seal(db)
    db.commit()
    entry = read_chain()[0]
    canonical = ('{"account":"c.martin","account_id":7,"action":"read","break_glass_reason":"Arrêt cardiaque, '
                 'patient inconscient","chain_seq":1,"client_address":"10.1.2.3","door":"fhir","establishment_id":null,'
                 f'"ght_patient_id":"P0001","id":{entry.id},"outcome":"allowed","purpose":"care","reason":null,'
                 '"recorded_at":"2026-01-02T03:04:05.678Z","resources":"[\\"Observation/12\\",\\"Observation/13\\"]",'
                 '"role":"clinician","rpps":"10001234565"}')
    assert entry.entry_hash == hashlib.sha256(("0" * 64 + canonical).encode()).hexdigest()


def test_unknown_codes_are_refused_before_anything_is_written(event):
    for field, value in (("action", "peek"), ("purpose", "curiosity"), ("outcome", "maybe"), ("door", "window")):
        with pytest.raises(ValueError):
            event(**{field: value})
    with pytest.raises(TypeError):
        event(resources="Observation/1")


# Every content column changed after sealing, with a value of its type.
TAMPERED = {
    "id": 999_999, "recorded_at": datetime(2020, 1, 1, tzinfo=UTC), "account": "x.intrus", "account_id": 8,
    "rpps": "10000000000", "role": "dim_physician", "establishment_id": 3, "ght_patient_id": "P9999",
    "resources": '["Observation/12"]', "action": "search", "purpose": "emergency", "outcome": "denied",
    "reason": "effacé", "door": "web", "client_address": "10.9.9.9", "break_glass_reason": "urgence vitale",
}


def test_every_content_column_is_covered():
    assert set(TAMPERED) == set(CONTENT)


@pytest.mark.parametrize("column", sorted(TAMPERED))
def test_update_of_any_content_column_is_detected(db, sealed, column):
    entries = sealed(5)
    target = entries[2]
    db.execute(update(ENTRIES).where(ENTRIES.c.id == target.id).values({column: TAMPERED[column]}))
    db.commit()
    report = verify(db)
    assert kinds(report) == [BreakKind.MODIFIED]
    assert report.breaks[0].chain_seq == 3
    assert "chain_seq 3" in report.breaks[0].message and "entrée modifiée" in report.breaks[0].message


def test_rehashed_modification_breaks_the_next_link(db, sealed):
    """Someone who also recomputes the modified entry's hash breaks the link of the next one."""
    entries = sealed(5)
    target = entries[1]
    content = [getattr(target, name) for name in CONTENT]
    content[CONTENT.index("outcome")] = "denied"
    db.execute(update(ENTRIES).where(ENTRIES.c.id == target.id)
               .values(outcome="denied", entry_hash=entry_hash(target.previous_hash, 2, content)))
    db.commit()
    report = verify(db)
    assert kinds(report) == [BreakKind.LINK]
    assert report.breaks[0].chain_seq == 3 and report.breaks[0].entry_id == entries[2].id


def test_delete_in_the_middle_is_detected(db, sealed):
    entries = sealed(6)
    db.execute(delete(ENTRIES).where(ENTRIES.c.chain_seq.in_([3, 4])))
    db.commit()
    report = verify(db)
    assert kinds(report) == [BreakKind.DELETED]
    assert report.breaks[0].chain_seq == 3
    assert "chain_seq 3 à 4 : entrée(s) supprimée(s)" in report.breaks[0].message
    assert f"id {entries[4].id}" in report.breaks[0].message


def test_delete_of_the_last_sealed_entry_is_detected(db, sealed):
    sealed(4)
    db.execute(delete(ENTRIES).where(ENTRIES.c.chain_seq == 4))
    db.commit()
    report = verify(db)
    assert kinds(report) == [BreakKind.TAIL_DELETED]
    assert "chain_seq 4 : dernière(s) entrée(s) supprimée(s)" in report.breaks[0].message


def test_forged_sealed_entry_appended_after_the_head_is_detected(db, sealed, event):
    entries = sealed(3)
    forged = {**{name: getattr(entries[0], name) for name in CONTENT}, "id": entries[-1].id + 100,
              "account": "x.intrus"}
    content = [forged[name] for name in CONTENT]
    db.execute(insert(ENTRIES).values(**forged, chain_seq=4, previous_hash=entries[-1].entry_hash,
                                      entry_hash=entry_hash(entries[-1].entry_hash, 4, content)))
    db.commit()
    report = verify(db)
    assert kinds(report) == [BreakKind.INSERTED]
    assert report.breaks[0].entry_id == entries[-1].id + 100


def test_entry_replaced_in_the_middle_is_detected(db, sealed):
    """Delete an entry and insert a well-formed forgery at its place: the next link breaks."""
    entries = sealed(4)
    victim = entries[1]
    forged = {**{name: getattr(victim, name) for name in CONTENT}, "id": victim.id + 100, "ght_patient_id": "P0002"}
    content = [forged[name] for name in CONTENT]
    db.execute(delete(ENTRIES).where(ENTRIES.c.id == victim.id))
    db.execute(insert(ENTRIES).values(**forged, chain_seq=2, previous_hash=victim.previous_hash,
                                      entry_hash=entry_hash(victim.previous_hash, 2, content)))
    db.commit()
    report = verify(db)
    assert kinds(report) == [BreakKind.LINK]
    assert report.breaks[0].chain_seq == 3


def test_head_removed_or_rewritten_is_detected(db, sealed):
    sealed(3)
    db.execute(update(HEAD).values(entry_hash="f" * 64))
    db.commit()
    assert kinds(verify(db)) == [BreakKind.HEAD]
    db.execute(delete(HEAD))
    db.commit()
    assert kinds(verify(db)) == [BreakKind.HEAD]


def test_a_published_head_survives_a_complete_rewrite(db, sealed):
    """Wiping the whole trace (head included) is only visible against a head kept elsewhere."""
    entries = sealed(3)
    published = (3, entries[-1].entry_hash)
    assert verify(db, known_heads=[published]).intact
    db.execute(delete(ENTRIES))
    db.execute(delete(HEAD))
    db.commit()
    assert verify(db).intact  # nothing left to contradict the empty trace...
    report = verify(db, known_heads=[published])  # ...but the published head
    assert kinds(report) == [BreakKind.KNOWN_HEAD]
    assert "chain_seq 3 : tête publiée introuvable" in report.breaks[0].message


def test_entries_left_unsealed_too_long_are_reported(db, event):
    now = datetime.now(UTC)
    record(db, event(recorded_at=now - timedelta(hours=1)))
    record(db, event(recorded_at=now))
    db.commit()
    report = verify(db, unsealed_after=timedelta(minutes=5), now=now)
    assert kinds(report) == [BreakKind.UNSEALED]
    assert report.unsealed == 2
    assert report.breaks[0].message.startswith("1 entrée(s) non scellée(s)")


def test_late_committed_lower_id_is_sealed_at_the_end(engine, db, event):
    """An entry whose transaction commits after a higher id was sealed is chained after it."""
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: a lower id cannot commit after a higher one")
    sessions = session_factory(engine)
    slow, fast = sessions(), sessions()
    try:
        record(slow, event(account="lent"))
        slow.flush()
        record(fast, event(account="rapide"))
        fast.commit()
        with sessions() as sealer:
            assert seal(sealer) == 1
            sealer.commit()
        slow.commit()
    finally:
        slow.close()
        fast.close()
    seal_all(db)
    db.commit()
    rows = db.execute(select(AuditEntry.account, AuditEntry.id, AuditEntry.chain_seq).order_by(AuditEntry.chain_seq)).all()
    assert [r.account for r in rows] == ["rapide", "lent"]
    assert rows[1].id < rows[0].id
    assert verify(db).intact


def test_concurrent_appends_while_sealing_leave_one_valid_chain(engine, db, event):
    sessions = session_factory(engine)
    threads, per_thread = 8, 40
    stop = threading.Event()
    sealer = threading.Thread(target=run_sealer, args=(sessions, stop), kwargs={"every": 0.01, "batch": 25})
    sealer.start()

    def append(n: int) -> None:
        with sessions() as session:
            for i in range(per_thread):
                record(session, event(account=f"t{n}", resources=(f"Observation/{n}-{i}",)))
                session.commit()

    workers = [threading.Thread(target=append, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    sealer.join(timeout=30)
    seal_pending(sessions)
    total = threads * per_thread
    assert db.scalar(select(func.count()).select_from(AuditEntry)) == total
    assert db.scalars(select(AuditEntry.chain_seq).order_by(AuditEntry.chain_seq)).all() == list(range(1, total + 1))
    report = verify(db)
    assert report.intact, report.breaks
    assert report.checked == total


def test_sealer_loop_seals_in_the_background_and_stops(engine, db, event):
    sessions = session_factory(engine)
    stop = threading.Event()
    thread = threading.Thread(target=run_sealer, args=(sessions, stop), kwargs={"every": 0.05})
    thread.start()
    try:
        with sessions() as session:
            record_many(session, [event(), event(action="update")])
            session.commit()
        deadline = time.monotonic() + 10
        while db.scalar(select(func.count()).where(AuditEntry.chain_seq.is_(None))) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert db.scalars(select(AuditEntry.chain_seq).order_by(AuditEntry.id)).all() == [1, 2]
    assert verify(db).intact


def test_verify_streams_past_one_page(db, event, monkeypatch):
    """More entries than a keyset page: every page is checked and linked to the previous one."""
    import ght.audit.verify as verify_module

    monkeypatch.setattr(verify_module, "PAGE", 7)
    record_many(db, [event(resources=(f"Observation/{i}",)) for i in range(30)])
    seal_all(db, batch=11)
    db.commit()
    assert verify(db).checked == 30
    db.execute(update(ENTRIES).where(ENTRIES.c.chain_seq == 15).values(rpps=None))
    db.commit()
    report = verify(db)
    assert report.checked == 30 and kinds(report) == [BreakKind.MODIFIED]
    assert report.breaks[0].chain_seq == 15


def test_access_event_from_a_directory_account(db, make_account):
    from ght.audit.trail import account_fields

    account = make_account("c.durand")
    fields = account_fields(account)
    assert fields == {"account": "c.durand", "account_id": account.id, "rpps": None, "role": "clinician",
                      "establishment_id": account.establishment_id}
    record(db, AccessEvent(**fields, action="login", purpose="care", outcome="allowed", door="web"))
    db.commit()
    assert db.scalar(select(AuditEntry.account_id)) == account.id


def test_entries_sealed_while_verify_walks_are_not_taken_for_forged_ones(engine, event, sealed, monkeypatch):
    import ght.audit.verify as verify_module

    sealed(5)
    with session_factory(engine)() as other:
        record_many(other, [event(), event(), event()])
        other.commit()
    walk = verify_module._walk

    def walk_then_seal(*args):
        witnessed = walk(*args)
        with session_factory(engine)() as sealer:  # the sealer runs between the walk and the head's read
            seal_all(sealer)
            sealer.commit()
        return witnessed

    monkeypatch.setattr(verify_module, "_walk", walk_then_seal)
    with session_factory(engine)() as fresh:  # no transaction yet, as in `ght audit verify`
        report = verify(fresh)
    assert report.intact, report.breaks
    # PostgreSQL reads one snapshot (the 5 entries and their head); SQLite walks on to the new head.
    assert report.checked == (5 if engine.dialect.name == "postgresql" else 8)
