"""The server seals the trace itself: an access made through the API is chained within a moment,
and the chain verifies."""

from __future__ import annotations

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
    assert verify(db).intact
