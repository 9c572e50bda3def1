"""Delivery of link changes to real receivers on loopback: an MLLP server (python-hl7 asyncio
streams, in a thread) scripted to refuse then accept, a port where nobody listens, a silent
peer, and an HTTP server for the FHIR hook. Checks the HL7 and FHIR content, the retries with
their delays, and the order of each subscriber's queue, with one worker and with two."""

import asyncio
import http.server
import json
import threading
from datetime import date, timedelta

import hl7
import pytest
from fhir.resources.R4B.bundle import Bundle
from hl7.mllp import start_hl7_server
from sqlalchemy import select, text

from ght.db.base import utcnow
from ght.db.engine import session_factory
from ght.directory.identifiers import finess_with_key
from ght.identity.ins import INS_NIR_DEMO_OID, nir_with_key
from ght.identity.models import Publication, Subscriber
from ght.identity.publication import lock_subscriber
import support
from ght.identity.service import IdentityInput, merge_patients, record_identity, unmerge
from ght.interop.outbound import PublishSettings, deliver_due
from support import free_port

CHU = finess_with_key("49000056")
CH = finess_with_key("49000064")
NIR = nir_with_key("2850349007123")
CONFIG = PublishSettings(timeout_seconds=2, retry_initial_seconds=1, retry_max_seconds=3600)
GHT_AUTHORITY = "GHT&2.999.1&ISO"


class MllpReceiver:
    """An MLLP server answering each message with the next scripted MSA-1 code ("AA" once the
    script is done); "" means no answer at all. `received` keeps the parsed messages."""

    def __init__(self, answers=(), port=0, delay=0.0):
        self.answers = list(answers)
        self.delay = delay
        self.received: list[hl7.Message] = []
        self.loop = asyncio.new_event_loop()
        self.server = self.loop.run_until_complete(
            start_hl7_server(self._connection, "127.0.0.1", port, encoding="utf-8")
        )
        self.port = self.server.sockets[0].getsockname()[1]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _connection(self, reader, writer):
        try:
            while True:
                message = await reader.readmessage()
                self.received.append(message)
                code = self.answers.pop(0) if self.answers else "AA"
                if not code:
                    continue
                await asyncio.sleep(self.delay)
                ack = message.create_ack(code)
                if code != "AA":
                    ack.segment("MSA").assign_field("IPP inconnu \\T\\ refusé", 3)
                writer.writemessage(ack)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def control_ids(self) -> list[str]:
        return [str(m.segment("MSH")(10)) for m in self.received]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        async def shutdown():
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


class HookReceiver:
    """An HTTP server answering each POST with the next scripted status (then 200)."""

    def __init__(self, statuses=()):
        receiver = self
        self.statuses = list(statuses)
        self.bodies: list[dict] = []
        self.content_types: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                receiver.content_types.append(self.headers["Content-Type"])
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                body = b'{"resourceType":"OperationOutcome"}' if status >= 400 else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/fhir/identity-hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def establishments(db):
    return support.add_establishments(db, CHU, CH)


@pytest.fixture
def factory(engine):
    return session_factory(engine)


def subscribe(db, establishment, endpoint, kind="mllp", name="GAM") -> Subscriber:
    subscriber = Subscriber(establishment_id=establishment.id, name=name, kind=kind, endpoint=endpoint)
    db.add(subscriber)
    db.commit()
    return subscriber


def marie(**changes) -> IdentityInput:
    return support.marie(**{"finess": CHU, "ins": NIR, "ins_oid": INS_NIR_DEMO_OID, "status": "QUAL", **changes})


def paul(**changes) -> IdentityInput:
    return support.paul(**{"finess": CH, **changes})


def publications(db, subscriber) -> list[Publication]:
    db.expire_all()
    return list(db.scalars(select(Publication).where(Publication.subscriber_id == subscriber.id)
                           .order_by(Publication.link_event_id)))


def field(message: hl7.Message, segment: str, number: int, occurrence: int = 1, repetition: int = 1,
          component: int = 1, subcomponent: int = 1) -> str:
    return message.extract_field(segment, occurrence, number, repetition, component, subcomponent)


