"""The pipeline on a real database: stored before answered, applied once, refusals located,
duplicates, recovery after a crash, concurrent repeats, and the identity server's own refusals
and failures."""

import threading

import pytest
from sqlalchemy import func, select

from ght.identity import service
from ght.identity.models import IdentityChange, LinkEvent, LocalIdentity
from ght.interop.hl7v2 import feed as feed_module
from ght.interop.hl7v2.dispatch import Registry, default_registry
from ght.interop.hl7v2.feed import Feed, fingerprint
from ght.interop.hl7v2.models import Hl7Message
from interop.hl7_samples import (
    CHU,
    CHU_SITE,
    INS_MARIE,
    INS_PAUL,
    a28,
    ack_fields,
    add_establishments,
    message,
    mrg,
    pid,
)


def rows(db) -> list[Hl7Message]:
    db.expire_all()
    return list(db.scalars(select(Hl7Message).order_by(Hl7Message.id)))


def count(db, model) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model))


def identity(db, ipp: str) -> LocalIdentity | None:
    db.expire_all()
    return db.scalar(select(LocalIdentity).where(LocalIdentity.ipp == ipp))


def test_a28_is_stored_applied_and_acknowledged(engine, db):
    add_establishments(db)
    reply = Feed(engine).receive(a28("A28-1"), "10.0.0.7:40001")
    assert (reply.status, reply.ack_code, reply.duplicate) == ("applied", "AA", False)
    assert ack_fields(reply.payload) == {"msa1": "AA", "msa2": "A28-1"}
    [row] = rows(db)
    assert (row.status, row.ack_code, row.ack, row.control_id) == ("applied", "AA", reply.ack, "A28-1")
    assert (row.sending_application, row.sending_facility) == ("GAM_CHU", f"CHU_ANGERS^{CHU}^M")
    assert (row.message_type, row.peer, row.charset) == ("ADT^A28", "10.0.0.7:40001", "utf-8")
    assert row.applied_at is not None and row.received_at <= row.applied_at
    assert row.raw.startswith("MSH|^~\\&|GAM_CHU|") and "Hélène" in row.raw
    assert row.result.startswith("identity ")
    marie = identity(db, "100234")
    assert marie.establishment.finess_ej == CHU
    assert (marie.birth_name, marie.given_names, marie.used_name) == ("DUPONT", "MARIE HELENE ANNE", "MARTIN")
    assert (marie.ins, marie.status, marie.birth_place, marie.sex) == (INS_MARIE, "QUAL", "49007", "F")
    [change] = db.scalars(select(IdentityChange))
    assert (change.channel, change.reference, change.actor) == ("hl7", "A28-1", "GAM_CHU@CHU_ANGERS")


def test_a31_updates_and_admissions_carry_identities(engine, db):
    add_establishments(db)
    feed = Feed(engine)
    assert feed.receive(a28("U-1")).status == "applied"
    update = message("A31", "U-2", pid(names="DUPONT^Marie^Marie Hélène Anne^^^^L~LEBRUN^Marie^^^^^D"))
    assert feed.receive(update.encode()).ack_code == "AA"
    assert identity(db, "100234").used_name == "LEBRUN"
    for number, (event, given) in enumerate(zip(["A01", "A04", "A05", "A08"], ["Paul", "Luc", "Jean", "Léo"]), 1):
        raw = message(event, f"ADM-{number}", pid(ipp=f"20{number}", ins=None, status="PROV",
                                                  names=f"MARTIN^{given}^^^^^L", sex="M"))
        reply = feed.receive(raw.encode())
        assert (event, reply.ack_code) == (event, "AA")
        assert identity(db, f"20{number}").first_given_name == given.upper().replace("É", "E")
    assert [r.message_type for r in rows(db)] == ["ADT^A28", "ADT^A31", "ADT^A01", "ADT^A04", "ADT^A05", "ADT^A08"]


