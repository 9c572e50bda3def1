"""Delivery of queued link changes to the establishments' systems.

MLLP subscribers get HL7 v2.5 messages in the style of IHE ITI-30 (Link/Unlink and Merge
options) with the French extension's PID conventions: link → ADT^A24, unlink → ADT^A37,
merge → ADT^A40 (ADT_A39 structure), unmerge → one ADT^A37 per identity moved back. An ACK
with MSA-1 = AA or CA marks the publication sent; anything else is retried later.

FHIR subscribers get an R4 Bundle of type "message" POSTed to their REST hook; a 2xx status
marks it sent.

`deliver_due` is one pass over the queue; `run_publisher` repeats it until stopped. Each
subscriber receives its events in event order: while the head of its queue fails, the later
ones wait.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import hl7
import httpx
import orjson
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ght.config import load_settings
from ght.db.base import utcnow
from ght.directory.models import Establishment
from ght.identity import publication as queue
from ght.identity.models import LinkEvent, Publication, Subscriber
from ght.identity.publication import IdentityView, Notice, PatientView
from ght.interop.fhir.systems import FINESS_SYSTEM, FR_V2_0203, V2_0203

log = logging.getLogger("ght.publish")


class PublishSettings(BaseSettings):
    """Publication settings, from the environment (prefix GHT_PUBLISH_)."""

    model_config = SettingsConfigDict(env_prefix="GHT_PUBLISH_", extra="ignore")

    # Assigning authority of the GHT patient ids (PID-3, MRG-1, FHIR identifier system). The
    # default is under 2.999, the arc ISO/IEC 9834-1 reserves for examples: it can never be
    # someone's real OID, and must be replaced by the GHT's own.
    ght_oid: str = Field(default="2.999.1", pattern=r"^[0-2](\.(0|[1-9][0-9]*))+$")
    ght_namespace: str = "GHT"
    sending_application: str = "GHT_IDENTITE"  # MSH-3
    processing_id: str = Field(default="P", pattern=r"^[DPT]$")  # MSH-11: production, debugging, training
    # Code system of the MessageHeader event codes (link, unlink, merge, unmerge).
    event_system: str = "https://ght.example/fhir/CodeSystem/identity-link-event"
    timeout_seconds: float = Field(default=10.0, gt=0)  # connection, then each ACK or HTTP answer
    retry_initial_seconds: float = Field(default=1.0, gt=0)
    retry_max_seconds: float = Field(default=3600.0, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0)  # idle wait between passes of run_publisher
    batch_size: int = Field(default=100, ge=1)  # publications tried per pass at most


def load_publish_settings() -> PublishSettings:
    return load_settings(PublishSettings)


class DeliveryError(Exception):
    """The subscriber did not acknowledge; `message` (French) goes to Publication.last_error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Receiver:
    """A subscriber as the messages address it."""

    name: str
    finess: str  # FINESS juridique of its establishment
    kind: str  # mllp, fhir
    endpoint: str


# --------------------------------------------------------------------------- HL7 v2.5

HL7_VERSION = "2.5"
ACCEPTED_ACKS = ("AA", "CA")  # application accept (original mode), commit accept (enhanced mode)
# Assigning authorities of the INS, as the PAM FR inbound reader names them.
INS_AUTHORITIES = {
    "1.2.250.1.213.1.4.8": "ASIP-SANTE-INS-NIR",
    "1.2.250.1.213.1.4.9": "ASIP-SANTE-INS-NIA",
    "1.2.250.1.213.1.4.10": "ASIP-SANTE-INS-NIR-TEST",
    "1.2.250.1.213.1.4.11": "ASIP-SANTE-INS-NIR-DEMO",
}
_ESCAPES = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}


@dataclass(frozen=True)
class Hl7Out:
    control_id: str  # MSH-10: the same on every retry, so that receivers can drop a duplicate
    text: str  # segments ended by CR


def _esc(value: object) -> str:
    text = " ".join(str(value or "").splitlines())
    return "".join(_ESCAPES.get(char, char) for char in text)


