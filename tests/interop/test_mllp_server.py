"""The MLLP listener on a real loopback socket: python-hl7 client, malformed frames and
messages answered AR/AE with the listener still serving, concurrency between connections."""

import asyncio
import socket
import threading
import time

import hl7
import pytest
from hl7.mllp import open_hl7_connection
from sqlalchemy import select

from ght.identity.models import LocalIdentity
from ght.interop.hl7v2.feed import Feed
from ght.interop.hl7v2.models import Hl7Message
from ght.interop.hl7v2.server import BackgroundListener
from interop.hl7_samples import (
    a28,
    ack_fields,
    add_establishments,
    connect,
    exchange,
    frame,
    message,
    pid,
    read_block,
)


@pytest.fixture
def listener(engine, db):
    add_establishments(db)
    with BackgroundListener(Feed(engine), max_frame=64 * 1024) as running:
        yield running


def statuses(db) -> list[tuple[str, str | None]]:
    db.expire_all()
    return [(row.status, row.ack_code) for row in db.scalars(select(Hl7Message).order_by(Hl7Message.id))]


def test_python_hl7_client_gets_aa_for_each_message(listener, db):
    async def talk():
        reader, writer = await open_hl7_connection("127.0.0.1", listener.port, encoding="utf-8")
        answers = []
        for control_id in ("NET-1", "NET-2"):
            writer.writemessage(hl7.parse(message("A28", control_id, pid(ipp=control_id))))
            await writer.drain()
            answers.append(await asyncio.wait_for(reader.readmessage(), 15))
        writer.close()
        await writer.wait_closed()
        return answers

    answers = asyncio.run(talk())
    assert [(str(a.segment("MSA")(1)), str(a.segment("MSA")(2))) for a in answers] == [("AA", "NET-1"), ("AA", "NET-2")]
    db.expire_all()
    assert sorted(db.scalars(select(LocalIdentity.ipp))) == ["NET-1", "NET-2"]
    peers = list(db.scalars(select(Hl7Message.peer)))
    assert all(peer.startswith("127.0.0.1:") for peer in peers)


def test_malformed_messages_on_one_connection_then_a_good_one(listener, db):
    broken_utf8 = a28("BAD-5").replace("Hélène".encode(), "Hélène".encode("latin-1"))
    cases = [
        (b"PID|1||100234^^^X^PI\r", "AR", "", "MSH^1", "MSH"),
        (a28("BAD-2").replace(b"MSH|^~\\&|", b"MSH|^~^&|"), "AR", "BAD-2", "MSH^1^2", "séparateurs invalides"),
        (message("Z99", "BAD-3", pid()).encode(), "AR", "BAD-3", "MSH^1^9^1^2", "ADT Z99"),
        (message("A28", "BAD-4", pid(), version="2.3").encode(), "AR", "BAD-4", "MSH^1^12", "version HL7"),
        (broken_utf8, "AR", "BAD-5", "MSH^1^18", "UNICODE UTF-8"),
        (message("A28", "BAD-6", pid(birth_date="14/08/1955")).encode(), "AE", "BAD-6", "PID^1^7", "date de naissance"),
    ]
    with connect(listener.port) as sock:
        for payload, code, control_id, erl, words in cases:
            sock.sendall(frame(payload))
            fields = ack_fields(read_block(sock))
            assert (fields["msa1"], fields["msa2"], fields.get("err2")) == (code, control_id, erl)
            assert words in fields["err8"]
        # A block without its <VT>: answered, and the connection still works.
        sock.sendall(a28("BAD-7") + b"\x1c\r")
        assert "<VT>" in ack_fields(read_block(sock))["err8"]
        sock.sendall(frame(a28("GOOD-1")))
        assert ack_fields(read_block(sock)) == {"msa1": "AA", "msa2": "GOOD-1"}
    assert statuses(db) == [("rejected", "AR")] * 5 + [("rejected", "AE"), ("rejected", "AR"), ("applied", "AA")]


