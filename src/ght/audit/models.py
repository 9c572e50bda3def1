"""Tables of the access trace: the entries, the chain's head and the purge anchors.

An entry is written unsealed by the request that makes the access (one INSERT) and sealed
later by the single sealer (ght.audit.chain), which fills `chain_seq`, `previous_hash` and
`entry_hash`. No foreign keys: the trace must outlive and not depend on the directory rows it
names (it keeps the username beside the account id), and a foreign-key check would cost an
index probe on every clinical read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ght.db.base import Base, UtcDateTime

# 64-bit keys on PostgreSQL; SQLite's INTEGER PRIMARY KEY is already 64-bit and only that exact
# type name makes it the rowid (as ght.record.models does).
BigId = BigInteger().with_variant(Integer(), "sqlite")
Sha256Hex = String(64)

_UNSEALED = text("chain_seq IS NULL")


class AuditEntry(Base):
    __tablename__ = "audit_entry"
    __table_args__ = (
        # "Who accessed my record": one patient's entries, newest first.
        Index("ix_audit_entry_patient_time", "ght_patient_id", "recorded_at"),
        # One professional's accesses, for the review.
        Index("ix_audit_entry_account_time", "account_id", "recorded_at"),
        # The purge cut-off and the review period.
        Index("ix_audit_entry_recorded_at", "recorded_at"),
        # What the sealer reads: a partial index, as small as the backlog.
        Index("ix_audit_entry_unsealed", "id", postgresql_where=_UNSEALED, sqlite_where=_UNSEALED),
        # AUTOINCREMENT: SQLite never reuses the id of a deleted last row.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)  # insertion order
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)  # truncated to the millisecond
    # Who: the account (username kept, it names the person even if the account changes later),
    # the professional's RPPS, the role acted under, the establishment acted for.
    account: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(Integer)  # none for a login with an unknown username
    rpps: Mapped[str | None] = mapped_column(String(11))
    role: Mapped[str] = mapped_column(String(32))
    establishment_id: Mapped[int | None] = mapped_column(Integer)
    # What: the patient, the resources ("Type/id" list as JSON text, hashed as stored), the action.
    ght_patient_id: Mapped[str | None] = mapped_column(String(16))
    resources: Mapped[str] = mapped_column(Text, default="[]")
    action: Mapped[str] = mapped_column(String(16))  # ght.audit.trail.Action
    purpose: Mapped[str] = mapped_column(String(16))  # ght.audit.trail.Purpose
    outcome: Mapped[str] = mapped_column(String(8))  # ght.audit.trail.Outcome
    reason: Mapped[str | None] = mapped_column(Text)  # why denied (or failed)
    door: Mapped[str] = mapped_column(String(8))  # ght.audit.trail.Door
    client_address: Mapped[str | None] = mapped_column(String(45))  # IPv6 in full is 45 characters
    break_glass_reason: Mapped[str | None] = mapped_column(Text)
    # The chain, filled by the sealer.
    chain_seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    previous_hash: Mapped[str | None] = mapped_column(Sha256Hex)
    entry_hash: Mapped[str | None] = mapped_column(Sha256Hex)


class AuditChainHead(Base):
    """The last sealed entry, in one row the sealer updates with each batch: deleting the
    chain's tail leaves the head pointing past the last entry, so truncation is detected."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_seq: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[str] = mapped_column(Sha256Hex)
    sealed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditAnchor(Base):
    """Where the chain starts again after a purge: the first kept entry and the hash it links to.

    Anchors are chained among themselves (`anchor_hash` covers the previous anchor's), and each
    one is witnessed by the sealed "purge" entry the purge appends to the trail, so an anchor
    written by hand to hide a deletion is reported by verify."""

    __tablename__ = "audit_anchor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    chain_seq: Mapped[int] = mapped_column(BigInteger)  # first kept entry (head + 1 if none is kept)
    previous_hash: Mapped[str] = mapped_column(Sha256Hex)  # hash of the last purged entry
    cutoff: Mapped[datetime] = mapped_column(UtcDateTime)  # entries recorded before it were purged
    purged_count: Mapped[int] = mapped_column(BigInteger)
    purged_by: Mapped[str] = mapped_column(String(64))
    previous_anchor_hash: Mapped[str] = mapped_column(Sha256Hex)
    anchor_hash: Mapped[str] = mapped_column(Sha256Hex)