def _ts(moment: datetime) -> str:
    """DTM in local time with its offset: what French receiving systems display."""
    return moment.astimezone().strftime("%Y%m%d%H%M%S%z")


def _ght_cx(ght_id: str, config: PublishSettings) -> str:
    return f"{_esc(ght_id)}^^^{_esc(config.ght_namespace)}&{config.ght_oid}&ISO^PI"


def _identity_cx(identity: IdentityView, config: PublishSettings) -> list[str]:
    """PID-3 of a local identity: its IPP (authority: its establishment's FINESS, type M as
    in PAM FR), its GHT patient id, and its INS when RNIV lets it leave."""
    cx = [f"{_esc(identity.ipp)}^^^{identity.finess}&{identity.finess}&M^PI"]
    if identity.ght_id:
        cx.append(_ght_cx(identity.ght_id, config))
    if identity.ins and identity.ins_oid:
        authority = INS_AUTHORITIES.get(identity.ins_oid, "")
        cx.append(f"{_esc(identity.ins)}^^^{authority}&{identity.ins_oid}&ISO^INS")
    return cx


def _pid(sequence: int, identifiers: list[str], person: IdentityView | None) -> str:
    fields = [""] * 33
    fields[1] = str(sequence)
    fields[3] = "~".join(identifiers)
    if person is not None:
        # PAM FR: repetition L carries the birth name, the first given name and (XPN.3) the
        # list of birth given names; repetition D the used name and used given name.
        names = [f"{_esc(person.birth_name)}^{_esc(person.first_given_name)}^{_esc(person.given_names)}^^^^L"]
        if person.used_name:
            names.append(f"{_esc(person.used_name)}^{_esc(person.used_given_name)}^^^^^D")
        fields[5] = "~".join(names)
        fields[7] = person.birth_date.strftime("%Y%m%d") if person.birth_date else ""
        fields[8] = _esc(person.sex)
        fields[32] = "~".join(_esc(code) for code in (person.status, *person.flags) if code)  # RNIV status, table 0445
    return "|".join(["PID", *fields[1:]]).rstrip("|")


def _msh(event: str, structure: str, control_id: str, receiver: Receiver, config: PublishSettings,
         sent_at: datetime) -> str:
    fields = [
        "MSH", "^~\\&", _esc(config.sending_application),
        f"{_esc(config.ght_namespace)}^{config.ght_oid}^ISO",
        _esc(receiver.name), f"{receiver.finess}^{receiver.finess}^M",
        _ts(sent_at), "", f"ADT^{event}^{structure}", control_id, config.processing_id, HL7_VERSION,
        "", "", "", "", "FRA", "UNICODE UTF-8",
    ]
    return "|".join(fields)


def _evn(notice: Notice) -> str:
    return f"EVN||{_ts(notice.at)}|||{_esc(notice.actor)}|{_ts(notice.at)}"


def _patient_pid(sequence: int, patient: PatientView, config: PublishSettings) -> str:
    return _pid(sequence, [_ght_cx(patient.ght_id, config)], patient.person)


