"""psycopg's asynchronous connections, for the few statements of the API's hot path that run on
the server's event loop (PostgreSQL only): the read by id (ght.record.reader), the facts of its
access decision (ght.access.async_gate) and the trace's group commit (ght.audit.group_commit).

A short statement through the ORM in a thread costs several times the statement itself (a
session, a thread switch, BEGIN and ROLLBACK); here it costs one round trip. Statements are
compiled once from their SQLAlchemy definitions (`compiled`), so the SQL has one source."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

log = logging.getLogger("ght.db.async_pool")
T = TypeVar("T")


def conninfo_of(url: str) -> str:
    """A libpq connection string from a SQLAlchemy URL (driver name dropped)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_pool(url: str, *, max_size: int = 20, name: str = "ght"):
    from psycopg_pool import AsyncConnectionPool

    # No check on checkout (a round trip per request): a connection found broken by a query is
    # discarded by the pool, and a read is tried once more (run_read).
    return AsyncConnectionPool(conninfo_of(url), min_size=2, max_size=max_size, open=False,
                               kwargs={"autocommit": True}, name=name)


def make_engine_pool(engine: Engine):
    """The process's pool for `engine`'s database, or None when it is not PostgreSQL."""
    if engine.dialect.name != "postgresql":
        return None
    return make_pool(engine.url.render_as_string(hide_password=False))


async def run_read(pool, work: Callable[[object], Awaitable[T]]) -> T:
    """`work(connection)` on a pooled connection, once more on a new one if the first was broken
    (the server restarted, say): a read repeated changes nothing."""
    import psycopg

    for attempt in (1, 2):
        try:
            async with pool.connection() as connection:
                return await work(connection)
        except psycopg.OperationalError:
            if attempt == 2:
                raise
            log.warning("read retried on a new connection", exc_info=True)
    raise AssertionError("unreachable")


def compiled(statement, dialect) -> str:
    """`statement` as psycopg SQL text (%(name)s parameters). Its values are all given at
    execution: a statement meant for this path has no constant parameters (fixed values are SQL
    text, so that the server's generic plan knows them: ght.access.facts)."""
    result = statement.compile(dialect=dialect)
    if fixed := [name for name, value in result.params.items() if value is not None]:
        raise ValueError(f"constant parameters {fixed}: write them as SQL text")
    return result.string
