"""The sealer as a background loop: seals what requests appended, every few seconds.

Each batch commits on its own (the lock is short, appends never wait for it), and the new
chain head goes to the log: a log shipped to another system is a witness of the head that
someone with write access to the database alone cannot rewrite (`ght audit verify --known-head`).

The server runs it in a process of its own (SealerProcess), not in a thread of each worker: one
sealer for all the workers, and hashing a batch (pure Python) holds no worker's GIL."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading

from sqlalchemy.orm import Session, sessionmaker

from ght.audit.chain import read_head, seal

log = logging.getLogger("ght.audit.sealer")


def seal_pending(sessions: sessionmaker[Session], batch: int = 10_000) -> int:
    """Seal every entry pending now, one committed transaction per batch; how many were sealed."""
    total = 0
    while True:
        with sessions() as db:
            sealed = seal(db, batch)
            head = read_head(db) if sealed else None
            db.commit()
        total += sealed
        if head:
            log.info("trace scellée", extra={"sealed": sealed, "chain_seq": head.chain_seq,
                                             "entry_hash": head.entry_hash})
        if sealed < batch:
            return total


def run_sealer(sessions: sessionmaker[Session], stop: threading.Event, every: float = 1.0,
               batch: int = 10_000) -> None:
    """Seal every `every` seconds until `stop` is set (run it in a thread of the server).
    A failure (database restarting...) is logged and retried at the next round."""
    while not stop.is_set():
        try:
            seal_pending(sessions, batch)
        except Exception:
            log.exception("scellement de la trace en échec ; nouvel essai dans %s s", every)
        stop.wait(every)


def _sealer_main(database_url: str, every: float, log_level: str, log_json: bool, parent: int) -> None:
    """Entry point of the sealer process: its own engine, until SIGTERM or its parent is gone."""
    from ght import logs
    from ght.db.engine import make_engine, session_factory

    logs.configure(log_level, log_json)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us
    threading.Thread(target=_watch_parent, args=(parent, stop), daemon=True).start()
    engine = make_engine(database_url)
    try:
        run_sealer(session_factory(engine), stop, every)
    finally:
        engine.dispose()


def _watch_parent(parent: int, stop: threading.Event) -> None:
    """A server killed without a word (SIGKILL) leaves no sealer behind."""
    while not stop.wait(1.0):
        if os.getppid() != parent:
            stop.set()


class SealerProcess:
    """The sealer in a child process (spawned: no engine or thread crosses a fork), for as long
    as the server runs: `start()` then `stop()`."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.process: multiprocessing.process.BaseProcess | None = None

    def start(self) -> None:
        s = self.settings
        context = multiprocessing.get_context("spawn")
        self.process = context.Process(
            target=_sealer_main, name="ght-audit-sealer", daemon=True,
            args=(s.database_url, s.audit_seal_seconds, s.log_level, s.log_json, os.getpid()))
        self.process.start()

    def stop(self, timeout: float = 10) -> None:
        if self.process is None:
            return
        self.process.terminate()  # SIGTERM: the batch in hand commits, then it exits
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.process = None