def hl7_messages(notice: Notice, publication_id: int, receiver: Receiver, config: PublishSettings,
                 sent_at: datetime | None = None) -> list[Hl7Out]:
    """The HL7 v2.5 messages of one notice, in the order they must be acknowledged.

    A24/A37: first PID the local identity (IPP, then its GHT id after the event as a second
    PID-3 repetition), second PID the GHT patient linked to or unlinked from. A40: PID the
    surviving GHT patient, MRG-1 the absorbed one.
    """
    sent_at = sent_at or utcnow()
    bodies: list[tuple[str, str, list[str]]] = []
    if notice.action == "merge" and notice.merge is not None:
        absorbed = _ght_cx(notice.merge.absorbed.ght_id, config)
        bodies.append(("A40", "ADT_A39", [_patient_pid(1, notice.merge.survivor, config), f"MRG|{absorbed}"]))
    for change in notice.links:
        event = "A24" if change.kind == "link" else "A37"
        bodies.append((event, f"ADT_{event}", [
            _pid(1, _identity_cx(change.identity, config), change.identity),
            _patient_pid(2, change.patient, config),
        ]))
    if notice.action == "unmerge" and not notice.links and notice.merge is not None:
        # Nothing moved back (the identities had left the survivor since): still tell that
        # the two GHT patients are no longer one.
        bodies.append(("A37", "ADT_A37", [
            _patient_pid(1, notice.merge.absorbed, config), _patient_pid(2, notice.merge.survivor, config),
        ]))
    messages = []
    for number, (event, structure, segments) in enumerate(bodies, start=1):
        control_id = f"GHT{publication_id}.{number}"
        header = _msh(event, structure, control_id, receiver, config, sent_at)
        text = "\r".join([header, _evn(notice), *segments]) + "\r"
        hl7.parse(text)  # python-hl7 must read back what we send
        messages.append(Hl7Out(control_id, text))
    return messages


# --------------------------------------------------------------------------- FHIR R4

GENDERS = {"M": "male", "F": "female"}
EVENT_LABELS_FR = {
    "link": "Rattachement", "unlink": "Détachement", "merge": "Fusion", "unmerge": "Annulation de fusion",
}


def _ght_identifier(ght_id: str, config: PublishSettings, use: str) -> dict[str, Any]:
    return {"use": use, "system": f"urn:oid:{config.ght_oid}", "value": ght_id}


def _demographics(person: IdentityView | None) -> dict[str, Any]:
    if person is None:
        return {}
    names = [{"use": "official", "family": person.birth_name,
              "given": person.given_names.split() or ([person.first_given_name] if person.first_given_name else [])}]
    if person.used_name:
        names.append({"use": "usual", "family": person.used_name,
                      **({"given": [person.used_given_name]} if person.used_given_name else {})})
    resource: dict[str, Any] = {"name": [{k: v for k, v in name.items() if v} for name in names],
                                "gender": GENDERS.get(person.sex, "unknown")}
    if person.birth_date:
        resource["birthDate"] = person.birth_date.isoformat()
    return resource


def _local_patient(identity: IdentityView, config: PublishSettings) -> dict[str, Any]:
    identifiers = [{
        "use": "usual", "type": {"coding": [{"system": V2_0203, "code": "PI"}]},
        "system": f"urn:finess:{identity.finess}:ipp", "value": identity.ipp,
        "assigner": {"identifier": {"system": FINESS_SYSTEM, "value": identity.finess}},
    }]
    if identity.ght_id:
        identifiers.append(_ght_identifier(identity.ght_id, config, "secondary"))
    if identity.ins and identity.ins_oid:
        identifiers.append({"use": "official", "type": {"coding": [{"system": FR_V2_0203, "code": "INS-NIR"}]},
                            "system": f"urn:oid:{identity.ins_oid}", "value": identity.ins})
    return {"resourceType": "Patient", "identifier": identifiers, "active": True, **_demographics(identity),
            "managingOrganization": {"identifier": {"system": FINESS_SYSTEM, "value": identity.finess}}}