def test_truncated_frame_is_answered_when_the_peer_half_closes(listener, db):
    with connect(listener.port) as sock:
        sock.sendall(b"\x0b" + a28("CUT-1")[:120])
        sock.shutdown(socket.SHUT_WR)
        fields = ack_fields(read_block(sock))
    assert (fields["msa1"], fields["msa2"]) == ("AR", "CUT-1")
    assert "tronquée" in fields["err8"]
    assert ack_fields(exchange(listener.port, a28("CUT-2")))["msa1"] == "AA"
    db.expire_all()
    assert [row.control_id for row in db.scalars(select(Hl7Message).order_by(Hl7Message.id))] == [None, "CUT-2"]


def test_abrupt_peers_and_junk_do_not_stop_the_listener(listener):
    socket.create_connection(("127.0.0.1", listener.port)).close()  # connect, say nothing
    with connect(listener.port) as sock:  # half a frame, then gone
        sock.sendall(b"\x0bMSH|^~\\&|GAM")
    with connect(listener.port) as sock:  # reset with data unread
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.sendall(frame(b"\xff\xfe garbage"))
    with connect(listener.port) as sock:  # CR LF between frames, junk before a frame
        sock.sendall(b"\r\n" + frame(a28("JUNK-1")) + b"\r\nnoise" + frame(a28("JUNK-2")))
        assert ack_fields(read_block(sock))["msa2"] == "JUNK-1"
        assert ack_fields(read_block(sock))["msa2"] == "JUNK-2"
    assert ack_fields(exchange(listener.port, a28("AFTER-1")))["msa1"] == "AA"


def test_oversized_frame_is_refused_and_skipped(listener):
    big = message("A28", "BIG-1", pid(), "NTE|1||" + "x" * 100_000).encode()
    with connect(listener.port) as sock:
        sock.sendall(frame(big) + frame(a28("SMALL-1")))
        fields = ack_fields(read_block(sock))
        assert fields["msa1"] == "AR" and "trop volumineux (plus de 64 Ko)" in fields["err8"]
        assert ack_fields(read_block(sock)) == {"msa1": "AA", "msa2": "SMALL-1"}


class GatedFeed(Feed):
    """Holds the message SLOW-1 until released, as a slow message would."""

    def __init__(self, engine):
        super().__init__(engine)
        self.entered = threading.Event()
        self.release = threading.Event()

    def receive(self, data, peer=""):
        if b"|SLOW-1|" in data:
            self.entered.set()
            assert self.release.wait(20)
        return super().receive(data, peer)


def test_a_slow_message_does_not_hold_up_other_connections(engine, db):
    add_establishments(db)
    feed = GatedFeed(engine)
    with BackgroundListener(feed) as running, connect(running.port) as slow:
        slow.sendall(frame(a28("SLOW-1", ipp="1")))
        assert feed.entered.wait(10)
        started = time.monotonic()
        assert ack_fields(exchange(running.port, a28("FAST-1", ipp="2")))["msa1"] == "AA"
        assert time.monotonic() - started < 10
        feed.release.set()
        assert ack_fields(read_block(slow)) == {"msa1": "AA", "msa2": "SLOW-1"}


def test_send_command_prints_each_ack(listener, tmp_path):
    from typer.testing import CliRunner

    from ght.interop.hl7v2.cli import app, split_messages

    path = tmp_path / "messages.hl7"
    path.write_text((a28("CLI-1").decode() + a28("CLI-2", ipp="2").decode()).replace("\r", "\n"), encoding="utf-8")
    assert len(split_messages(path.read_text())) == 2
    result = CliRunner().invoke(app, ["send", str(path), "--host", "127.0.0.1", "--port", str(listener.port)])
    assert result.exit_code == 0, result.output
    assert "MSA|AA|CLI-1" in result.output and "MSA|AA|CLI-2" in result.output