def test_a_site_finess_is_taken_as_its_establishment(engine, db):
    add_establishments(db)
    reply = Feed(engine).receive(message("A28", "SITE-1", pid(finess=CHU_SITE)).encode())
    assert reply.ack_code == "AA"
    assert identity(db, "100234").establishment.finess_ej == CHU


def test_a_repeat_is_not_applied_twice_and_gets_the_same_ack(engine, db):
    add_establishments(db)
    feed = Feed(engine)
    first = feed.receive(a28("DUP-1"))
    again = feed.receive(a28("DUP-1"))
    # A resend re-dated in MSH-7 and with LF line ends is the same message.
    redated = a28("DUP-1").replace(b"|20240301101500||ADT", b"|20240301111111||ADT").replace(b"\r", b"\r\n")
    third = feed.receive(redated)
    assert first.status == "applied"
    assert again.duplicate and third.duplicate
    assert again.ack == third.ack == first.ack
    assert count(db, Hl7Message) == 1
    assert count(db, IdentityChange) == 1
    assert count(db, LocalIdentity) == 1


def test_same_control_id_with_other_content_is_refused(engine, db):
    add_establishments(db)
    feed = Feed(engine)
    assert feed.receive(a28("DUP-2")).ack_code == "AA"
    reply = feed.receive(a28("DUP-2", birth_date="19600101"))
    fields = ack_fields(reply.payload)
    assert (fields["msa1"], fields["msa2"], fields["err2"], fields["err3"]) == ("AR", "DUP-2", "MSH^1^10", "205")
    assert "déjà reçu" in fields["err8"]
    assert identity(db, "100234").birth_date.year == 1955
    first, second = rows(db)
    assert (first.status, first.control_id) == ("applied", "DUP-2")
    assert (second.status, second.control_id) == ("rejected", None)


def test_unknown_establishment_is_refused_then_applied_once_declared(engine, db):
    feed = Feed(engine)
    refused = feed.receive(a28("EST-1"))
    fields = ack_fields(refused.payload)
    assert (fields["msa1"], fields["err2"], fields["err3"], fields["err4"]) == ("AE", "PID^1^3^1^4", "204", "E")
    assert f"établissement inconnu du GHT : FINESS {CHU}" in fields["err8"]
    assert rows(db)[0].status == "rejected"
    add_establishments(db)
    accepted = feed.receive(a28("EST-1"))
    assert (accepted.ack_code, accepted.duplicate) == ("AA", False)
    old, new = rows(db)
    assert (old.status, old.control_id, new.status, new.control_id) == ("rejected", None, "applied", "EST-1")
    assert feed.receive(a28("EST-1")).ack == accepted.ack


def test_a_latin1_sender_gets_a_latin1_ack(engine, db):
    reply = Feed(engine).receive(message("A28", "LAT-1", pid(), charset="8859/1").encode("latin-1"))
    text = reply.payload.decode("latin-1")
    assert "|8859/1\r" in text.split("MSA")[0]
    assert "établissement inconnu" in text
    assert rows(db)[0].charset == "cp1252" and "Hélène" in rows(db)[0].raw


@pytest.mark.parametrize(
    ("changes", "erl", "code"),
    [
        ({"ins": None}, "PID^1^3", "102"),  # QUAL without an INS
        ({"ins": INS_MARIE[:-2] + "00"}, "PID^1^3^2^1", "102"),  # wrong NIR key
        ({"status": "VALI~ZZZZ"}, "PID^1^32", "103"),  # not a table 0445 attribute
    ],
)
def test_identity_server_refusals_point_at_the_hl7_field(engine, db, changes, erl, code):
    add_establishments(db)
    reply = Feed(engine).receive(a28("REF-1", **changes))
    fields = ack_fields(reply.payload)
    assert (fields["msa1"], fields["err2"], fields["err3"]) == ("AE", erl, code)
    assert count(db, LocalIdentity) == 0
    assert rows(db)[0].error == fields["err8"]


