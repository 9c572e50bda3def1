"""A pooled connection that died while idle (database restart, network cut) is replaced before
a request uses it; one used a moment ago is not checked again (no extra round trip)."""

import pytest
from sqlalchemy import event, text

import ght.db.engine as engine_module
from ght.db.engine import make_engine


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_dead_idle_connection_is_replaced(database_url, monkeypatch):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server connection to lose")
    engine = make_engine(database_url)
    try:
        first = _backend_pid(engine)
        with make_engine(database_url).connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 0.0)  # as if it had waited long
        assert _backend_pid(engine) != first  # the request got a live connection, no error
        # A pinged connection can still be put in autocommit (the read-only sessions do).
        assert _backend_pid(engine.execution_options(isolation_level="AUTOCOMMIT")) > 0
    finally:
        engine.dispose()


def test_recently_returned_connection_is_not_pinged(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the ping concerns server connections")
    engine = make_engine(database_url)
    statements: list[str] = []
    try:
        _backend_pid(engine)
        event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        _backend_pid(engine)
        assert statements == ["SELECT pg_backend_pid()"]
    finally:
        engine.dispose()
