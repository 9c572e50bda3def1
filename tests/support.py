"""Helpers shared by tests (importable: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time

import httpx
import uvicorn

from ght.api.app import create_app
from ght.config import Settings
from ght.server import bind_socket

PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """uvicorn serving the real application on a loopback port, in a thread."""

    def __init__(self, settings: Settings, engine):
        self.url = f"http://{settings.http_host}:{settings.http_port}"
        sock = bind_socket(settings.http_host, settings.http_port)
        self.app = create_app(settings, engine)
        config = uvicorn.Config(self.app, log_config=None, access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=15, **kwargs)


def wait_healthy(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    """Wait until a `ght` server process answers /health, or fail with its stderr."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {process.communicate()[1]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not become healthy")


def marie(finess: str, **changes):
    """A woman's identity as a GAM sends it (compound given name, used name), for identity tests."""
    from datetime import date

    from ght.identity.service import IdentityInput

    base = dict(finess=finess, ipp="100001", birth_name="Lefèvre", given_names="Marie-Hélène Anne",
                birth_date=date(1985, 3, 14), sex="F", birth_place="49007", used_name="Martin",
                postcode="49000", city="Angers")
    return IdentityInput(**{**base, **changes})


def paul(finess: str, **changes):
    """A man born in Paris, a different person from `marie`."""
    from datetime import date

    from ght.identity.service import IdentityInput

    base = dict(finess=finess, ipp="C-77", birth_name="Durand", given_names="Paul", birth_date=date(1962, 11, 2),
                sex="M", birth_place="75056", postcode="75011", city="Paris")
    return IdentityInput(**{**base, **changes})


def add_establishments(db, chu: str, ch: str):
    """A support CHU and a partner CH in the directory, committed; returns both."""
    from ght.directory.models import Establishment

    rows = (Establishment(finess_ej=chu, name="CHU (fictif)", short_name="CHU", role="support"),
            Establishment(finess_ej=ch, name="CH (fictif)", short_name="CH", role="partie"))
    db.add_all(rows)
    db.commit()
    return rows


def run_ght(*args, cwd=None, timeout=600, **env):
    """`ght <args>` in a child process, as an operator runs it (plain-text logs)."""
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "ght", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env={**os.environ, "GHT_LOG_JSON": "false", **env})


def grant_record(db, account, kind: str = "record") -> None:
    """An explicit grant to the whole record for `account` (ght.access.models.AccessGrant), for the
    tests of the record's own features: the care-team rules are tested in tests/access."""
    from datetime import timedelta

    from ght.access.models import AccessGrant
    from ght.db.base import utcnow

    now = utcnow()
    db.add(AccessGrant(account_id=account.id, granted_by=account.id, kind=kind, reason="tests du dossier partagé",
                       starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=1)))
    db.commit()


def trace_count(db) -> int:
    """Entries of the access trace (a fresh snapshot: what the server committed)."""
    from sqlalchemy import func, select

    from ght.audit.models import AuditEntry

    db.rollback()
    return db.scalar(select(func.count()).select_from(AuditEntry))


def last_entries(db, n: int) -> list:
    """The last `n` trace entries, oldest first."""
    from sqlalchemy import select

    from ght.audit.models import AuditEntry

    db.rollback()
    if n <= 0:
        return []
    return list(reversed(db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(n)).all()))

