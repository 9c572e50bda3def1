"""Engine and session factory for the configured database (SQLite or PostgreSQL)."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or opened; the message says which and why."""


def normalise_url(url: str) -> str:
    """Accept the usual `postgresql://` spelling and use the psycopg 3 driver for it."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _json_text(value) -> str:
    return orjson.dumps(value).decode()


# JSON columns (FHIR bodies, above all) with orjson rather than the standard library's json:
# several times faster both ways, which shows on every search that returns twenty bodies.
JSON_CODEC = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **JSON_CODEC)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20, **JSON_CODEC)
    _ping_idle_connections(engine)
    return engine


# A pooled connection idle this long is checked before use (a database restart or a network
# cut while it waited would otherwise fail the request that takes it). SQLAlchemy's
# pool_pre_ping checks every checkout: one more round trip on each request, for connections
# that a busy server gave back milliseconds ago.
IDLE_PING_SECONDS = 10.0


def _ping_idle_connections(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection, record) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection, record, proxy) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < IDLE_PING_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_connection.rollback()  # the ping opened a transaction: the taker may want autocommit
        except Exception as exc:
            # The pool drops this connection and takes (or opens) another one.
            raise DisconnectionError(f"connexion inutilisable : {exc}") from exc


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers work during a write; synchronous=FULL makes every committed
    # (and therefore acknowledged) transaction survive a power loss, not only a crash.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def check_connection(engine: Engine) -> None:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        where = make_url(str(engine.url)).render_as_string(hide_password=True)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUnavailable(f"base de données injoignable ({where}) : {reason}") from exc


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
