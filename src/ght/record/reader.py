"""Reads on the API's hot path: a resource's current row by type and id, one round trip.

A read by id is the request hospital systems send most, and on PostgreSQL its cost is mostly
what surrounds the query: an ORM session, a pooled connection's liveness ping, BEGIN and
ROLLBACK, a thread of the pool (four round trips and two thread switches for one lookup). On
PostgreSQL the reader runs the query on the server's event loop with psycopg's own asynchronous
connections, in autocommit (one statement sees one snapshot), and hands the stored body over as
JSON text, never parsed. Elsewhere (SQLite) it runs the store's query in the thread pool.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from starlette.concurrency import run_in_threadpool

from ght.record.models import Resource

log = logging.getLogger("ght.record.reader")


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

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def current(self, resource_type: str, fhir_id: str) -> Current | None:
        return await run_in_threadpool(self._current, resource_type, fhir_id)

    def _current(self, resource_type: str, fhir_id: str) -> Current | None:
        with self.engine.connect() as connection:
            row = connection.execute(current_query(resource_type, fhir_id)).one_or_none()
        return None if row is None else Current(*row)


class PostgresReader:
    """PostgreSQL: psycopg's asynchronous connections, pooled per server process."""

    # The same query as current_query, written for psycopg; body::text spares decoding the
    # JSONB into Python objects only to encode them again for the answer.
    SQL = ("SELECT body::text, version, last_updated, deleted, ght_patient_id, source_establishment_id FROM fhir_resource "
           "WHERE resource_type = %s AND fhir_id = %s")

    def __init__(self, url: str, *, max_size: int = 20) -> None:
        from psycopg_pool import AsyncConnectionPool

        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        # No check on checkout (a round trip per request): a connection found broken by a query
        # is discarded by the pool, and the read is tried once more (see current).
        self.pool = AsyncConnectionPool(conninfo, min_size=2, max_size=max_size, open=False,
                                        kwargs={"autocommit": True}, name="ght-reader")

    async def open(self) -> None:
        await self.pool.open()

    async def close(self) -> None:
        await self.pool.close()

    async def current(self, resource_type: str, fhir_id: str) -> Current | None:
        import psycopg

        for attempt in (1, 2):
            try:
                async with self.pool.connection() as connection:
                    cursor = await connection.execute(self.SQL, (resource_type, fhir_id))
                    row = await cursor.fetchone()
                break
            except psycopg.OperationalError:
                if attempt == 2:
                    raise
                log.warning("read retried on a new connection", exc_info=True)
        if row is None:
            return None
        body, version, last_updated, deleted, patient, source = row
        return Current(body, version, last_updated.astimezone(UTC), deleted, patient, source)


def make_reader(engine: Engine) -> PostgresReader | ThreadedReader:
    if engine.dialect.name == "postgresql":
        return PostgresReader(engine.url.render_as_string(hide_password=False))
    return ThreadedReader(engine)
