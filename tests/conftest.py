"""Shared fixtures: a real database per backend (SQLite always, PostgreSQL when
GHT_TEST_POSTGRES_URL is set), created and dropped by the fixtures, and a real HTTP server."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from sqlalchemy import delete

from ght.config import Settings
from ght.db.engine import make_engine, session_factory
from ght.db.migrate import all_metadata, upgrade
from ght.db.scratch import scratch_database
from support import PASSWORD, LiveServer, free_port

POSTGRES_URL = os.environ.get("GHT_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory):
    """A new, empty database of one backend for this test session, dropped at the end."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'ght-test.db'}"
        return
    url, drop = scratch_database(POSTGRES_URL, "ght_test")
    try:
        yield url
    finally:
        drop()


@pytest.fixture(scope="session")
def migrated_engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(migrated_engine):
    """The migrated database, emptied after each test so tests do not see each other's rows."""
    yield migrated_engine
    with migrated_engine.begin() as connection:
        for table in reversed(all_metadata().sorted_tables):
            connection.execute(delete(table))


@pytest.fixture
def db(engine):
    session = session_factory(engine)()
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def settings(database_url, tmp_path):
    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        http_host="127.0.0.1",
        http_port=free_port(),
        secret_key="test-secret-key-not-for-production",
        log_json=True,
        audit_seal_seconds=0,  # the tests seal when they mean to (tests/audit); test_sealer_in_serve runs it
    )


@pytest.fixture
def live_server(settings, engine):
    with LiveServer(settings, engine) as server:
        yield server


def pytest_terminal_summary(terminalreporter):
    """Say how many database tests passed on each backend, so the CI log shows both runs."""
    counts: Counter[tuple[str, str]] = Counter()
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if report.when != "call" and outcome == "passed":
                continue
            for backend in ("sqlite", "postgresql"):
                if f"[{backend}" in report.nodeid or f"-{backend}]" in report.nodeid:
                    counts[(backend, outcome)] += 1
    if not counts:
        return
    terminalreporter.section("database backends")
    for backend in BACKENDS:
        parts = [f"{counts[(backend, o)]} {o}" for o in ("passed", "failed", "error", "skipped") if counts[(backend, o)]]
        terminalreporter.write_line(f"{backend}: {', '.join(parts) or 'no test'}")
    if not POSTGRES_URL:
        terminalreporter.write_line("postgresql: not run (set GHT_TEST_POSTGRES_URL to run it)")



@pytest.fixture
def make_account(db):
    """Create an establishment, a professional and an account bound to them; returns the account."""
    from ght.directory.accounts import create_account
    from ght.directory.models import Establishment, Professional
    from ght.directory.vocab import Role

    serial = iter(range(1, 1000))

    def make(username: str = "dr.house", roles=(Role.CLINICIAN,), password: str = PASSWORD):
        establishment = Establishment(
            finess_ej=f"{750000000 + next(serial):09d}", name="CHU de Test", short_name="CHU Test",
            role="support",
        )
        professional = Professional(
            rpps=None, adeli=None, family_name="MARTIN", given_name="Claire",
            profession="medecin", specialty="Cardiologie", external=False,
        )
        db.add_all([establishment, professional])
        account = create_account(db, username, password, professional, establishment, list(roles))
        db.commit()
        return account

    return make