def fhir_bundle(notice: Notice, publication_id: int, receiver: Receiver, config: PublishSettings) -> dict[str, Any]:
    """The FHIR R4 message Bundle of one notice: a MessageHeader (event code = the action)
    focused on the Patient resources involved, GHT patients and local identities. Ids are
    derived from the publication, so a retry sends the same Bundle (receivers may dedupe)."""
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:oid:{config.ght_oid}")

    def url(key: str) -> str:
        return f"urn:uuid:{uuid.uuid5(namespace, key)}"

    patients: dict[str, dict[str, Any]] = {}
    for patient in notice.patients():
        patients[patient.ght_id] = {
            "fullUrl": url(f"patient/{patient.ght_id}"),
            "resource": {"resourceType": "Patient", "identifier": [_ght_identifier(patient.ght_id, config, "official")],
                         "active": patient.active, **_demographics(patient.person)},
        }
    if notice.action == "merge" and notice.merge is not None:
        survivor, absorbed = patients[notice.merge.survivor.ght_id], patients[notice.merge.absorbed.ght_id]
        survivor["resource"]["link"] = [{"other": {"reference": absorbed["fullUrl"]}, "type": "replaces"}]
        absorbed["resource"]["link"] = [{"other": {"reference": survivor["fullUrl"]}, "type": "replaced-by"}]
    locals_: dict[int, dict[str, Any]] = {}
    for change in notice.links:
        entry = locals_.setdefault(change.identity.identity_id, {
            "fullUrl": url(f"publication/{publication_id}/identity/{change.identity.identity_id}"),
            "resource": _local_patient(change.identity, config),
        })
        if change.kind == "link":
            entry["resource"]["link"] = [{"other": {"reference": patients[change.patient.ght_id]["fullUrl"]},
                                          "type": "seealso"}]
    entries = [*patients.values(), *locals_.values()]
    header = {
        "resourceType": "MessageHeader",
        "eventCoding": {"system": config.event_system, "code": notice.action,
                        "display": EVENT_LABELS_FR.get(notice.action, notice.action)},
        "destination": [{"name": receiver.name, "endpoint": receiver.endpoint}],
        "source": {"name": config.ght_namespace, "software": config.sending_application,
                   "endpoint": f"urn:oid:{config.ght_oid}"},
        "focus": [{"reference": entry["fullUrl"]} for entry in entries],
    }
    if notice.reason:
        header["reason"] = {"text": notice.reason}
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(namespace, f"publication/{publication_id}")),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": url(f"publication/{publication_id}")},
        "type": "message",
        "timestamp": notice.at.isoformat(),
        "entry": [{"fullUrl": url(f"publication/{publication_id}/header"), "resource": header}, *entries],
    }


# --------------------------------------------------------------------------- transports

_VT, _END = b"\x0b", b"\x1c\x0d"


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """host:port, [v6-address]:port."""
    match = re.fullmatch(r"\s*(\[[^\]]+\]|[^:\s]+):(\d{1,5})\s*", endpoint or "")
    if not match or not 0 < int(match.group(2)) < 65536:
        raise DeliveryError(f"adresse MLLP invalide « {endpoint} » (attendu hôte:port)")
    return match.group(1).strip("[]"), int(match.group(2))


class MllpClient:
    """MLLP (release 1) over a plain socket, one connection kept across the publications of
    a subscriber within a pass; any failure closes it, the next attempt reconnects."""

    def __init__(self, endpoint: str, timeout: float) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._buffer = b""

    def _connect(self) -> socket.socket:
        if self._sock is None:
            host, port = parse_endpoint(self.endpoint)
            try:
                self._sock = socket.create_connection((host, port), timeout=self.timeout)
            except ConnectionRefusedError:
                raise DeliveryError(f"connexion refusée par {self.endpoint}") from None
            except TimeoutError:
                raise DeliveryError(f"pas de connexion à {self.endpoint} en {self.timeout:g} s") from None
            except OSError as exc:
                raise DeliveryError(f"connexion impossible à {self.endpoint} : {exc.strerror or exc}") from None
        return self._sock

    def send(self, messages: list[Hl7Out]) -> None:
        try:
            for message in messages:
                self._exchange(message)
        except DeliveryError:
            self.close()
            raise

    def _exchange(self, message: Hl7Out) -> None:
        sock = self._connect()
        try:
            sock.sendall(_VT + message.text.encode("utf-8") + _END)
            frame = self._read_frame(sock)
        except TimeoutError:
            raise DeliveryError(f"pas d'accusé de réception de {self.endpoint} en {self.timeout:g} s "
                                f"(message {message.control_id})") from None
        except OSError as exc:
            raise DeliveryError(f"connexion à {self.endpoint} interrompue : {exc.strerror or exc}") from None
        check_ack(frame, message.control_id)

    def _read_frame(self, sock: socket.socket) -> bytes:
        while _END not in self._buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise DeliveryError(f"connexion fermée par {self.endpoint} avant l'accusé de réception")
            self._buffer += chunk
        block, _, self._buffer = self._buffer.partition(_END)
        return block.rpartition(_VT)[2]


