"""The SHA-256 chain of the trace, and the sealer that extends it.

Requests append entries unsealed (ght.audit.trail); one sealer at a time takes them in id
order and gives each the next `chain_seq` and

    entry_hash = SHA-256(previous_hash || canonical serialisation of the entry)

The chain's order is the sealing order, not the insertion order: an entry whose transaction
commits after a higher id was sealed is simply sealed later, at the end, so the chain never
has to wait for (or leave a gap for) a slow transaction, and appends need no lock at all.

The serialisation is the same on SQLite and PostgreSQL: JSON with sorted keys, timestamps in
UTC ISO 8601 with milliseconds (what ght.audit.trail stores), `resources` as its stored text."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

import orjson
from sqlalchemy import bindparam, insert, select, text, update

from ght.audit.models import AuditAnchor, AuditChainHead, AuditEntry

GENESIS = "0" * 64  # the previous_hash of the first entry, and of the first anchor

ENTRIES = AuditEntry.__table__
HEAD = AuditChainHead.__table__
# Every content column, in the order the sealer and verify select them.
CONTENT = ("id", "recorded_at", "account", "account_id", "rpps", "role", "establishment_id", "ght_patient_id",
           "resources", "action", "purpose", "outcome", "reason", "door", "client_address", "break_glass_reason")
CONTENT_COLUMNS = tuple(ENTRIES.c[name] for name in CONTENT)
ANCHOR_CONTENT = ("id", "created_at", "chain_seq", "previous_hash", "cutoff", "purged_count", "purged_by")

# pg_advisory_xact_lock key of the sealer (and of the purge, which moves the chain's start).
SEALER_LOCK_KEY = 0x6768_742E_6175_6469  # "ght.audi"


def canonical_time(value: datetime) -> str:
    # Milliseconds as recorded; a value someone wrote with microseconds keeps them (and is hashed so).
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    return value.astimezone(UTC).isoformat(timespec=spec)[:-6] + "Z"  # "+00:00" -> "Z"


def _digest(previous_hash: str, document: dict) -> str:
    payload = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(previous_hash.encode("ascii") + payload).hexdigest()


def entry_hash(previous_hash: str, chain_seq: int, content: Sequence) -> str:
    """The hash of an entry from its content columns (in CONTENT order) and its place in the chain."""
    document = dict(zip(CONTENT, content, strict=True))
    document["recorded_at"] = canonical_time(document["recorded_at"])
    document["chain_seq"] = chain_seq
    return _digest(previous_hash, document)


def anchor_hash(previous_anchor_hash: str, anchor) -> str:
    document = {name: getattr(anchor, name) for name in ANCHOR_CONTENT}
    document["created_at"] = canonical_time(document["created_at"])
    document["cutoff"] = canonical_time(document["cutoff"])
    return _digest(previous_anchor_hash, document)


def on_postgresql(db) -> bool:
    return db.get_bind().dialect.name == "postgresql"


def take_sealer_lock(db) -> None:
    """Make this transaction the only one that extends or cuts the chain, until it ends.

    PostgreSQL: a transaction-level advisory lock. SQLite: a write statement takes the
    database's write lock at once, so what is read next is the latest committed state and no
    other writer (sealer or not) runs before this transaction ends."""
    if on_postgresql(db):
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEALER_LOCK_KEY})
    else:
        db.execute(update(HEAD).where(HEAD.c.id == 1).values(chain_seq=HEAD.c.chain_seq))


class Head(NamedTuple):
    chain_seq: int
    entry_hash: str


def read_head(db) -> Head | None:
    row = db.execute(select(HEAD.c.chain_seq, HEAD.c.entry_hash).where(HEAD.c.id == 1)).first()
    return Head(*row) if row else None


def latest_anchor(db) -> AuditAnchor | None:
    return db.scalars(select(AuditAnchor).order_by(AuditAnchor.id.desc()).limit(1)).first()


_SEAL = (update(ENTRIES).where(ENTRIES.c.id == bindparam("_id"))
         .values(chain_seq=bindparam("_seq"), previous_hash=bindparam("_previous"), entry_hash=bindparam("_hash")))
# PostgreSQL: the whole batch in one statement (arrays), rather than one UPDATE per entry.
_SEAL_POSTGRESQL = text(
    "UPDATE audit_entry AS e SET chain_seq = s.seq, previous_hash = s.previous, entry_hash = s.hash "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:seqs AS bigint[]), CAST(:previous AS text[]), CAST(:hashes AS text[])) "
    "AS s(id, seq, previous, hash) WHERE e.id = s.id")


def seal(db, limit: int = 10_000) -> int:
    """Seal up to `limit` unsealed entries, oldest id first, in the caller's transaction.
    Returns how many were sealed; the caller commits (the lock is held until then)."""
    take_sealer_lock(db)
    head = read_head(db)
    seq, previous = head if head else (0, GENESIS)
    rows = db.execute(select(*CONTENT_COLUMNS).where(ENTRIES.c.chain_seq.is_(None))
                      .order_by(ENTRIES.c.id).limit(limit)).all()
    if not rows:
        return 0
    ids, seqs, previous_hashes, hashes = [], [], [], []
    for row in rows:
        seq += 1
        digest = entry_hash(previous, seq, row)
        ids.append(row[0])
        seqs.append(seq)
        previous_hashes.append(previous)
        hashes.append(digest)
        previous = digest
    if on_postgresql(db):
        db.execute(_SEAL_POSTGRESQL, {"ids": ids, "seqs": seqs, "previous": previous_hashes, "hashes": hashes})
    else:
        db.execute(_SEAL, [{"_id": i, "_seq": q, "_previous": p, "_hash": h}
                           for i, q, p, h in zip(ids, seqs, previous_hashes, hashes, strict=True)])
    values = {"chain_seq": seq, "entry_hash": previous, "sealed_at": datetime.now(UTC)}
    if head:
        db.execute(update(HEAD).where(HEAD.c.id == 1).values(**values))
    else:
        db.execute(insert(HEAD).values(id=1, **values))
    return len(rows)


def seal_all(db, batch: int = 10_000) -> int:
    """Seal every pending entry in the caller's transaction."""
    total = 0
    while sealed := seal(db, batch):
        total += sealed
    return total
