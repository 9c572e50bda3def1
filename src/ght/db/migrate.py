"""Alembic migrations, applied programmatically on start and by `ght db upgrade`."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def all_metadata():
    """The metadata of every domain's tables (importing the modules registers them)."""
    from ght.access import models as _access  # noqa: F401
    from ght.audit import models as _audit  # noqa: F401
    from ght.auth import models as _auth  # noqa: F401
    from ght.db.base import Base
    from ght.dim import models as _dim  # noqa: F401
    from ght.directory import models as _directory  # noqa: F401
    from ght.identity import models as _identity  # noqa: F401
    from ght.interop.hl7v2 import models as _hl7v2  # noqa: F401
    from ght.record import export_models as _export  # noqa: F401
    from ght.record import models as _record  # noqa: F401

    return Base.metadata


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # env.py reuses this engine instead of building one from a URL string.
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return _head_of_scripts()


@functools.cache
def _head_of_scripts() -> str | None:
    # The migration scripts ship with the package: read once per process (it parses every file).
    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()