def test_a_link_refused_ae_is_retried_then_acknowledged_aa(db, factory, establishments):
    with MllpReceiver(["AE"]) as receiver:
        subscriber = subscribe(db, establishments[0], receiver.endpoint)
        linked = record_identity(db, marie(), actor="accueil.chu", channel="hl7")
        db.commit()
        t0 = utcnow()
        assert deliver_due(factory, now=t0, config=CONFIG) == 0
        (pub,) = publications(db, subscriber)
        assert (pub.status, pub.attempts, pub.sent_at) == ("pending", 1, None)
        assert pub.last_error == "refus du destinataire (AE) : IPP inconnu & refusé"
        assert pub.next_attempt_at == t0 + timedelta(seconds=1)

        assert deliver_due(factory, now=t0 + timedelta(milliseconds=500), config=CONFIG) == 0  # not due yet
        assert len(receiver.received) == 1
        assert deliver_due(factory, now=t0 + timedelta(seconds=1), config=CONFIG) == 1
        (pub,) = publications(db, subscriber)
        assert (pub.status, pub.attempts, pub.last_error, pub.sent_at) == ("sent", 2, "", t0 + timedelta(seconds=1))
        assert deliver_due(factory, now=t0 + timedelta(hours=1), config=CONFIG) == 0

    # The same message twice, under the same control id (a receiver can drop a duplicate).
    assert receiver.control_ids() == [f"GHT{pub.id}.1"] * 2
    message = receiver.received[-1]
    assert str(message.segment("MSH")(9)) == "ADT^A24^ADT_A24"
    assert field(message, "MSH", 12) == "2.5" and field(message, "MSH", 18) == "UNICODE UTF-8"
    assert (field(message, "MSH", 5), field(message, "MSH", 6, component=2)) == ("GAM", CHU)
    assert [str(s(0)) for s in message] == ["MSH", "EVN", "PID", "PID"]
    # First PID: the local identity, IPP then GHT id (second PID-3 repetition), then its INS.
    assert str(message.segments("PID")[0](3)) == (
        f"100001^^^{CHU}&{CHU}&M^PI~{linked.patient_id}^^^{GHT_AUTHORITY}^PI"
        f"~{NIR}^^^ASIP-SANTE-INS-NIR-DEMO&{INS_NIR_DEMO_OID}&ISO^INS"
    )
    assert str(message.segments("PID")[0](5)) == "LEFEVRE^MARIE-HELENE^MARIE-HELENE ANNE^^^^L~MARTIN^MARIE-HELENE^^^^^D"
    assert (field(message, "PID", 7), field(message, "PID", 8), field(message, "PID", 32)) == ("19850314", "F", "QUAL")
    # Second PID: the GHT patient it is linked to.
    assert str(message.segments("PID")[1](3)) == f"{linked.patient_id}^^^{GHT_AUTHORITY}^PI"
    assert field(message, "EVN", 5) == "accueil.chu"


def test_merge_sends_a40_and_unmerge_an_a37_per_identity_moved_back(db, factory, establishments):
    with MllpReceiver() as receiver:
        subscriber = subscribe(db, establishments[1], receiver.endpoint)
        first = record_identity(db, marie(), actor="t", channel="hl7")
        second = record_identity(db, paul(), actor="t", channel="hl7")
        merge = merge_patients(db, first.patient_id, second.patient_id, actor="iv", channel="api")
        db.commit()
        unmerge(db, merge.id, actor="iv", channel="api", reason="erreur de fusion")
        db.commit()
        assert deliver_due(factory, config=CONFIG) == 4
    assert all(p.status == "sent" for p in publications(db, subscriber))
    events = [str(m.segment("MSH")(9)) for m in receiver.received]
    assert events == ["ADT^A24^ADT_A24", "ADT^A24^ADT_A24", "ADT^A40^ADT_A39", "ADT^A37^ADT_A37"]

    a40 = receiver.received[2]
    assert [str(s(0)) for s in a40] == ["MSH", "EVN", "PID", "MRG"]
    assert str(a40.segment("PID")(3)) == f"{first.patient_id}^^^{GHT_AUTHORITY}^PI"
    assert str(a40.segment("MRG")(1)) == f"{second.patient_id}^^^{GHT_AUTHORITY}^PI"
    assert field(a40, "PID", 5) == "LEFEVRE"

    a37 = receiver.received[3]
    # The identity moved back, carrying the reopened patient's id; unlinked from the survivor.
    assert str(a37.segments("PID")[0](3)) == f"C-77^^^{CH}&{CH}&M^PI~{second.patient_id}^^^{GHT_AUTHORITY}^PI"
    assert str(a37.segments("PID")[1](3)) == f"{first.patient_id}^^^{GHT_AUTHORITY}^PI"
    assert field(a37, "PID", 5) == "DURAND" and field(a37, "PID", 8) == "M"


