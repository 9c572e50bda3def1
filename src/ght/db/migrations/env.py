"""Alembic environment: runs against the engine handed over by ght.db.migrate."""

from __future__ import annotations

from alembic import context

from ght.db.migrate import all_metadata

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=all_metadata(),
        # SQLite cannot ALTER most things: batch mode rebuilds tables when needed.
        render_as_batch=True,
        compare_type=True,
    )
    context.run_migrations()
