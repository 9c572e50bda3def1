"""The identity server's operations on a real database: create, update, link by INS and by
score, review, collisions, merges and their exact undo, IPP changes, RNIV status rules."""

from datetime import date

import pytest
from sqlalchemy import select

from ght.identity.ins import INS_NIR_DEMO_OID, nir_with_key
from ght.identity.models import GhtPatient, IdentityChange, LinkEvent, LocalIdentity, ReviewItem
from ght.identity.patient_ids import is_valid_patient_id
from ght.identity.service import (
    IdentityInput, IdentityRejected, change_ipp, merge_local_identities, record_identity, unmerge,
)
from support import add_establishments

CHU, CH = "490000031", "490000049"
NIR = nir_with_key("2850349007123")  # woman born March 1985 in Maine-et-Loire
TWIN_NIR = nir_with_key("2850349007124")  # next birth order, same commune and month


@pytest.fixture
def establishments(db):
    add_establishments(db, CHU, CH)


def person(**changes) -> IdentityInput:
    base = dict(
        finess=CHU, ipp="100001", birth_name="Lefèvre", given_names="Marie-Hélène Anne",
        birth_date=date(1985, 3, 14), sex="F", birth_place="49007", used_name="Martin",
        address="3 rue des Lices", postcode="49000", city="Angers", phone="06 12 34 56 78",
    )
    base.update(changes)
    return IdentityInput(**base)


def record(db, data):
    result = record_identity(db, data, actor="test", channel="api")
    db.commit()
    return result


def test_new_identity_gets_an_opaque_checked_patient_id_and_rniv_traits(db, establishments):
    result = record(db, person())
    assert result.decision == "new" and result.created
    assert is_valid_patient_id(result.patient_id)
    identity = db.get(LocalIdentity, result.identity_id)
    assert (identity.birth_name, identity.first_given_name, identity.given_names) == ("LEFEVRE", "MARIE-HELENE", "MARIE-HELENE ANNE")
    assert identity.used_name == "MARTIN" and identity.status == "PROV"
    history = db.scalars(select(IdentityChange).where(IdentityChange.identity_id == identity.id)).all()
    assert [(h.event, h.version) for h in history] == [("create", 1)]


def test_qualified_ins_links_across_establishments(db, establishments):
    first = record(db, person(ins=NIR, ins_oid=INS_NIR_DEMO_OID, status="QUAL"))
    second = record(db, person(finess=CH, ipp="X77", birth_name="LEFEVRE", given_names="Marie Helene",
                               ins=NIR, status="QUAL", phone="", address=""))
    assert second.decision == "linked" and second.patient_id == first.patient_id
    event = db.scalars(select(LinkEvent).where(LinkEvent.identity_id == second.identity_id)).one()
    assert event.reason == "INS qualifié identique"


def test_typo_and_swapped_date_link_by_score(db, establishments):
    first = record(db, person())
    second = record(db, person(finess=CH, ipp="B2", birth_name="Lefevbre", birth_date=date(1985, 3, 14)))
    assert second.decision == "linked" and second.patient_id == first.patient_id


def test_different_person_is_a_new_patient(db, establishments):
    first = record(db, person())
    other = record(db, person(finess=CH, ipp="Z9", birth_name="Durand", given_names="Paul", sex="M",
                              birth_date=date(1962, 11, 2), birth_place="75056", used_name="",
                              phone="", address="", postcode="75011", city="Paris"))
    assert other.decision == "new" and other.patient_id != first.patient_id


def test_same_qualified_ins_with_contradicting_traits_is_an_alert_not_a_link(db, establishments):
    first = record(db, person(ins=NIR, status="QUAL"))
    second = record(db, person(finess=CH, ipp="C3", ins=NIR, status="QUAL", birth_name="Lefèvre",
                               sex="M", given_names="Jacques", birth_date=date(1940, 1, 1)))
    assert second.patient_id != first.patient_id
    alert = db.scalars(select(ReviewItem)).one()
    assert alert.kind == "ins_collision" and {alert.identity_a, alert.identity_b} == {first.identity_id, second.identity_id}


def test_two_different_valid_ins_are_never_linked_automatically(db, establishments):
    first = record(db, person(ins=NIR, status="RECUP"))
    twin = record(db, person(finess=CH, ipp="T1", ins=TWIN_NIR, status="RECUP"))
    assert twin.patient_id != first.patient_id
    assert db.scalars(select(ReviewItem.kind)).all() == ["ins_conflict"]


