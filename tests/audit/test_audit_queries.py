"""The lists read from the trace: the patient's "who accessed my record", and the DIM
physician's periodic review (break-glass, refusals, accesses from outside the patient's establishments)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ght.audit.queries import ReviewCategory, accesses_to_patient, break_glass_list, review_list
from ght.audit.trail import AccessEvent, account_fields, record
from ght.directory.models import Account, AccountRole, Professional
from ght.identity.service import record_identity
from support import add_establishments, marie

CHU, CH = "490000031", "490000049"
T0 = datetime(2026, 4, 1, 8, tzinfo=UTC)


@pytest.fixture
def territory(db):
    """A patient known at the CHU only; a CHU clinician, a CH clinician, an external GP."""
    chu, ch = add_establishments(db, CHU, CH)
    patient = record_identity(db, marie(CHU), actor="test", channel="api").patient_id

    def account(username, family, establishment, role, rpps=None):
        professional = Professional(rpps=rpps, family_name=family, given_name="Claire", profession="medecin",
                                    external=establishment is None)
        row = Account(username=username, professional=professional,
                      establishment_id=establishment.id if establishment else None,
                      role_rows=[AccountRole(role=role)])
        db.add(row)
        return row

    accounts = {"chu": account("c.martin", "MARTIN", chu, "clinician", "10001234565"),
                "ch": account("p.durand", "DURAND", ch, "clinician"),
                "gp": account("dr.traitant", "LEROY", None, "external")}
    db.commit()
    return patient, accounts


def access(db, account, patient, minutes, **changes):
    fields = dict(action="read", purpose="care", outcome="allowed", door="web", ght_patient_id=patient,
                  recorded_at=T0 + timedelta(minutes=minutes))
    record(db, AccessEvent(**account_fields(account), **{**fields, **changes}))


def test_who_accessed_my_record(db, territory):
    patient, accounts = territory
    access(db, accounts["chu"], patient, 1)
    access(db, accounts["gp"], patient, 2, action="search")
    access(db, accounts["ch"], patient, 3, outcome="denied", reason="hors de l'équipe de soins")
    access(db, accounts["ch"], patient, 4, purpose="emergency", break_glass_reason="patient inconscient")
    access(db, accounts["chu"], "P-AUTRE", 5)
    db.commit()

    lines = accesses_to_patient(db, patient)
    assert [(line.account, line.action) for line in lines] == [("p.durand", "read"), ("dr.traitant", "search"),
                                                                ("c.martin", "read")]  # newest first, no refusal
    newest, _, oldest = lines
    assert (oldest.professional, oldest.role, oldest.establishment) == ("Claire MARTIN", "clinician", "CHU")
    assert oldest.recorded_at == T0 + timedelta(minutes=1)
    assert (newest.establishment, newest.purpose, newest.break_glass_reason) == ("CH", "emergency", "patient inconscient")
    assert lines[1].establishment is None  # the GP is outside the group's hospitals
    with_refusals = accesses_to_patient(db, patient, include_denied=True)
    assert [line.outcome for line in with_refusals].count("denied") == 1
    assert [line.account for line in accesses_to_patient(db, patient, since=T0 + timedelta(minutes=2),
                                                         until=T0 + timedelta(minutes=4))] == ["dr.traitant"]


def test_review_puts_break_glass_first_then_refusals_then_outside_accesses(db, territory):
    patient, accounts = territory
    access(db, accounts["chu"], patient, 1)  # the patient's own establishment: not flagged
    access(db, accounts["ch"], patient, 2)  # CH, where the patient is unknown
    access(db, accounts["gp"], patient, 3)  # external professional
    access(db, accounts["ch"], patient, 4, outcome="denied", reason="opposition du patient")
    access(db, accounts["ch"], patient, 5, purpose="emergency", break_glass_reason="patient inconscient")
    access(db, accounts["chu"], None, 6, action="login")  # no patient: not an access to review
    access(db, accounts["ch"], patient, 90)  # outside the period
    db.commit()

    items = review_list(db, T0, T0 + timedelta(hours=1))
    assert [(item.category, item.account, item.recorded_at - T0) for item in items] == [
        (ReviewCategory.BREAK_GLASS, "p.durand", timedelta(minutes=5)),
        (ReviewCategory.DENIED, "p.durand", timedelta(minutes=4)),
        (ReviewCategory.OUTSIDE_ESTABLISHMENTS, "p.durand", timedelta(minutes=2)),
        (ReviewCategory.OUTSIDE_ESTABLISHMENTS, "dr.traitant", timedelta(minutes=3)),
    ]
    assert items[1].reason == "opposition du patient"
    glass = break_glass_list(db, T0, T0 + timedelta(hours=1))
    assert [(g.account, g.break_glass_reason) for g in glass] == [("p.durand", "patient inconscient")]
