"""Verification of the trace: walks the chain and reports every break, in French.

The walk reads the chain by `chain_seq` in keyset pages (constant memory, one index range
per page), recomputes each hash and checks each link. It starts at the latest purge anchor,
after checking that the anchors form their own intact chain and that the latest one is
witnessed by a sealed purge entry. It reads the chain head last, so that entries sealed while
it walked are not taken for forged ones."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select

from ght.audit.chain import (
    CONTENT, CONTENT_COLUMNS, ENTRIES, GENESIS, Head, anchor_hash, entry_hash, on_postgresql, read_head,
)
from ght.audit.models import AuditAnchor

PAGE = 10_000  # entries a keyset page reads


class BreakKind(StrEnum):
    MODIFIED = "modified"  # content changed: its hash no longer matches
    DELETED = "deleted"  # chain_seq gap
    LINK = "link"  # previous_hash is not the previous entry's hash: inserted or replaced entry
    TAIL_DELETED = "tail-deleted"  # the head names entries that are gone
    INSERTED = "inserted"  # sealed entries beyond the head
    HEAD = "head"  # head missing or not the last entry's hash
    ANCHOR = "anchor"  # anchor modified, inserted, removed or not witnessed
    KNOWN_HEAD = "known-head"  # a published head no longer matches
    UNSEALED = "unsealed"  # entries left unsealed too long: is the sealer running?


@dataclass(frozen=True)
class Break:
    kind: BreakKind
    message: str  # French, for the operator
    chain_seq: int | None = None
    entry_id: int | None = None


@dataclass
class Report:
    checked: int = 0
    start_seq: int = 1
    last_seq: int = 0
    last_hash: str = GENESIS
    anchors: int = 0
    unsealed: int = 0
    breaks: list[Break] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.breaks

    def add(self, kind: BreakKind, message: str, chain_seq: int | None = None, entry_id: int | None = None) -> None:
        self.breaks.append(Break(kind, message, chain_seq, entry_id))


def _check_anchors(db, report: Report) -> AuditAnchor | None:
    previous, previous_seq, anchor = GENESIS, 1, None
    for anchor in db.scalars(select(AuditAnchor).order_by(AuditAnchor.id)):
        report.anchors += 1
        where = f"ancre de purge n° {anchor.id} (chain_seq {anchor.chain_seq})"
        if anchor.previous_anchor_hash != previous:
            report.add(BreakKind.ANCHOR, f"{where} : ne suit pas l'ancre précédente (ancre ajoutée ou supprimée)",
                       anchor.chain_seq)
        elif anchor_hash(previous, anchor) != anchor.anchor_hash:
            report.add(BreakKind.ANCHOR, f"{where} : modifiée (son empreinte ne correspond plus)", anchor.chain_seq)
        if anchor.chain_seq < previous_seq:
            report.add(BreakKind.ANCHOR, f"{where} : recule dans la chaîne (ancre précédente à {previous_seq})",
                       anchor.chain_seq)
        previous, previous_seq = anchor.anchor_hash, anchor.chain_seq
    return anchor


def _walk(db, report: Report, witness: str | None) -> bool:
    """Check the entries after `report.last_seq`; True when the anchor's witness entry was seen."""
    witnessed = False
    columns = (ENTRIES.c.chain_seq, ENTRIES.c.previous_hash, ENTRIES.c.entry_hash, *CONTENT_COLUMNS)
    action = 3 + CONTENT.index("action")
    resources = 3 + CONTENT.index("resources")
    while True:
        rows = db.execute(select(*columns).where(ENTRIES.c.chain_seq > report.last_seq)
                          .order_by(ENTRIES.c.chain_seq).limit(PAGE)).all()
        for row in rows:
            seq, previous_hash, stored_hash, entry_id = row[0], row[1], row[2], row[3]
            expected_seq = report.last_seq + 1
            if seq != expected_seq:
                first_missing = f"{expected_seq} à {seq - 1}" if seq - 1 > expected_seq else f"{expected_seq}"
                report.add(BreakKind.DELETED, f"chain_seq {first_missing} : entrée(s) supprimée(s) "
                           f"(la chaîne reprend au chain_seq {seq}, id {entry_id})", expected_seq)
            elif previous_hash != report.last_hash:
                report.add(BreakKind.LINK, f"chain_seq {seq}, id {entry_id} : ne suit pas l'entrée précédente "
                           "(entrée insérée ou remplacée)", seq, entry_id)
            if entry_hash(previous_hash or "", seq, row[3:]) != stored_hash:
                report.add(BreakKind.MODIFIED, f"chain_seq {seq}, id {entry_id} : entrée modifiée "
                           "(son empreinte ne correspond plus à son contenu)", seq, entry_id)
            if witness and row[action] == "purge" and witness in row[resources]:
                witnessed = True
            report.checked += 1
            report.last_seq, report.last_hash = seq, stored_hash
        if len(rows) < PAGE:
            return witnessed


