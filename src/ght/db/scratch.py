"""Throw-away PostgreSQL databases, for the test suite and the benchmarks: each run gets its
own empty database on the server, dropped afterwards even if a connection is left open."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ght.db.engine import normalise_url


def scratch_database(server_url: str, prefix: str) -> tuple[str, Callable[[], None]]:
    """(url, drop) of a new empty database named `<prefix>_<random>` on the server."""
    server = make_url(normalise_url(server_url))
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return server.set(database=name).render_as_string(hide_password=False), drop
