"""The inbound pipeline: read -> store -> de-duplicate -> apply -> answer.

1. The message is stored (status `received`) in its own committed transaction before anything
   else, so that nothing answered, and nothing received, is lost.
2. A message whose (MSH-3, MSH-4, MSH-10) was already applied is not applied again: the
   sender gets the ACK stored with it. One that was refused (or failed on our side) is a new
   attempt: the key moves to the new row, the old one stays in the journal.
3. The message is applied in one transaction that also records its status and ACK: applied
   and acknowledged, or not applied at all.
4. A message stored but not applied (the process died in between) is applied by `recover`,
   run at start-up before the listener accepts connections; the sender, which got no ACK,
   sends it again and gets the stored one.

Applying starts with a conditional UPDATE of the message row (status still `received`): the
recovery pass, a repeat on another connection or another server instance cannot apply the
same message twice, whatever the backend.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from ght.db.base import utcnow
from ght.access.gate import SystemTrace
from ght.audit.trail import Door
from ght.db.engine import session_factory
from ght.interop.hl7v2.ack import (
    AckHeader,
    ErrorCode,
    Hl7Error,
    Location,
    ack_charset,
    build_ack,
    encode,
    hd,
    reject,
)
from ght.interop.hl7v2.dispatch import Inbound, Registry, default_registry
from ght.interop.hl7v2.message import Header, Parsed, Unreadable, parse, read, rough_header
from ght.interop.hl7v2.models import Hl7Message

log = logging.getLogger("ght.hl7v2")

SUPPORTED_VERSIONS = ("2.5", "2.5.1")
SUPPORTED_PROCESSING_IDS = ("P",)  # production only: a training (T) message must not touch identities
ATTEMPTS = 3  # applying again after a transient database conflict (lock, concurrent insert)

# Test hook, read nowhere else: the crash test sets it to a control id to make the process die
# right after that message is stored, as a power cut between the commit and the ACK would.
EXIT_AFTER_PERSIST = "GHT_MLLP_TEST_EXIT_AFTER_PERSIST"

INTERNAL_ERROR_FR = (
    "erreur interne du serveur : le message est conservé et sera traité à nouveau s'il est renvoyé"
)
UNSTORED_FR = "erreur interne du serveur : le message n'a pas pu être enregistré, renvoyez-le"


@dataclass(frozen=True)
class Reply:
    ack: str
    ack_code: str
    message_id: int | None  # None when the message could not even be stored
    status: str  # applied, rejected, error; "unstored" when the database failed
    duplicate: bool = False

    @property
    def payload(self) -> bytes:
        return encode(self.ack)


def check_header(header: Header) -> None:
    """What the server requires of MSH beyond readability; an AR otherwise."""
    if not header.version:
        raise reject(ErrorCode.REQUIRED_FIELD_MISSING, "version HL7 (MSH-12) absente", Location("MSH", 1, 12))
    if header.version not in SUPPORTED_VERSIONS:
        raise reject(ErrorCode.UNSUPPORTED_VERSION,
                     f"version HL7 « {header.version} » non prise en charge (2.5 attendue)", Location("MSH", 1, 12))
    if not header.processing_id:
        raise reject(ErrorCode.REQUIRED_FIELD_MISSING, "code de traitement (MSH-11) absent", Location("MSH", 1, 11))
    if header.processing_id not in SUPPORTED_PROCESSING_IDS:
        raise reject(ErrorCode.UNSUPPORTED_PROCESSING_ID,
                     f"code de traitement « {header.processing_id} » non pris en charge (P : production)",
                     Location("MSH", 1, 11))
    if not any(header.sending_application):
        raise reject(ErrorCode.REQUIRED_FIELD_MISSING, "application émettrice (MSH-3) absente", Location("MSH", 1, 3))
    if not any(header.sending_facility):
        raise reject(ErrorCode.REQUIRED_FIELD_MISSING, "établissement émetteur (MSH-4) absent", Location("MSH", 1, 4))


def fingerprint(text: str) -> str:
    """The content that makes two messages "the same" for de-duplication: the text without
    line-ending differences nor MSH-7 (a sender may re-date the message it sends again)."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\r").replace("\n", "\r").split("\r") if line.strip()]
    if lines and lines[0].startswith("MSH") and len(lines[0]) > 3:
        fields = lines[0].split(lines[0][3])
        if len(fields) > 6:
            fields[6] = ""
            lines[0] = lines[0][3].join(fields)
    return "\r".join(lines)


def _storable(text: str) -> str:
    return text.replace("\x00", "\\x00")  # PostgreSQL text cannot hold NUL


def _reason(exc: Exception) -> str:
    """A failure in one line. A database error's own text lists the statement's parameters
    (patient traits, the raw message): only the driver's message is kept, and no traceback."""
    detail = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return f"{type(exc).__name__}: {detail}"[:1000]


def _exit_after_persist_if_asked(control_id: str) -> None:
    if os.environ.get(EXIT_AFTER_PERSIST) == control_id:
        os._exit(70)