def test_invalid_ins_is_kept_flagged_and_not_used_to_link(db, establishments):
    bad = NIR[:-2] + ("00" if NIR[-2:] != "00" else "01")
    result = record(db, person(ins=bad))
    identity = db.get(LocalIdentity, result.identity_id)
    assert identity.ins == bad and identity.ins_valid is False
    with pytest.raises(IdentityRejected) as refused:
        record_identity(db, person(ipp="100002", ins=bad, status="QUAL"), actor="t", channel="api")
    assert refused.value.field == "ins" and "clé" in refused.value.message


def test_rniv_status_transitions(db, establishments):
    record(db, person(ins=NIR, status="RECUP"))
    with pytest.raises(IdentityRejected) as refused:
        record_identity(db, person(ins=NIR, status="VALI"), actor="t", channel="api")
    assert refused.value.field == "status" and "RECUP à VALI" in refused.value.message
    db.rollback()
    updated = record(db, person(ins=NIR, status="QUAL"))
    assert updated.decision == "updated"
    assert db.get(LocalIdentity, updated.identity_id).version == 2


def test_unknown_establishment_and_status_are_rejected_with_the_field(db, establishments):
    with pytest.raises(IdentityRejected) as refused:
        record_identity(db, person(finess="999999999"), actor="t", channel="api")
    assert refused.value.field == "finess"
    with pytest.raises(IdentityRejected) as refused:
        record_identity(db, person(status="ZZZ"), actor="t", channel="api")
    assert refused.value.field == "status"


def test_a40_merge_then_exact_unmerge(db, establishments):
    kept = record(db, person())
    other = record(db, person(finess=CH, ipp="Q1", birth_name="Durand", given_names="Paul", sex="M",
                              birth_date=date(1962, 11, 2), used_name="", phone="", address=""))
    extra = record(db, person(finess=CH, ipp="Q2", birth_name="Durand", given_names="Paul", sex="M",
                              birth_date=date(1962, 11, 2), used_name="", phone="", address=""))
    assert extra.patient_id == other.patient_id
    before = {i.id: i.patient_id for i in db.scalars(select(LocalIdentity))}
    # The CH declares Q1 is the same person as... its own Q2 retired into Q1: same patient, no GHT merge.
    merge_local_identities(db, CH, "Q1", "Q2", actor="t", channel="hl7")
    db.commit()
    assert db.get(LocalIdentity, extra.identity_id).active is False
    assert db.scalars(select(LinkEvent).where(LinkEvent.action == "merge")).all() == []

    from ght.identity.service import merge_patients
    event = merge_patients(db, kept.patient_id, other.patient_id, actor="iv", channel="api", reason="test")
    db.commit()
    assert {i.patient_id for i in db.scalars(select(LocalIdentity))} == {kept.patient_id}
    assert db.get(GhtPatient, other.patient_id).merged_into == kept.patient_id
    unmerge(db, event.id, actor="iv", channel="api")
    db.commit()
    assert {i.id: i.patient_id for i in db.scalars(select(LocalIdentity))} == before
    assert db.get(GhtPatient, other.patient_id).merged_into is None
    with pytest.raises(IdentityRejected, match="déjà été annulée"):
        unmerge(db, event.id, actor="iv", channel="api")


def test_a47_changes_the_ipp_and_keeps_the_link(db, establishments):
    first = record(db, person())
    result = change_ipp(db, CHU, "100001", "200001", actor="t", channel="hl7")
    db.commit()
    assert result.patient_id == first.patient_id
    assert db.get(LocalIdentity, first.identity_id).ipp == "200001"
    with pytest.raises(IdentityRejected) as refused:
        change_ipp(db, CHU, "100001", "300001", actor="t", channel="hl7")
    assert refused.value.field == "ipp"


def test_an_update_keeps_what_it_does_not_send(db, establishments):
    first = record(db, person(ins=NIR, status="QUAL"))
    update = IdentityInput(finess=CHU, ipp="100001", birth_name="Lefèvre", given_names="Marie-Hélène Anne",
                           birth_date=date(1985, 3, 14), sex="F", phone="07 00 00 00 01")
    assert record(db, update).decision == "updated"
    identity = db.get(LocalIdentity, first.identity_id)
    assert identity.phone == "07 00 00 00 01"  # sent: changed
    assert (identity.ins, identity.status, identity.address, identity.used_name) == (NIR, "QUAL", "3 rue des Lices", "MARTIN")
