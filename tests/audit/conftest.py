"""Fixtures of the trace's tests: entries built from a few overrides, and a sealed trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ght.audit.chain import seal_all
from ght.audit.models import AuditEntry
from ght.audit.trail import AccessEvent, record

DEFAULTS = dict(account="c.martin", account_id=7, rpps="10001234565", role="clinician", action="read",
                purpose="care", outcome="allowed", door="fhir", establishment_id=None, ght_patient_id="P0001",
                resources=("Observation/12", "Observation/13"), client_address="10.1.2.3")


def make_event(**changes) -> AccessEvent:
    return AccessEvent(**{**DEFAULTS, **changes})


@pytest.fixture
def event():
    """AccessEvent factory: a clinician's FHIR read of a patient's observations, with overrides."""
    return make_event


@pytest.fixture
def sealed(db):
    """`sealed(n, **changes)`: record n entries one second apart (recorded at `start` onwards),
    seal them, commit; returns the entries in chain order."""

    def make(n: int, start: datetime | None = None, **changes) -> list[AuditEntry]:
        start = start or datetime.now(UTC) - timedelta(minutes=1)
        for i in range(n):
            record(db, make_event(recorded_at=start + timedelta(seconds=i), **changes))
        seal_all(db)
        db.commit()
        return sealed_entries(db)

    return make


def sealed_entries(db) -> list[AuditEntry]:
    db.expire_all()
    return list(db.scalars(select(AuditEntry).where(AuditEntry.chain_seq.is_not(None)).order_by(AuditEntry.chain_seq)))


@pytest.fixture
def read_chain(db):
    """The sealed entries as the database holds them now, in chain order."""
    return lambda: sealed_entries(db)