class Feed:
    """The pipeline over one database. Thread-safe: each call uses its own sessions."""

    def __init__(self, engine: Engine, registry: Registry | None = None) -> None:
        self.sessions = session_factory(engine)
        self.registry = registry or default_registry()

    # ------------------------------------------------------------------ entry points

    def receive(self, data: bytes, peer: str = "") -> Reply:
        """One message (the bytes of one MLLP frame) to its ACK. Never raises."""
        started = time.monotonic()
        header = rough_header(data.decode("latin-1"))
        try:
            reply = self._receive(data, peer)
        except Exception as exc:  # the database failed: answer all the same, and keep serving
            log.error("hl7 message not stored", exc_info=None if isinstance(exc, DBAPIError) else exc,
                      extra={"peer": peer, "reason": _reason(exc)})
            error = Hl7Error(ErrorCode.INTERNAL_ERROR, UNSTORED_FR)
            reply = Reply(build_ack(header, "AE", error), "AE", None, "unstored")
        log.info("hl7 message", extra={
            "message_id": reply.message_id, "type": header.message_type, "control_id": header.control_id,
            "status": reply.status, "ack_code": reply.ack_code, "duplicate": reply.duplicate, "peer": peer,
            "ms": round((time.monotonic() - started) * 1000, 1),
        })
        return reply

    def refuse_frame(self, data: bytes, error: Hl7Error, peer: str = "") -> Reply:
        """A frame the listener could not take whole (truncated, no start block, too long):
        stored for the record and answered AR."""
        text = data.decode("utf-8", "backslashreplace")
        try:
            return self._store_refused(text, "", rough_header(text), error, peer)
        except Exception:
            log.exception("hl7 frame not stored", extra={"peer": peer})
            return Reply(build_ack(rough_header(text), "AR", error), "AR", None, "unstored")

    def recover(self) -> int:
        """Apply the messages stored but never applied, in reception order; returns how many."""
        with self.sessions() as db:
            pending = list(db.scalars(
                select(Hl7Message.id).where(Hl7Message.status == "received").order_by(Hl7Message.id)
            ))
        for message_id in pending:
            reply = self.apply_stored(message_id)
            log.info("hl7 message recovered", extra={
                "message_id": message_id, "status": reply.status, "ack_code": reply.ack_code,
            })
        return len(pending)

    def apply_stored(self, message_id: int) -> Reply:
        with self.sessions() as db:
            row = db.get(Hl7Message, message_id)
            text, codec = row.raw, row.charset
        try:
            parsed = parse(text, codec)
        except Unreadable as exc:  # stored readable, so only if the reading rules changed since
            return self._finish(message_id, exc.header, exc.codec, "rejected", exc.error)
        return self._apply(message_id, parsed)

    # ------------------------------------------------------------------ pipeline

    def _receive(self, data: bytes, peer: str) -> Reply:
        try:
            parsed = read(data)
        except Unreadable as exc:
            return self._store_refused(exc.text, exc.codec, exc.header, exc.error, peer)
        message_id, existing = self._persist(parsed, peer)
        if existing is not None:
            return self._repeat(existing, parsed, peer)
        _exit_after_persist_if_asked(parsed.header.control_id)
        return self._apply(message_id, parsed)

    def _persist(self, parsed: Parsed, peer: str) -> tuple[int | None, Hl7Message | None]:
        """Store the message as received; or return the row that already holds its key."""
        header = parsed.header
        key = (hd(header.sending_application)[:255], hd(header.sending_facility)[:255], header.control_id)
        for _ in range(5):
            with self.sessions() as db:
                row = Hl7Message(
                    peer=peer[:100], sending_application=key[0], sending_facility=key[1], control_id=key[2],
                    message_type=header.message_type[:30], charset=parsed.codec, raw=parsed.text,
                    status="received", received_at=utcnow(),
                )
                db.add(row)
                try:
                    db.commit()
                    return row.id, None
                except IntegrityError:
                    db.rollback()
                existing = db.scalar(select(Hl7Message).where(
                    Hl7Message.sending_application == key[0], Hl7Message.sending_facility == key[1],
                    Hl7Message.control_id == key[2],
                ))
                # End this read: on SQLite a write may not follow a read whose snapshot another
                # writer has moved past; the conditional UPDATE below starts afresh.
                db.commit()
                if existing is None:
                    continue  # its key was just moved by a concurrent attempt
                if existing.status in ("applied", "received"):
                    return None, existing
                # Refused or failed before: this is a new attempt, which takes over the key.
                db.execute(
                    update(Hl7Message)
                    .where(Hl7Message.id == existing.id, Hl7Message.status == existing.status)
                    .values(control_id=None)
                )
                db.commit()
        raise RuntimeError(f"message {key} could not be stored")

    def _repeat(self, existing: Hl7Message, parsed: Parsed, peer: str) -> Reply:
        if fingerprint(existing.raw) != fingerprint(parsed.text):
            received = existing.received_at.astimezone().strftime("%d/%m/%Y %H:%M")
            error = reject(
                ErrorCode.DUPLICATE_KEY,
                f"identifiant de message « {parsed.header.control_id} » déjà reçu le {received} avec un autre "
                "contenu : ce message n'est pas appliqué",
                Location("MSH", 1, 10),
            )
            return self._store_refused(parsed.text, parsed.codec, parsed.header, error, peer)
        if existing.status == "received":  # in flight elsewhere, or left by a crash
            reply = self._apply(existing.id, parsed)
        else:
            reply = Reply(existing.ack, existing.ack_code, existing.id, existing.status)
        return Reply(reply.ack, reply.ack_code, reply.message_id, reply.status, duplicate=True)

    def _apply(self, message_id: int, parsed: Parsed) -> Reply:
        header = parsed.header
        for attempt in range(1, ATTEMPTS + 1):
            db = self.sessions()
            try:
                claimed = db.execute(
                    update(Hl7Message)
                    .where(Hl7Message.id == message_id, Hl7Message.status == "received")
                    .values(status="received")
                ).rowcount
                if not claimed:
                    db.rollback()
                    return self._stored(message_id)
                check_header(header)
                trace = SystemTrace(Door.HL7, f"hl7:{Inbound(parsed, message_id).actor}")
                inbound = Inbound(parsed, message_id, trace)
                results = [handler(db, inbound) for handler in self.registry.handlers(header.message_code, header.trigger_event)]
                # What the message wrote, traced with it (a message that only changed identities:
                # the message itself; their history is in identity_history).
                trace.flush(db, otherwise=f"Hl7Message/{message_id}")
                ack = build_ack(header, "AA", charset=ack_charset(parsed.codec))
                db.execute(
                    update(Hl7Message).where(Hl7Message.id == message_id).values(
                        status="applied", ack_code="AA", ack=ack, applied_at=utcnow(),
                        result="; ".join(result for result in results if result)[:300],
                    )
                )
                db.commit()
                return Reply(ack, "AA", message_id, "applied")
            except Hl7Error as error:
                db.rollback()
                return self._finish(message_id, header, parsed.codec, "rejected", error)
            except (IntegrityError, OperationalError) as exc:
                db.rollback()
                if attempt < ATTEMPTS:
                    log.warning("hl7 message retried", extra={"message_id": message_id, "reason": str(exc.orig)[:200]})
                    continue
                return self._failed(message_id, header, parsed.codec, exc)
            except Exception as exc:
                db.rollback()
                return self._failed(message_id, header, parsed.codec, exc)
            finally:
                db.close()
        raise AssertionError("unreachable")

    def _failed(self, message_id: int, header: AckHeader, codec: str, exc: Exception) -> Reply:
        reason = _reason(exc)
        log.error("hl7 message failed", exc_info=None if isinstance(exc, DBAPIError) else exc,
                  extra={"message_id": message_id, "reason": reason})
        error = Hl7Error(ErrorCode.INTERNAL_ERROR, INTERNAL_ERROR_FR)
        return self._finish(message_id, header, codec, "error", error, detail=reason)

    def _finish(self, message_id: int, header: AckHeader, codec: str, status: str, error: Hl7Error,
                detail: str = "") -> Reply:
        """Record a refusal (or our failure) and its ACK, unless another worker finished first."""
        ack = build_ack(header, error.ack_code, error, charset=ack_charset(codec))
        with self.sessions() as db:
            done = db.execute(
                update(Hl7Message)
                .where(Hl7Message.id == message_id, Hl7Message.status == "received")
                .values(status=status, ack_code=error.ack_code, ack=ack,
                        error=error.text() + (f" [{detail}]" if detail else ""))
            ).rowcount
            db.commit()
        if not done:
            return self._stored(message_id)
        return Reply(ack, error.ack_code, message_id, status)

    def _stored(self, message_id: int) -> Reply:
        with self.sessions() as db:
            row = db.get(Hl7Message, message_id)
            return Reply(row.ack, row.ack_code, row.id, row.status)

    def _store_refused(self, text: str, codec: str, header: AckHeader, error: Hl7Error, peer: str) -> Reply:
        """A message refused before it could be keyed (unreadable, or a conflicting repeat):
        stored without control id, so that it never blocks a later, correct message."""
        ack = build_ack(header, error.ack_code, error, charset=ack_charset(codec))
        with self.sessions() as db:
            row = Hl7Message(
                peer=peer[:100], sending_application=hd(header.sending_application)[:255],
                sending_facility=hd(header.sending_facility)[:255], control_id=None,
                message_type=header.message_type[:30], charset=codec, raw=_storable(text),
                status="rejected", ack_code=error.ack_code, ack=ack, error=error.text(), received_at=utcnow(),
            )
            db.add(row)
            db.commit()
            return Reply(ack, error.ack_code, row.id, "rejected")