def test_a_failure_of_the_identity_server_keeps_the_message(engine, db, monkeypatch):
    add_establishments(db)
    feed = Feed(engine)

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(service, "record_identity", broken)
    reply = feed.receive(a28("BUG-1"))
    fields = ack_fields(reply.payload)
    assert (reply.status, fields["msa1"], fields["err3"]) == ("error", "AE", "207")
    assert "conservé" in fields["err8"]
    [row] = rows(db)
    assert row.status == "error" and "RuntimeError: simulated bug" in row.error
    monkeypatch.undo()
    # The same feed keeps serving, and the repeat is applied now that the bug is gone.
    assert feed.receive(a28("BUG-1")).ack_code == "AA"
    assert [(r.status, r.control_id) for r in rows(db)] == [("error", None), ("applied", "BUG-1")]


@pytest.mark.parametrize(
    ("header", "erl", "code"),
    [
        ({"message_code": "ADT", "structure": "ADT_A01"}, None, None),
        ({"event": "Z99"}, "MSH^1^9^1^2", "201"),
        ({"message_code": "SIU"}, "MSH^1^9^1^1", "200"),  # ORU is taken since the record feeds
        ({"version": "2.3.1"}, "MSH^1^12", "203"),
        ({"processing": "T"}, "MSH^1^11", "202"),
        ({"facility": ""}, "MSH^1^4", "101"),
    ],
)
def test_header_refusals_are_stored_and_answered_ar(engine, db, header, erl, code):
    add_establishments(db)
    header = dict(header)  # parameters are shared by the backends' runs
    event = header.pop("event", "A28")
    reply = Feed(engine).receive(message(event, "HDR-1", pid(), **header).encode())
    fields = ack_fields(reply.payload)
    if erl is None:
        assert fields["msa1"] == "AA"
        return
    assert (fields["msa1"], fields["msa2"], fields["err2"], fields["err3"]) == ("AR", "HDR-1", erl, code)
    [row] = rows(db)
    assert (row.status, row.ack_code, row.control_id) == ("rejected", "AR", "HDR-1")
    if event == "Z99":
        assert "« ADT Z99 »" in fields["err8"] and "ADT A28, ADT A31" in fields["err8"]


def test_unreadable_messages_are_stored_without_key(engine, db):
    feed = Feed(engine)
    bad = a28("UTF-1").replace("Hélène".encode(), "Hélène".encode("latin-1"))
    for _ in range(2):
        fields = ack_fields(feed.receive(bad).payload)
        assert (fields["msa1"], fields["msa2"], fields["err2"]) == ("AR", "UTF-1", "MSH^1^18")
    stored = rows(db)
    assert [(r.status, r.control_id, r.ack_code) for r in stored] == [("rejected", None, "AR")] * 2
    assert "\\xe9" in stored[0].raw and stored[0].sending_application == "GAM_CHU"
    nul = feed.receive(b"MSH|^~\\&|A|B|||||ADT^A28|N1|P|2.5\rPID|1||\x00\r")
    assert ack_fields(nul.payload)["err2"] == "PID^1^3"
    assert "\\x00" in rows(db)[-1].raw


def test_recovery_applies_pending_messages_in_reception_order(engine, db):
    add_establishments(db)
    # What a crash between the store commit and the apply leaves behind.
    first = a28("REC-1").decode()
    second = message("A31", "REC-2", pid(names="DUPONT^Marie^^^^^L~DURAND^Marie^^^^^D"))
    for control_id, raw, kind in (("REC-1", first, "ADT^A28"), ("REC-2", second, "ADT^A31")):
        db.add(Hl7Message(sending_application="GAM_CHU", sending_facility=f"CHU_ANGERS^{CHU}^M",
                          control_id=control_id, message_type=kind, charset="utf-8", raw=raw, status="received"))
    db.commit()
    feed = Feed(engine)
    assert feed.recover() == 2
    assert [(r.status, r.ack_code) for r in rows(db)] == [("applied", "AA"), ("applied", "AA")]
    assert identity(db, "100234").used_name == "DURAND"  # the update came after the creation
    repeat = feed.receive(first.encode())
    assert repeat.duplicate and repeat.ack == rows(db)[0].ack
    assert feed.recover() == 0
    assert count(db, IdentityChange) == 2