def test_connection_refused_is_retried_with_doubling_delays_until_acknowledged(db, factory, establishments):
    port = free_port()
    subscriber = subscribe(db, establishments[0], f"127.0.0.1:{port}")
    record_identity(db, marie(), actor="t", channel="hl7")
    db.commit()
    t = utcnow()
    for attempt, delay in ((1, 1), (2, 2), (3, 4)):
        assert deliver_due(factory, now=t, config=CONFIG) == 0
        (pub,) = publications(db, subscriber)
        assert pub.attempts == attempt and pub.status == "pending"
        assert pub.last_error == f"connexion refusée par 127.0.0.1:{port}"
        assert pub.next_attempt_at == t + timedelta(seconds=delay)
        assert deliver_due(factory, now=t + timedelta(seconds=delay) - timedelta(milliseconds=1), config=CONFIG) == 0
        t += timedelta(seconds=delay)
    with MllpReceiver(port=port) as receiver:
        assert deliver_due(factory, now=t, config=CONFIG) == 1
    (pub,) = publications(db, subscriber)
    assert (pub.status, pub.attempts) == ("sent", 4) and len(receiver.received) == 1


def test_no_acknowledgement_in_time_is_a_failure(db, factory, establishments):
    with MllpReceiver([""]) as receiver:
        subscriber = subscribe(db, establishments[0], receiver.endpoint)
        record_identity(db, marie(), actor="t", channel="hl7")
        db.commit()
        config = CONFIG.model_copy(update={"timeout_seconds": 0.3})
        assert deliver_due(factory, config=config) == 0
        (pub,) = publications(db, subscriber)
        assert pub.last_error == f"pas d'accusé de réception de {receiver.endpoint} en 0.3 s (message GHT{pub.id}.1)"
        assert deliver_due(factory, now=utcnow() + timedelta(seconds=2), config=config) == 1


def test_a_failing_head_holds_back_its_subscriber_only(db, factory, establishments):
    with MllpReceiver(["AR"]) as refusing, MllpReceiver() as accepting:
        held = subscribe(db, establishments[0], refusing.endpoint, name="GAM CHU")
        free = subscribe(db, establishments[1], accepting.endpoint, name="GAM CH")
        for person in (marie(), paul(), marie(ipp="100002", finess=CH)):
            record_identity(db, person, actor="t", channel="hl7")
            db.commit()
        t0 = utcnow()
        assert deliver_due(factory, now=t0, config=CONFIG) == 3
        assert len(refusing.received) == 1  # the later ones were not even tried
        assert [p.status for p in publications(db, held)] == ["pending"] * 3
        assert publications(db, held)[0].last_error == "refus du destinataire (AR) : IPP inconnu & refusé"
        assert [p.status for p in publications(db, free)] == ["sent"] * 3

        assert deliver_due(factory, now=t0 + timedelta(seconds=1), config=CONFIG) == 3
    expected = [f"GHT{p.id}.1" for p in publications(db, held)]
    assert refusing.control_ids() == [expected[0], *expected]
    assert accepting.control_ids() == [f"GHT{p.id}.1" for p in publications(db, free)]


def test_two_workers_at_once_deliver_each_publication_once_in_order(db, factory, establishments):
    with MllpReceiver(delay=0.02) as one, MllpReceiver(delay=0.02) as two:
        subscribers = [subscribe(db, establishments[0], one.endpoint, name="A"),
                       subscribe(db, establishments[1], two.endpoint, name="B")]
        for n in range(6):
            record_identity(db, paul(ipp=f"W{n}", birth_name=f"Durand{'x' * n}", given_names=f"Paul{n}"),
                            actor="t", channel="hl7")
            db.commit()
        start = threading.Barrier(2)
        results = []

        def worker():
            start.wait()
            results.append(deliver_due(factory, config=CONFIG))

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        results.append(deliver_due(factory, config=CONFIG))  # whatever a skipped subscriber left
    assert sum(results) == 12
    for receiver, subscriber in zip((one, two), subscribers, strict=True):
        assert receiver.control_ids() == [f"GHT{p.id}.1" for p in publications(db, subscriber)]
        assert all(p.status == "sent" and p.attempts == 1 for p in publications(db, subscriber))


