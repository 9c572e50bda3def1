"""Purge past the retention period: the old entries go, the rest stays verifiable, and the
anchors that make it so cannot be forged, changed or removed unnoticed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from ght.audit.chain import ENTRIES, GENESIS, anchor_hash
from ght.audit.models import AuditAnchor, AuditEntry
from ght.audit.purge import PurgeRefused, months_before, purge
from ght.audit.trail import record
from ght.audit.verify import BreakKind, verify

OLD = datetime(2020, 1, 1, tzinfo=UTC)
CUTOFF = datetime(2021, 1, 1, tzinfo=UTC)


def kinds(report) -> list[BreakKind]:
    return [found.kind for found in report.breaks]


def run_purge(db, before=CUTOFF):
    result = purge(db, before, "cli:exploitant", retention_months=6)
    db.commit()
    return result


def test_purge_deletes_old_entries_and_keeps_the_chain_verifiable(db, sealed):
    sealed(10, start=OLD)
    recent = sealed(5)[10:]  # chain_seq 11 to 15
    result = run_purge(db)
    assert result.purged == 10
    assert db.scalar(select(func.count()).where(AuditEntry.recorded_at < CUTOFF)) == 0
    kept = db.execute(select(AuditEntry.id, AuditEntry.chain_seq, AuditEntry.action).order_by(AuditEntry.chain_seq)).all()
    assert [row.id for row in kept[:5]] == [e.id for e in recent]
    assert kept[-1].action == "purge" and kept[-1].chain_seq == 16  # the purge's own entry, sealed
    anchor = result.anchor
    assert (anchor.chain_seq, anchor.purged_count, anchor.purged_by) == (11, 10, "cli:exploitant")
    assert anchor.previous_hash == recent[0].previous_hash
    assert anchor.previous_anchor_hash == GENESIS
    report = verify(db)
    assert report.intact, report.breaks
    assert (report.start_seq, report.checked, report.anchors) == (11, 6, 1)


def test_successive_purges_chain_their_anchors(db, sealed):
    sealed(4, start=OLD)
    sealed(8, start=datetime(2020, 7, 1, tzinfo=UTC))
    sealed(11)
    first = run_purge(db, datetime(2020, 6, 1, tzinfo=UTC)).anchor
    second = run_purge(db, CUTOFF).anchor
    assert (first.chain_seq, first.purged_count) == (5, 4)
    assert (second.id, second.previous_anchor_hash) == (2, first.anchor_hash)
    assert (second.chain_seq, second.purged_count) == (13, 8)
    report = verify(db)
    assert report.intact, report.breaks
    assert report.anchors == 2


def test_purge_of_everything_anchors_after_the_head(db, sealed):
    entries = sealed(5, start=OLD)
    result = run_purge(db)
    assert result.purged == 5 and result.anchor.chain_seq == 6
    assert result.anchor.previous_hash == entries[-1].entry_hash
    assert db.scalars(select(AuditEntry.action)).all() == ["purge"]
    assert verify(db).intact


def test_nothing_old_enough_means_no_anchor(db, sealed):
    sealed(3)
    result = run_purge(db)
    assert (result.purged, result.anchor) == (0, None)
    assert db.scalar(select(func.count()).select_from(AuditAnchor)) == 0
    assert db.scalar(select(func.count()).select_from(AuditEntry)) == 3


def test_purge_seals_pending_entries_first(db, event):
    record(db, event(recorded_at=OLD))
    record(db, event())
    db.commit()
    assert run_purge(db).purged == 1
    assert db.scalar(select(func.count()).where(AuditEntry.chain_seq.is_(None))) == 0
    assert verify(db).intact


def test_purge_within_the_retention_period_is_refused(db, sealed):
    sealed(3, start=OLD)
    now = datetime(2026, 8, 31, 12, tzinfo=UTC)
    with pytest.raises(PurgeRefused, match="la trace se conserve 6 mois : la date de coupure doit être au plus tard "
                                           "le 2026-02-28 12:00 UTC"):
        purge(db, datetime(2026, 3, 1, tzinfo=UTC), "cli:exploitant", retention_months=6, now=now)
    db.rollback()
    assert db.scalar(select(func.count()).select_from(AuditEntry)) == 3


def test_purge_across_a_break_is_refused(db, sealed):
    """Purging up to a broken link would erase the evidence and certify what follows."""
    entries = sealed(4, start=OLD)
    sealed(6)
    db.execute(delete(ENTRIES).where(ENTRIES.c.id == entries[-1].id))  # the last entry to purge
    db.commit()
    with pytest.raises(PurgeRefused, match="la chaîne est rompue au chain_seq 5"):
        run_purge(db)
    db.rollback()
    assert db.scalar(select(func.count()).select_from(AuditAnchor)) == 0


def test_forged_anchor_hiding_a_deletion_is_detected(db, sealed):
    """Delete the start of the chain and write a well-formed anchor by hand: no purge entry
    attests it, so verify reports it (and only it: the chain after it is intact)."""
    entries = sealed(8)
    db.execute(delete(ENTRIES).where(ENTRIES.c.chain_seq < 5))
    forged = AuditAnchor(id=1, created_at=datetime.now(UTC), chain_seq=5, previous_hash=entries[4].previous_hash,
                         cutoff=datetime.now(UTC), purged_count=4, purged_by="cli:exploitant",
                         previous_anchor_hash=GENESIS)
    forged.anchor_hash = anchor_hash(GENESIS, forged)
    db.add(forged)
    db.commit()
    report = verify(db)
    assert kinds(report) == [BreakKind.ANCHOR]
    assert "aucune entrée de purge scellée ne l'atteste" in report.breaks[0].message


@pytest.fixture
def purged(db, sealed):
    """4 old entries purged, 10 recent ones kept (chain_seq 5 to 14): the entries before the purge."""
    sealed(4, start=OLD)
    entries = sealed(10)
    run_purge(db)
    return entries


def test_modified_anchor_is_detected(db, purged):
    db.execute(update(AuditAnchor).values(purged_count=1))
    db.commit()
    report = verify(db)
    assert kinds(report) == [BreakKind.ANCHOR]
    assert "modifiée" in report.breaks[0].message


def test_anchor_moved_forward_to_hide_more_deletions_is_detected(db, purged):
    db.execute(delete(ENTRIES).where(ENTRIES.c.chain_seq < 7))
    db.execute(update(AuditAnchor).values(chain_seq=7, previous_hash=purged[6].previous_hash))
    db.commit()
    assert BreakKind.ANCHOR in kinds(verify(db))


def test_removed_anchor_is_detected(db, purged):
    db.execute(delete(AuditAnchor))
    db.commit()
    report = verify(db)
    assert kinds(report) == [BreakKind.DELETED]  # verify starts again at 1: the purged entries are missing
    assert report.breaks[0].message.startswith("chain_seq 1 à 4 : entrée(s) supprimée(s)")


def test_anchor_inserted_between_two_real_ones_is_detected(db, sealed):
    sealed(4, start=OLD)
    sealed(6, start=datetime(2020, 7, 1, tzinfo=UTC))
    sealed(12)
    run_purge(db, datetime(2020, 6, 1, tzinfo=UTC))
    run_purge(db)
    first = db.get(AuditAnchor, 1)
    db.execute(update(AuditAnchor).where(AuditAnchor.id == 2).values(id=4))  # the real second one comes last
    forged = AuditAnchor(id=3, created_at=first.created_at, chain_seq=5, previous_hash=first.previous_hash,
                         cutoff=first.cutoff, purged_count=0, purged_by="x", previous_anchor_hash=first.anchor_hash)
    forged.anchor_hash = anchor_hash(first.anchor_hash, forged)
    db.add(forged)
    db.commit()
    report = verify(db)
    assert kinds(report) == [BreakKind.ANCHOR]
    assert "ancre de purge n° 4 (chain_seq 11) : ne suit pas l'ancre précédente" in report.breaks[0].message


@pytest.mark.parametrize(("moment", "months", "expected"), [
    (datetime(2026, 8, 31, 12, tzinfo=UTC), 6, datetime(2026, 2, 28, 12, tzinfo=UTC)),
    (datetime(2024, 3, 31, tzinfo=UTC), 1, datetime(2024, 2, 29, tzinfo=UTC)),
    (datetime(2026, 1, 15, 8, tzinfo=UTC), 6, datetime(2025, 7, 15, 8, tzinfo=UTC)),
    (datetime(2026, 6, 30, tzinfo=UTC), 18, datetime(2024, 12, 30, tzinfo=UTC)),
])
def test_months_before_is_calendar_months(moment, months, expected):
    assert months_before(moment, months) == expected
    assert moment - months_before(moment, months) > timedelta(days=27 * months)
