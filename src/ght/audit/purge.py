"""Purge of the trace past its retention period, keeping what remains verifiable.

Article R6113-9-2 of the Code de la santé publique asks for six rolling months by default
(setting `audit_retention_months`). The purge deletes a prefix of the chain: the entries, in
chain order, up to the first one recorded at or after the cut-off (an entry sealed late is
kept with the ones around it). Before deleting, it writes an anchor naming the first kept
entry and the hash it links to, chained to the previous anchor, and appends a sealed "purge"
entry that carries the anchor's hash: verify starts from the latest anchor and requires that
witness, so an anchor written by hand to hide a deletion is reported."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import delete, select

from ght.audit.chain import ENTRIES, GENESIS, anchor_hash, latest_anchor, read_head, seal_all, take_sealer_lock
from ght.audit.models import AuditAnchor
from ght.audit.trail import AccessEvent, Action, Door, Outcome, Purpose, now_ms, record


class PurgeRefused(ValueError):
    """Why a purge was not done, in French for the operator."""


@dataclass(frozen=True)
class PurgeResult:
    purged: int
    cutoff: datetime
    anchor: AuditAnchor | None  # None when nothing was old enough


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the month's last day if shorter)."""
    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    next_month = date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_month - date(year, month, 1)).days
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def purge(db, before: datetime, by: str = "ght", *, retention_months: int = 6, now: datetime | None = None,
          door: Door = Door.CLI, role: str = "operator") -> PurgeResult:
    """Delete the sealed entries recorded before `before`, in the caller's transaction.

    Refused when `before` would delete entries younger than the retention period. `by` names
    who purges (written in the anchor and in the purge's own trace entry)."""
    now = now or datetime.now(UTC)
    if before.tzinfo is None:
        raise ValueError("before must be timezone-aware")
    oldest_allowed = months_before(now, retention_months)
    if before > oldest_allowed:
        raise PurgeRefused(f"la trace se conserve {retention_months} mois : la date de coupure doit être au plus tard "
                           f"le {oldest_allowed:%Y-%m-%d %H:%M} UTC")
    take_sealer_lock(db)
    seal_all(db)  # everything is sealed: the chain has no hole the purge could hide
    head = read_head(db)
    previous_anchor = latest_anchor(db)
    start = previous_anchor.chain_seq if previous_anchor else 1
    if head is None or head.chain_seq < start:
        return PurgeResult(0, before, None)
    first_kept = db.scalar(select(ENTRIES.c.chain_seq).where(ENTRIES.c.chain_seq >= start, ENTRIES.c.recorded_at >= before)
                           .order_by(ENTRIES.c.chain_seq).limit(1))
    first_kept = head.chain_seq + 1 if first_kept is None else first_kept
    if first_kept <= start:
        return PurgeResult(0, before, None)
    link = _link_to_kept(db, first_kept, head)
    purged = db.execute(delete(ENTRIES).where(ENTRIES.c.chain_seq < first_kept)).rowcount
    anchor = AuditAnchor(
        id=(previous_anchor.id + 1) if previous_anchor else 1, created_at=now_ms(), chain_seq=first_kept,
        previous_hash=link, cutoff=before, purged_count=purged, purged_by=by[:64],
        previous_anchor_hash=previous_anchor.anchor_hash if previous_anchor else GENESIS)
    anchor.anchor_hash = anchor_hash(anchor.previous_anchor_hash, anchor)
    db.add(anchor)
    db.flush()
    record(db, AccessEvent(
        account=by[:64], account_id=None, role=role, action=Action.PURGE, purpose=Purpose.ADMINISTRATION,
        outcome=Outcome.ALLOWED, door=door, resources=(f"AuditAnchor/{anchor.anchor_hash}",),
        reason=f"purge de {purged} entrée(s) de la trace enregistrée(s) avant le {before:%Y-%m-%d %H:%M} UTC"))
    seal_all(db)
    return PurgeResult(purged, before, anchor)


def _link_to_kept(db, first_kept: int, head) -> str:
    """The hash the first kept entry links to (that of the last purged one), checked on both sides:
    purging across a break would erase the evidence and certify what follows."""
    last_purged = db.scalar(select(ENTRIES.c.entry_hash).where(ENTRIES.c.chain_seq == first_kept - 1))
    if first_kept > head.chain_seq:
        expected = head.entry_hash
    else:
        expected = db.scalar(select(ENTRIES.c.previous_hash).where(ENTRIES.c.chain_seq == first_kept))
    if last_purged is None or last_purged != expected:
        raise PurgeRefused(f"la chaîne est rompue au chain_seq {first_kept} : lancez « ght audit verify » "
                           "avant de purger")
    return last_purged