def test_a_worker_holding_a_subscriber_never_blocks_the_identity_service(db, engine, factory, establishments):
    with MllpReceiver() as receiver:
        subscriber = subscribe(db, establishments[0], receiver.endpoint)
        postgres = engine.dialect.name == "postgresql"
        with factory() as worker:
            assert lock_subscriber(worker, subscriber.id) is not None  # as during a delivery
            if postgres:
                db.execute(text("SET LOCAL lock_timeout = '2s'"))  # fail, rather than hang, if blocked
            record_identity(db, marie(), actor="t", channel="hl7")
            db.commit()
            assert len(publications(db, subscriber)) == 1
            if postgres:
                assert deliver_due(factory, config=CONFIG) == 0  # a second worker skips the held subscriber
        assert deliver_due(factory, config=CONFIG) == 1
    assert len(receiver.received) == 1


def test_fhir_hook_gets_a_message_bundle_retried_after_http_500(db, factory, establishments):
    with HookReceiver([500]) as hook:
        subscriber = subscribe(db, establishments[1], hook.url, kind="fhir", name="DPI CH")
        first = record_identity(db, marie(), actor="t", channel="fhir")
        second = record_identity(db, paul(), actor="t", channel="fhir")
        db.commit()
        t0 = utcnow()
        assert deliver_due(factory, now=t0, config=CONFIG) == 0
        pubs = publications(db, subscriber)
        assert pubs[0].last_error == f'réponse HTTP 500 de {hook.url} : {{"resourceType":"OperationOutcome"}}'
        assert pubs[0].next_attempt_at == t0 + timedelta(seconds=1) and pubs[1].attempts == 0
        assert deliver_due(factory, now=t0 + timedelta(seconds=1), config=CONFIG) == 2
        merge = merge_patients(db, first.patient_id, second.patient_id, actor="iv", channel="api", reason="doublon")
        db.commit()
        unmerge(db, merge.id, actor="iv", channel="api")
        db.commit()
        assert deliver_due(factory, config=CONFIG) == 2
    assert [p.status for p in publications(db, subscriber)] == ["sent"] * 4
    assert hook.content_types[0] == "application/fhir+json; charset=utf-8"
    assert hook.bodies[0] == hook.bodies[1]  # the retry sends the same Bundle

    link, merge = hook.bodies[1], hook.bodies[3]
    for body in hook.bodies:
        Bundle.model_validate(body)  # valid FHIR R4(B)
    header = link["entry"][0]["resource"]
    assert (link["type"], header["resourceType"], header["eventCoding"]["code"]) == ("message", "MessageHeader", "link")
    assert header["destination"] == [{"name": "DPI CH", "endpoint": hook.url}]
    patients = [entry["resource"] for entry in link["entry"][1:]]
    assert [p["identifier"][0]["value"] for p in patients] == [first.patient_id, "100001"]
    local = patients[1]
    assert local["identifier"][0]["system"] == f"urn:finess:{CHU}:ipp"
    assert local["identifier"][1] == {"use": "secondary", "system": "urn:oid:2.999.1", "value": first.patient_id}
    assert local["identifier"][2]["value"] == NIR
    assert local["link"] == [{"other": {"reference": link["entry"][1]["fullUrl"]}, "type": "seealso"}]
    assert {f["reference"] for f in header["focus"]} == {e["fullUrl"] for e in link["entry"][1:]}

    assert merge["entry"][0]["resource"]["eventCoding"]["code"] == "merge"
    survivor, absorbed = (entry["resource"] for entry in merge["entry"][1:])
    assert (survivor["identifier"][0]["value"], survivor["active"]) == (first.patient_id, True)
    assert (absorbed["identifier"][0]["value"], absorbed["active"]) == (second.patient_id, False)
    assert survivor["link"][0]["type"] == "replaces" and absorbed["link"][0]["type"] == "replaced-by"
    assert merge["entry"][0]["resource"]["reason"] == {"text": "doublon"}

    undone = hook.bodies[4]
    assert undone["entry"][0]["resource"]["eventCoding"]["code"] == "unmerge"
    survivor, reopened, moved = (entry["resource"] for entry in undone["entry"][1:])
    assert [(p["identifier"][0]["value"], p["active"]) for p in (survivor, reopened)] == [
        (first.patient_id, True), (second.patient_id, True)]
    assert [i["value"] for i in moved["identifier"]] == ["C-77", second.patient_id]
