"""Appending to the access trace: what every door calls for every access and every refusal.

`record` is on the path of every clinical read, so it is one INSERT in the caller's
transaction and nothing else: no read, no lock, no hash. The entry commits (or rolls back)
with the access it describes, and the sealer chains it a moment later (ght.audit.chain)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import functools
import re

import orjson
from sqlalchemy import insert

from ght.audit.models import AuditEntry


class Action(StrEnum):
    READ = "read"
    SEARCH = "search"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    EXPORT = "export"
    LOGIN = "login"
    LOGOUT = "logout"
    BREAK_GLASS = "break-glass"  # the declaration of an emergency access, with its reason
    PURGE = "purge"  # the trail's own purge (ght.audit.purge)


class Purpose(StrEnum):
    CARE = "care"
    EMERGENCY = "emergency"
    DIM = "dim"
    COORDINATION = "coordination"
    ADMINISTRATION = "administration"


class Outcome(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
    FAILED = "failed"  # allowed, but the action itself failed


class Door(StrEnum):
    FHIR = "fhir"
    API = "api"
    WEB = "web"
    CLI = "cli"
    EXPORT = "export"
    HL7 = "hl7"


def now_ms() -> datetime:
    """Now in UTC to the millisecond: what is stored is exactly what is hashed, on both backends."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True, slots=True)
class AccessEvent:
    """One access or refusal: who, on what, why, with which outcome, through which door."""

    account: str
    account_id: int | None
    role: str
    action: Action | str
    purpose: Purpose | str
    outcome: Outcome | str
    door: Door | str
    rpps: str | None = None
    establishment_id: int | None = None
    ght_patient_id: str | None = None
    resources: tuple[str, ...] = ()  # "Type/id"
    reason: str | None = None
    client_address: str | None = None
    break_glass_reason: str | None = None
    recorded_at: datetime | None = None  # now, when not given

    def __post_init__(self) -> None:
        # A wrong code would be sealed for good: refuse it at the call site instead.
        for vocabulary, value in ((Action, self.action), (Purpose, self.purpose),
                                  (Outcome, self.outcome), (Door, self.door)):
            object.__setattr__(self, vocabulary.__name__.lower(), vocabulary(value))
        if isinstance(self.resources, str):
            raise TypeError("resources: a sequence of 'Type/id', not one string")
        object.__setattr__(self, "resources", tuple(self.resources))


def account_fields(account, role: str | None = None) -> dict[str, Any]:
    """The who of an AccessEvent from a directory Account (ght.directory.models.Account)."""
    return {"account": account.username, "account_id": account.id, "rpps": account.professional.rpps,
            "role": role or (account.roles[0] if account.roles else ""),
            "establishment_id": account.establishment_id}


def entry_row(event: AccessEvent) -> dict[str, Any]:
    recorded_at = event.recorded_at or now_ms()
    if recorded_at.tzinfo is None:
        raise ValueError("recorded_at must be timezone-aware")
    recorded_at = recorded_at.astimezone(UTC)
    return {
        "recorded_at": recorded_at.replace(microsecond=recorded_at.microsecond // 1000 * 1000),
        "account": event.account, "account_id": event.account_id, "rpps": event.rpps, "role": event.role,
        "establishment_id": event.establishment_id, "ght_patient_id": event.ght_patient_id,
        "resources": orjson.dumps(list(event.resources)).decode(),
        "action": event.action.value, "purpose": event.purpose.value, "outcome": event.outcome.value,
        "reason": event.reason, "door": event.door.value, "client_address": event.client_address,
        "break_glass_reason": event.break_glass_reason,
    }


_INSERT = insert(AuditEntry.__table__)


def record(db, event: AccessEvent) -> None:
    """Append one entry in the caller's transaction (a Session or a Connection)."""
    db.execute(_INSERT, entry_row(event))


COLUMNS = ("recorded_at", "account", "account_id", "rpps", "role", "establishment_id", "ght_patient_id",
           "resources", "action", "purpose", "outcome", "reason", "door", "client_address", "break_glass_reason")


@functools.cache
def insert_sql(dialect) -> str:
    """PostgreSQL: one INSERT of any number of entries, one array parameter per column (unnest):
    one statement, so atomic in autocommit, one round trip, and one text the server prepares once
    (the group commit's, and a bundle's hundred entries)."""
    table = AuditEntry.__table__
    # Arrays of the unbounded type: a cast to VARCHAR(64) would truncate a longer value without a
    # word, where the insert into the column refuses it, as the synchronous trail's does.
    arrays = ", ".join(f"%({c})s::{re.sub(r'[(][0-9]+[)]', '', table.c[c].type.compile(dialect))}[]"
                       for c in COLUMNS)
    return f"INSERT INTO {table.name} ({', '.join(COLUMNS)}) SELECT * FROM unnest({arrays})"


def record_many(db, events: Iterable[AccessEvent]) -> int:
    """Append several entries in one multi-row INSERT (a search, a bundle, an export)."""
    rows = [entry_row(event) for event in events]
    if rows:
        # On the session's connection: the ORM's execute costs more than the insert itself here.
        connection = db.connection() if hasattr(db, "connection") and not hasattr(db, "exec_driver_sql") else db
        if len(rows) > 1 and connection.dialect.name == "postgresql":
            # One statement of arrays: an executemany is one INSERT per entry for the server.
            connection.exec_driver_sql(insert_sql(connection.dialect), {c: [row[c] for row in rows] for c in COLUMNS})
        else:
            connection.execute(_INSERT, rows[0] if len(rows) == 1 else rows)
    return len(rows)
