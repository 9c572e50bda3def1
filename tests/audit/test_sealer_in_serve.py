"""The server seals the trace itself: an access made through the API is chained within a moment,
and the chain verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from sqlalchemy import select

from ght.audit.models import AuditEntry
from ght.audit.verify import verify
from support import PASSWORD, LiveServer


def test_the_server_seals_what_its_requests_append(settings, engine, db, make_account):
    make_account("doc")
    with LiveServer(settings.model_copy(update={"audit_seal_seconds": 0.05}), engine) as server, \
            server.client() as http:
        token = http.post("/auth/token", data={"username": "doc", "password": PASSWORD}).json()["access_token"]
        assert http.get("/fhir/Organization", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            db.rollback()
            entries = db.scalars(select(AuditEntry)).all()
            if entries and all(e.chain_seq is not None for e in entries):
                break
            time.sleep(0.05)
        assert entries and all(e.chain_seq is not None for e in entries)
        sealer = server.app.state.sealer.process
        assert sealer.is_alive() and sealer.pid != os.getpid()  # a process of its own, not a thread
    assert not sealer.is_alive()  # stopped with the server
    assert verify(db).intact


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_server_leaves_no_sealer_behind(settings):
    """SIGKILL gives the server no time to stop its sealer: the sealer sees its parent gone."""
    script = textwrap.dedent(f"""
        import time
        from ght.audit.sealer import SealerProcess
        from ght.config import Settings
        if __name__ == "__main__":
            sealer = SealerProcess(Settings(database_url={settings.database_url!r}, audit_seal_seconds=0.1))
            sealer.start()
            print(sealer.process.pid, flush=True)
            time.sleep(60)
    """)
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        sealer_pid = int(server.stdout.readline())
        assert _alive(sealer_pid)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        deadline = time.monotonic() + 10
        while _alive(sealer_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(sealer_pid)
    finally:
        server.kill()