def check_ack(frame: bytes, control_id: str) -> None:
    """Accept an ACK for `control_id` with MSA-1 AA or CA; raise DeliveryError otherwise."""
    try:
        text = frame.decode("utf-8")
    except UnicodeDecodeError:
        text = frame.decode("cp1252", "replace")
    try:
        ack = hl7.parse(text.replace("\r\n", "\r").replace("\n", "\r"))
        msa = ack.segment("MSA")
    except (KeyError, IndexError, ValueError, hl7.HL7Exception):
        raise DeliveryError(f"accusé de réception illisible : {text[:200]!r}") from None
    code, answered = str(msa(1)).strip().upper(), str(msa(2)).strip()
    if answered != control_id:
        raise DeliveryError(f"accusé de réception d'un autre message (MSA-2 « {answered} », attendu « {control_id} »)")
    if code in ACCEPTED_ACKS:
        return
    detail = ack.unescape(str(msa(3))) if len(msa) > 3 and str(msa(3)) else ""
    if not detail:
        try:
            detail = ack.unescape(str(ack.segment("ERR")(8)))
        except (KeyError, IndexError):
            detail = ""
    raise DeliveryError(f"refus du destinataire ({code or 'MSA-1 vide'})" + (f" : {detail}" if detail else ""))


class FhirHookClient:
    def __init__(self, endpoint: str, timeout: float) -> None:
        self.endpoint = endpoint
        self._client = httpx.Client(timeout=timeout)
        self.timeout = timeout

    def close(self) -> None:
        self._client.close()

    def send(self, bundle: dict[str, Any]) -> None:
        try:
            response = self._client.post(self.endpoint, content=orjson.dumps(bundle), headers={
                "Content-Type": "application/fhir+json; charset=utf-8", "Accept": "application/fhir+json",
            })
        except httpx.TimeoutException:
            raise DeliveryError(f"pas de réponse de {self.endpoint} en {self.timeout:g} s") from None
        except httpx.ConnectError as exc:
            raise DeliveryError(f"connexion impossible à {self.endpoint} : {exc}") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise DeliveryError(f"échec de l'envoi à {self.endpoint} : {exc}") from None
        if not 200 <= response.status_code < 300:
            body = " ".join(response.text.split())[:200]
            raise DeliveryError(
                f"réponse HTTP {response.status_code} de {self.endpoint}" + (f" : {body}" if body else "")
            )


# --------------------------------------------------------------------------- worker

# SQLite has no row locks: one worker per database, guarded at least within this process.
_sqlite_guards: dict[str, threading.Lock] = {}
_guards_lock = threading.Lock()


def _sqlite_guard(db: Session) -> threading.Lock | None:
    bind = db.get_bind()
    if bind.dialect.name != "sqlite":
        return None
    with _guards_lock:
        return _sqlite_guards.setdefault(str(bind.url), threading.Lock())


class _Channel:
    """The transport of one subscriber for one pass, opened at first use."""

    def __init__(self, config: PublishSettings) -> None:
        self.config = config
        self.client: MllpClient | FhirHookClient | None = None

    def deliver(self, db: Session, pub: Publication, subscriber: Subscriber, sent_at: datetime) -> None:
        finess = db.scalar(select(Establishment.finess_ej).where(Establishment.id == subscriber.establishment_id))
        receiver = Receiver(subscriber.name, finess or "", subscriber.kind, subscriber.endpoint)
        try:
            notice = queue.describe(db, db.get(LinkEvent, pub.link_event_id))
            if receiver.kind == "mllp":
                payload: Any = hl7_messages(notice, pub.id, receiver, self.config, sent_at)
            elif receiver.kind == "fhir":
                payload = fhir_bundle(notice, pub.id, receiver, self.config)
            else:
                raise DeliveryError(f"type d'abonné inconnu « {receiver.kind} » (mllp ou fhir)")
        except (DeliveryError, SQLAlchemyError):
            raise
        except Exception as exc:  # a notice we cannot write: say so on the publication, keep serving the others
            log.exception("publication not built", extra={"publication": pub.id})
            raise DeliveryError(f"message impossible à construire : {exc}") from exc
        if receiver.kind == "mllp":
            if not payload:
                return  # nothing an HL7 receiver needs (e.g. a link event without identity)
            if not isinstance(self.client, MllpClient):
                self.client = MllpClient(receiver.endpoint, self.config.timeout_seconds)
            self.client.send(payload)
        else:
            if not isinstance(self.client, FhirHookClient):
                self.client = FhirHookClient(receiver.endpoint, self.config.timeout_seconds)
            self.client.send(payload)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


