"""The listener as a real process: killed between storing a message and answering it, it
applies the message on restart (once), the sender's repeat gets AA; a taken port is reported;
SIGTERM stops it cleanly."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

from sqlalchemy import func, select

from ght.identity.models import IdentityChange, LocalIdentity
from ght.interop.hl7v2.feed import EXIT_AFTER_PERSIST
from ght.interop.hl7v2.models import Hl7Message
from interop.hl7_samples import a28, ack_fields, add_establishments, connect, exchange, frame
from support import free_port


def start(database_url, port, log_path, **extra_env):
    env = {key: value for key, value in os.environ.items() if key != EXIT_AFTER_PERSIST}
    env.update(GHT_DATABASE_URL=database_url, GHT_MLLP_PORT=str(port), GHT_VAR_DIR=str(log_path.parent / "var"),
               GHT_LOG_JSON="true", **extra_env)
    log = open(log_path, "a")
    process = subprocess.Popen([sys.executable, "-m", "ght.interop.hl7v2.cli", "serve"], env=env,
                               stdout=subprocess.DEVNULL, stderr=log)
    log.close()
    return process


def wait_listening(port, process, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the listener exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the listener did not start")


def events(log_path):
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]


def test_killed_between_store_and_ack_then_restarted(database_url, engine, db, tmp_path):
    add_establishments(db)
    port = free_port()
    log_path = tmp_path / "mllp.log"

    doomed = start(database_url, port, log_path, **{EXIT_AFTER_PERSIST: "CRASH-1"})
    try:
        wait_listening(port, doomed)
        with connect(port) as sock:
            sock.sendall(frame(a28("CRASH-1")))
            try:
                answer = sock.recv(1024)
            except ConnectionResetError:
                answer = b""
        assert answer == b""  # died without answering
        assert doomed.wait(30) == 70
    finally:
        if doomed.poll() is None:
            doomed.kill()
    db.expire_all()
    [stored] = db.scalars(select(Hl7Message))
    assert (stored.status, stored.control_id, stored.ack) == ("received", "CRASH-1", None)
    assert db.scalar(select(func.count()).select_from(LocalIdentity)) == 0

    server = start(database_url, port, log_path)
    try:
        wait_listening(port, server)  # listening only once the recovery pass is done
        db.expire_all()
        [stored] = db.scalars(select(Hl7Message))
        assert (stored.status, stored.ack_code) == ("applied", "AA")

        repeat = exchange(port, a28("CRASH-1"))  # the sender got no ACK: it sends again
        assert ack_fields(repeat) == {"msa1": "AA", "msa2": "CRASH-1"}
        assert repeat.decode() == stored.ack
        assert ack_fields(exchange(port, a28("AFTER-1", ipp="2")))["msa1"] == "AA"
        db.expire_all()
        assert db.scalar(select(func.count()).select_from(Hl7Message)) == 2
        assert db.scalar(select(func.count()).select_from(IdentityChange)) == 2  # CRASH-1 once, AFTER-1

        taken = subprocess.run(
            [sys.executable, "-m", "ght.interop.hl7v2.cli", "serve", "--port", str(port)],
            env={**os.environ, "GHT_DATABASE_URL": database_url}, capture_output=True, text=True, timeout=60,
        )
        assert taken.returncode == 2
        assert f"le port MLLP {port} est déjà utilisé" in taken.stderr
        assert "Traceback" not in taken.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
    logged = [e["event"] for e in events(log_path)]
    assert "hl7 message recovered" in logged
    assert logged[-1] == "mllp stopped"