def test_concurrent_repeats_are_applied_once(engine, db):
    add_establishments(db)
    feed = Feed(engine)
    start = threading.Barrier(4)
    replies = []

    def send():
        start.wait()
        replies.append(feed.receive(a28("RACE-1")))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(replies) == 4
    assert {reply.ack_code for reply in replies} == {"AA"}
    assert len({reply.ack for reply in replies}) == 1
    assert count(db, Hl7Message) == 1
    assert count(db, IdentityChange) == 1


def test_a40_merges_and_a47_changes_the_ipp(engine, db):
    add_establishments(db)
    feed = Feed(engine)
    assert feed.receive(a28("M-1", ipp="100")).ack_code == "AA"
    other = message("A28", "M-2", pid(ipp="200", ins=INS_PAUL, names="MARTIN^Paul^^^^^L", sex="M",
                                      birth_date="19800117", status="VALI"))
    assert feed.receive(other.encode()).ack_code == "AA"
    merge = feed.receive(message("A40", "M-3", pid(ipp="100"), mrg("200")).encode())
    assert merge.ack_code == "AA", merge.ack
    retired, kept = identity(db, "200"), identity(db, "100")
    assert not retired.active and retired.patient_id == kept.patient_id
    assert db.scalar(select(LinkEvent).where(LinkEvent.action == "merge")).channel == "hl7"

    change = feed.receive(message("A47", "M-4", pid(ipp="100-BIS"), mrg("100")).encode())
    assert change.ack_code == "AA", change.ack
    assert identity(db, "100") is None and identity(db, "100-BIS").id == kept.id

    unknown = ack_fields(feed.receive(message("A40", "M-5", pid(ipp="100-BIS"), mrg("999")).encode()).payload)
    assert (unknown["msa1"], unknown["err2"], unknown["err3"]) == ("AE", "MRG^1^1^1^1", "204")
    assert "IPP 999 inconnu" in unknown["err8"]
    taken = ack_fields(feed.receive(message("A47", "M-6", pid(ipp="100-BIS"), mrg("100-BIS")).encode()).payload)
    assert (taken["msa1"], taken["err2"], taken["err3"]) == ("AE", "PID^1^3^1^1", "205")


def test_a40_groups_are_applied_together_or_not_at_all(engine, db):
    add_establishments(db)
    feed = Feed(engine)
    for ipp in ("1", "2"):
        assert feed.receive(a28(f"G-{ipp}", ipp=ipp, ins=None, status="PROV")).ack_code == "AA"
    reply = feed.receive(message("A40", "G-3", pid(ipp="1"), mrg("2"), pid(ipp="1", sequence=2), mrg("404")).encode())
    assert ack_fields(reply.payload)["err2"] == "MRG^2^1^1^1"
    assert identity(db, "2").active  # the first group was rolled back with the second


def test_routes_can_chain_handlers_in_one_transaction(engine, db):
    add_establishments(db)
    calls = []
    registry = default_registry()
    registry.add("ADT", ("A01",), lambda session, inbound: calls.append(inbound.reference) or "encounter noted")
    reply = Feed(engine, registry).receive(message("A01", "CHAIN-1", pid()).encode())
    assert reply.ack_code == "AA" and calls == ["CHAIN-1"]
    assert rows(db)[0].result.endswith("; encounter noted")
    assert "ADT^A47" in registry.events() and "ORU^R01" not in Registry().events()


def test_fingerprint_ignores_msh7_and_line_ends():
    text = a28("F1").decode()
    assert fingerprint(text) == fingerprint(text.replace("20240301101500||", "20990101000000||").replace("\r", "\n"))
    assert fingerprint(text) != fingerprint(text.replace("DUPONT", "DUPOND"))
    assert feed_module.EXIT_AFTER_PERSIST == "GHT_MLLP_TEST_EXIT_AFTER_PERSIST"
