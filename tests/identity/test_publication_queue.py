"""The publication queue on a real database: every link, merge and unmerge made by the
identity service queues one publication per active subscriber in the same transaction,
nothing for a rolled-back change nor for the batch initial load; what each notice tells;
the retry delay and the per-subscriber order of the queue."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from ght.db.base import utcnow
from ght.directory.identifiers import finess_with_key
from ght.identity import publication
from ght.identity.ins import INS_NIR_DEMO_OID, nir_with_key
from ght.identity.models import LinkEvent, Publication, Subscriber
import support
from ght.identity.service import IdentityInput, merge_patients, record_identity, unmerge

CHU = finess_with_key("49000031")
CH = finess_with_key("49000049")
NIR = nir_with_key("2850349007123")


@pytest.fixture
def subscribers(db):
    chu, ch = support.add_establishments(db, CHU, CH)
    subs = [
        Subscriber(establishment_id=chu.id, name="GAM CHU", kind="mllp", endpoint="127.0.0.1:2575"),
        Subscriber(establishment_id=ch.id, name="DPI CH", kind="fhir", endpoint="http://127.0.0.1:9/hook"),
        Subscriber(establishment_id=ch.id, name="Ancien GAM CH", kind="mllp", endpoint="127.0.0.1:2576", active=False),
    ]
    db.add_all(subs)
    db.commit()
    return subs


def marie(**changes) -> IdentityInput:
    return support.marie(**{"finess": CHU, **changes})


def paul(**changes) -> IdentityInput:
    return support.paul(**{"finess": CH, **changes})


def queued(db) -> list[tuple[str, int, str]]:
    """(action, subscriber id, status) of every publication, in event then subscriber order."""
    db.expire_all()
    rows = db.execute(
        select(LinkEvent.action, Publication.subscriber_id, Publication.status)
        .join(LinkEvent, LinkEvent.id == Publication.link_event_id)
        .order_by(Publication.link_event_id, Publication.subscriber_id)
    ).all()
    return [tuple(row) for row in rows]


def test_a_link_queues_one_pending_publication_per_active_subscriber(db, subscribers):
    mllp, fhir, inactive = subscribers
    record_identity(db, marie(), actor="test", channel="api")
    db.commit()
    assert queued(db) == [("link", mllp.id, "pending"), ("link", fhir.id, "pending")]
    pub = db.scalars(select(Publication)).first()
    assert (pub.attempts, pub.last_error, pub.sent_at) == (0, "", None)
    assert pub.next_attempt_at <= utcnow()


def test_merge_and_unmerge_are_queued_in_event_order(db, subscribers):
    mllp, fhir, _ = subscribers
    first = record_identity(db, marie(), actor="test", channel="api")
    second = record_identity(db, paul(), actor="test", channel="api")
    assert first.patient_id != second.patient_id
    merge = merge_patients(db, first.patient_id, second.patient_id, actor="iv", channel="api", reason="doublon")
    unmerge(db, merge.id, actor="iv", channel="api", reason="erreur")
    db.commit()
    assert queued(db) == [
        (action, subscriber.id, "pending")
        for action in ("link", "link", "merge", "unmerge") for subscriber in (mllp, fhir)
    ]


def test_a_rolled_back_change_queues_nothing(db, subscribers):
    record_identity(db, marie(), actor="test", channel="api")
    db.rollback()
    assert queued(db) == [] and db.scalars(select(LinkEvent)).all() == []

    # Within a savepoint: the change undone, the one kept around it still queued.
    savepoint = db.begin_nested()
    record_identity(db, paul(), actor="test", channel="api")
    savepoint.rollback()
    record_identity(db, marie(), actor="test", channel="api")
    db.commit()
    assert [action for action, _, _ in queued(db)] == ["link", "link"]
    assert len(db.scalars(select(LinkEvent)).all()) == 1


def test_the_batch_initial_load_queues_nothing(db, subscribers, tmp_path):
    from ght.identity.batch import link_rows
    from ght.identity.csvio import INPUT_COLUMNS, read_identities

    path = tmp_path / "identities.csv"
    path.write_text("\n".join([
        ",".join(INPUT_COLUMNS),
        f"{CHU},B1,DUPONT,,Jeanne,1950-01-02,F,49007,,,49000,ANGERS,",
        f"{CH},B2,DUPONT,,Jeanne,1950-01-02,F,49007,,,49000,ANGERS,",
        f"{CH},B3,MOREAU,,Louis,1977-07-07,M,44109,,,44000,NANTES,",
    ]) + "\n", encoding="utf-8")
    link_rows(db, path, read_identities(path), actor="batch", register_unknown=False, train=False)
    db.commit()
    assert len(db.scalars(select(LinkEvent)).all()) == 3
    assert queued(db) == []


def test_a_subscriber_registered_later_gets_only_later_changes(db, subscribers):
    record_identity(db, marie(), actor="test", channel="api")
    db.commit()
    late = Subscriber(establishment_id=subscribers[0].establishment_id, name="Nouveau", kind="fhir",
                      endpoint="http://127.0.0.1:9/new")
    db.add(late)
    db.commit()
    record_identity(db, paul(), actor="test", channel="api")
    db.commit()
    assert [(a, s) for a, s, _ in queued(db) if s == late.id] == [("link", late.id)]


def test_notices_say_who_moves_where(db, subscribers):
    first = record_identity(db, marie(ins=NIR, ins_oid=INS_NIR_DEMO_OID, status="QUAL"), actor="t", channel="api")
    second = record_identity(db, paul(), actor="t", channel="api")
    merge = merge_patients(db, first.patient_id, second.patient_id, actor="iv", channel="api")
    back = unmerge(db, merge.id, actor="iv", channel="api")
    db.commit()

    link_event = db.scalars(select(LinkEvent).where(LinkEvent.identity_id == first.identity_id)).one()
    link = publication.describe(db, link_event)
    (change,) = link.links
    assert (change.kind, change.patient.ght_id, change.identity.ipp, change.identity.finess) == (
        "link", first.patient_id, "100001", CHU)
    # A qualified identity carries its INS out; a provisional one does not.
    assert (change.identity.ins, change.identity.ins_oid) == (NIR, INS_NIR_DEMO_OID)
    assert (change.identity.birth_name, change.identity.used_name) == ("LEFEVRE", "MARTIN")

    merged = publication.describe(db, merge)
    assert merged.links == ()
    assert (merged.merge.survivor.ght_id, merged.merge.absorbed.ght_id) == (first.patient_id, second.patient_id)
    assert (merged.merge.survivor.active, merged.merge.absorbed.active) == (True, False)
    # The absorbed patient has no identity left now: its demographics come from one it had.
    assert merged.merge.absorbed.person.ipp == "C-77"

    undone = publication.describe(db, back)
    (moved,) = undone.links
    assert (moved.kind, moved.identity.ipp, moved.identity.ght_id, moved.patient.ght_id) == (
        "unlink", "C-77", second.patient_id, first.patient_id)
    assert moved.identity.ins is None
    assert [p.ght_id for p in undone.patients()] == [first.patient_id, second.patient_id]


def test_retry_delay_doubles_from_one_second_up_to_the_cap():
    delays = [publication.backoff(n, 1, 3600).total_seconds() for n in (1, 2, 3, 4, 12, 13, 500)]
    assert delays == [1, 2, 4, 8, 2048, 3600, 3600]


def test_the_head_of_a_subscriber_queue_holds_back_later_ones(db, subscribers):
    mllp = subscribers[0]
    record_identity(db, marie(), actor="t", channel="api")
    record_identity(db, paul(), actor="t", channel="api")
    db.commit()
    pubs = db.scalars(select(Publication).where(Publication.subscriber_id == mllp.id)
                      .order_by(Publication.link_event_id)).all()
    now = utcnow()
    publication.mark_failed(pubs[0], "refus du destinataire (AE)", now, initial=1, maximum=3600)
    db.commit()
    assert pubs[0].next_attempt_at == now + timedelta(seconds=1) and pubs[0].attempts == 1
    # The head is not due yet, the next one is: the head is still what comes next.
    assert publication.queue_head(db, mllp.id).id == pubs[0].id
    publication.mark_sent(pubs[0], now)
    db.commit()
    assert publication.queue_head(db, mllp.id).id == pubs[1].id
    assert (pubs[0].status, pubs[0].attempts, pubs[0].last_error) == ("sent", 2, "")