def deliver_due(session_factory: sessionmaker[Session] | Callable[[], Session], now: datetime | None = None,
                limit: int = 100, *, config: PublishSettings | None = None) -> int:
    """One pass: deliver the due publications, in event order per subscriber; returns how
    many were acknowledged. At most `limit` attempts. `now` fixes the clock (tests)."""
    config = config or load_publish_settings()
    clock = (lambda: now) if now is not None else utcnow
    with session_factory() as db:
        guard = _sqlite_guard(db)
        subscriber_ids = queue.subscribers_with_pending(db)
    if guard is not None and not guard.acquire(blocking=False):
        return 0  # another pass is running on this SQLite database
    sent = attempts = 0
    try:
        for subscriber_id in subscriber_ids:
            if attempts >= limit:
                break
            channel = _Channel(config)
            try:
                while attempts < limit:
                    outcome = _deliver_head(session_factory, subscriber_id, channel, clock, config)
                    if outcome is None:
                        break
                    attempts += 1
                    if not outcome:
                        break  # the head failed: the later ones of this subscriber wait
                    sent += 1
            finally:
                channel.close()
    finally:
        if guard is not None:
            guard.release()
    return sent


def _deliver_head(session_factory, subscriber_id: int, channel: _Channel, clock,
                  config: PublishSettings) -> bool | None:
    """Try the head of one subscriber's queue: True sent, False failed, None nothing due
    (empty queue, head not due yet, or the subscriber held by another worker)."""
    with session_factory() as db:
        subscriber = queue.lock_subscriber(db, subscriber_id)
        if subscriber is None:
            return None
        head = queue.queue_head(db, subscriber_id)
        if head is None or head.next_attempt_at > clock():
            db.rollback()
            return None
        try:
            channel.deliver(db, head, subscriber, clock())
        except DeliveryError as exc:
            queue.mark_failed(head, exc.message, clock(), initial=config.retry_initial_seconds,
                              maximum=config.retry_max_seconds)
            db.commit()
            log.warning("publication failed", extra={
                "publication": head.id, "subscriber": subscriber.name, "link_event": head.link_event_id,
                "attempts": head.attempts, "error": exc.message, "next_attempt_at": head.next_attempt_at.isoformat(),
            })
            return False
        queue.mark_sent(head, clock())
        db.commit()
        log.info("publication sent", extra={
            "publication": head.id, "subscriber": subscriber.name, "link_event": head.link_event_id,
            "attempts": head.attempts,
        })
        return True


def run_publisher(session_factory: sessionmaker[Session] | Callable[[], Session], stop_event: threading.Event,
                  *, config: PublishSettings | None = None) -> None:
    """Deliver until `stop_event` is set: a new pass at once while work gets done, else after
    `poll_seconds`. A failing pass (database unreachable...) is logged and tried again."""
    config = config or load_publish_settings()
    log.info("publisher started")
    while not stop_event.is_set():
        try:
            sent = deliver_due(session_factory, limit=config.batch_size, config=config)
        except Exception:
            log.exception("publication pass failed")
            sent = 0
        if not sent:
            stop_event.wait(config.poll_seconds)
    log.info("publisher stopped")