def _check_head(db, report: Report, head: Head | None) -> None:
    if head is None:
        if report.checked or report.anchors:
            report.add(BreakKind.HEAD, "tête de chaîne absente alors que des entrées sont scellées")
        return
    if head.chain_seq > report.last_seq:
        missing = f"{report.last_seq + 1} à {head.chain_seq}" if head.chain_seq > report.last_seq + 1 else f"{head.chain_seq}"
        report.add(BreakKind.TAIL_DELETED, f"chain_seq {missing} : dernière(s) entrée(s) supprimée(s) "
                   f"(la tête de chaîne est au chain_seq {head.chain_seq})", report.last_seq + 1)
        return
    beyond = db.execute(select(ENTRIES.c.chain_seq, ENTRIES.c.id).where(ENTRIES.c.chain_seq > head.chain_seq)
                        .order_by(ENTRIES.c.chain_seq)).all()
    for seq, entry_id in beyond:
        report.add(BreakKind.INSERTED, f"chain_seq {seq}, id {entry_id} : entrée ajoutée après la tête de chaîne "
                   f"(chain_seq {head.chain_seq}), hors du scelleur", seq, entry_id)
    at_head = db.scalar(select(ENTRIES.c.entry_hash).where(ENTRIES.c.chain_seq == head.chain_seq))
    if head.chain_seq >= report.start_seq and at_head is not None and at_head != head.entry_hash:
        report.add(BreakKind.HEAD, f"chain_seq {head.chain_seq} : l'empreinte de la tête de chaîne ne correspond "
                   "pas à celle de l'entrée (dernière entrée remplacée)", head.chain_seq)


def _sealed_after(db, seq: int) -> bool:
    return db.scalar(select(ENTRIES.c.chain_seq).where(ENTRIES.c.chain_seq > seq).limit(1)) is not None


def _check_known_heads(db, report: Report, known_heads: Iterable[tuple[int, str]]) -> None:
    for seq, expected in known_heads:
        if seq < report.start_seq:
            continue  # purged since it was published
        stored = db.scalar(select(ENTRIES.c.entry_hash).where(ENTRIES.c.chain_seq == seq))
        if stored is None:
            report.add(BreakKind.KNOWN_HEAD, f"chain_seq {seq} : tête publiée introuvable dans la trace", seq)
        elif stored != expected.lower():
            report.add(BreakKind.KNOWN_HEAD, f"chain_seq {seq} : l'empreinte publiée {expected[:12]}… ne correspond "
                       f"pas à celle de la trace {stored[:12]}… (chaîne réécrite)", seq)


def _check_unsealed(db, report: Report, older_than: datetime) -> None:
    unsealed = ENTRIES.c.chain_seq.is_(None)
    report.unsealed = db.scalar(select(func.count()).where(unsealed)) or 0
    count, first_id = db.execute(select(func.count(), func.min(ENTRIES.c.id))
                                 .where(unsealed, ENTRIES.c.recorded_at < older_than)).one()
    if count:
        report.add(BreakKind.UNSEALED, f"{count} entrée(s) non scellée(s) enregistrée(s) avant le "
                   f"{older_than:%Y-%m-%d %H:%M:%S} UTC (la plus ancienne : id {first_id}) : le scelleur est-il arrêté ?",
                   entry_id=first_id)


def verify(db, *, unsealed_after: timedelta = timedelta(minutes=5), known_heads: Iterable[tuple[int, str]] = (),
           now: datetime | None = None) -> Report:
    """Walk the whole chain and report every break (an empty `breaks` when intact)."""
    if on_postgresql(db) and not db.in_transaction():
        # One snapshot for the whole walk: a purge committed meanwhile is not seen half-done.
        db.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    report = Report()
    anchor = _check_anchors(db, report)
    start_previous = GENESIS
    if anchor is not None:
        report.start_seq, start_previous = anchor.chain_seq, anchor.previous_hash
    report.last_seq, report.last_hash = report.start_seq - 1, start_previous
    witness = f"AuditAnchor/{anchor.anchor_hash}" if anchor is not None else None
    witnessed = _walk(db, report, witness)
    head = read_head(db)
    for _ in range(10):
        # Entries sealed while we walked (SQLite has no snapshot here): walk on to the head.
        if head is None or head.chain_seq <= report.last_seq or not _sealed_after(db, report.last_seq):
            break
        witnessed |= _walk(db, report, witness)
        head = read_head(db)
    if witness and not witnessed:
        report.add(BreakKind.ANCHOR, f"ancre de purge n° {anchor.id} (chain_seq {anchor.chain_seq}) : aucune entrée "
                   "de purge scellée ne l'atteste (ancre forgée ?)", anchor.chain_seq)
    _check_head(db, report, head)
    _check_known_heads(db, report, known_heads)
    _check_unsealed(db, report, (now or datetime.now(UTC)) - unsealed_after)
    return report
