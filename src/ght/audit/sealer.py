"""The sealer as a background loop: seals what requests appended, every few seconds.

Each batch commits on its own (the lock is short, appends never wait for it), and the new
chain head goes to the log: a log shipped to another system is a witness of the head that
someone with write access to the database alone cannot rewrite (`ght audit verify --known-head`)."""

from __future__ import annotations

import logging
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
