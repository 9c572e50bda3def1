"""Reads on the API's hot path: a resource's current row by type and id, one round trip.

A read by id is the request hospital systems send most, and on PostgreSQL its cost is mostly
what surrounds the query: an ORM session, a pooled connection's liveness ping, BEGIN and
ROLLBACK, a thread of the pool (four round trips and two thread switches for one lookup). On
PostgreSQL the reader runs the query on the server's event loop with psycopg's own asynchronous
connections (ght.db.async_pool), in autocommit (one statement sees one snapshot), and hands the
stored body over as JSON text, never parsed. Elsewhere (SQLite) it runs the store's query in the thread pool.
The read route on PostgreSQL reads the row together with its access facts (ght.access.async_gate);
PostgresReader is the row alone (bench/access_decision.py times it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool

from ght.db.async_pool import run_read
from ght.record.models import Resource


@dataclass(frozen=True, slots=True)
class Current:
    """A resource's current row; `body` is JSON text (PostgreSQL) or the decoded body."""

    body: str | dict | None
    version: int
    last_updated: datetime
    deleted: bool
    ght_patient_id: str | None
    source_establishment_id: int | None


def current_query(resource_type: str, fhir_id: str):
    table = Resource.__table__
    return select(table.c.body, table.c.version, table.c.last_updated, table.c.deleted, table.c.ght_patient_id,
                  table.c.source_establishment_id).where(
        table.c.resource_type == resource_type, table.c.fhir_id == fhir_id)


class ThreadedReader:
    """Any database: the query through SQLAlchemy, in the thread pool."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def current(self, resource_type: str, fhir_id: str) -> Current | None:
        return await run_in_threadpool(self._current, resource_type, fhir_id)

    def _current(self, resource_type: str, fhir_id: str) -> Current | None:
        with self.engine.connect() as connection:
            row = connection.execute(current_query(resource_type, fhir_id)).one_or_none()
        return None if row is None else Current(*row)


class PostgresReader:
    """PostgreSQL: on the process's asynchronous pool (ght.db.async_pool)."""

    # The same query as current_query, written for psycopg; body::text spares decoding the
    # JSONB into Python objects only to encode them again for the answer.
    SQL = ("SELECT body::text, version, last_updated, deleted, ght_patient_id, source_establishment_id FROM fhir_resource "
           "WHERE resource_type = %s AND fhir_id = %s")

    def __init__(self, pool) -> None:
        self.pool = pool

    async def current(self, resource_type: str, fhir_id: str) -> Current | None:
        async def fetch(connection):
            cursor = await connection.execute(self.SQL, (resource_type, fhir_id))
            return await cursor.fetchone()

        row = await run_read(self.pool, fetch)
        if row is None:
            return None
        body, version, last_updated, deleted, patient, source = row
        return Current(body, version, last_updated.astimezone(UTC), deleted, patient, source)
