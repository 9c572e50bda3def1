"""Patient movements (IHE PAM ITI-31, French extension) to Encounter resources.

One Encounter per visit: id `<FINESS EJ>-<NDA>` (PV1-19), identifier `urn:finess:<EJ>:nda`.
Each movement (ZBE-1) is applied to the Encounter as a function of its previous content and
the message, and the version it writes carries the movement in a meta tag
(`urn:finess:<EJ>:movement`, code ZBE-1, display the event). The version history is
therefore the movement journal: a cancellation (A11, A12, A13, A52, A53, or ZBE-4 = CANCEL)
finds the first version of the cancelled movement and writes the content of the version
before it as a new version (or deletes the Encounter, kept in history, when the cancelled
movement created it). History is never rewritten.

IHE PAM allows only the current (last) movement of a visit to be cancelled or updated
(ZBE-4 = UPDATE, ZBE-6 its event): an older one is refused, so nothing is undone out of order.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from ght.interop.hl7v2.ack import ErrorCode, Location
from ght.interop.hl7v2.dispatch import Inbound, Registry
from ght.interop.hl7v2.message import Parsed, Seg, part
from ght.interop.hl7v2.record_feed import (
    Subject, encounter_id, error, fhir_datetime, functional_unit, nda_identifier, practitioner, subject_of,
    visit_number, write,
)
from ght.record import store

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"

MOVEMENT_EVENTS = ("A01", "A02", "A03", "A04", "A06", "A07", "A21", "A22")
# Cancellation event -> the events it may cancel.
CANCELS = {"A11": ("A01", "A04"), "A12": ("A02",), "A13": ("A03",), "A52": ("A21",), "A53": ("A22",)}
# Events that also carry an identity for the identity feed: from a sender without ZBE nor
# PV1-19 (a plain ITI-30 source) they stay identity-only, as before this module.
IDENTITY_ONLY_ALLOWED = ("A01", "A04")

# PV1-2 patient class (table 0004, PAM FR) -> Encounter.class.
CLASSES = {
    "I": ("IMP", "inpatient encounter"),
    "O": ("AMB", "ambulatory"),
    "R": ("AMB", "ambulatory"),  # séances (recurring)
    "E": ("EMER", "emergency"),
    "P": ("PRENC", "pre-admission"),
}
UNSPECIFIED_CLASSES = ("N", "U", "")
FORCED_CLASS = {"A06": "I", "A07": "O"}  # outpatient -> inpatient, inpatient -> outpatient
DEFAULT_CLASS = {"A04": "O"}  # otherwise I
PARTICIPANTS = (("ATND", "attender", 7), ("CON", "consultant", 9))  # type, display, PV1 field


def movement_system(finess: str) -> str:
    return f"urn:finess:{finess}:movement"


@dataclass(frozen=True)
class Movement:
    event: str  # the event applied (ZBE-6 for an update)
    message_event: str
    movement_id: str
    action: str  # INSERT, UPDATE, CANCEL
    at: str  # FHIR dateTime of the movement
    nda: str
    pv1: Seg
    zbe: Seg


def read_movement(parsed: Parsed) -> Movement:
    event = parsed.header.trigger_event.upper()
    pv1 = parsed.first("PV1")
    if pv1 is None:
        raise error(ErrorCode.SEGMENT_SEQUENCE, "segment PV1 absent (venue du mouvement)", Location("PV1"))
    nda, _ = visit_number(pv1)
    if not nda:
        raise error(ErrorCode.REQUIRED_FIELD_MISSING, "numéro de venue (NDA) absent", pv1.loc(19))
    zbe = parsed.first("ZBE")
    if zbe is None:
        raise error(ErrorCode.SEGMENT_SEQUENCE, "segment ZBE absent (mouvement PAM FR)", Location("ZBE"))
    movement_id = zbe.value(1)
    if not movement_id:
        raise error(ErrorCode.REQUIRED_FIELD_MISSING, "identifiant du mouvement absent", zbe.loc(1, 1, 1))
    action = zbe.value(4).upper() or ("CANCEL" if event in CANCELS else "INSERT")
    if action not in ("INSERT", "UPDATE", "CANCEL"):
        raise error(ErrorCode.TABLE_VALUE_NOT_FOUND, f"action « {action} » inconnue (INSERT, UPDATE, CANCEL)",
                    zbe.loc(4))
    if event in CANCELS and action != "CANCEL":
        raise error(ErrorCode.TABLE_VALUE_NOT_FOUND, f"un {event} est une annulation : CANCEL attendu", zbe.loc(4))
    applied = event
    if action == "UPDATE":
        applied = zbe.value(6).upper() or event
        if applied not in MOVEMENT_EVENTS:
            raise error(ErrorCode.TABLE_VALUE_NOT_FOUND,
                        f"événement d'origine « {applied} » du mouvement mis à jour inconnu", zbe.loc(6))
    evn = parsed.first("EVN")
    raw_at, where = zbe.value(2), zbe.loc(2)
    if not raw_at and evn is not None:
        raw_at, where = evn.value(6) or evn.value(2), evn.loc(6 if evn.value(6) else 2)
    at = fhir_datetime(raw_at, where, "date du mouvement")
    if at is None:
        raise error(ErrorCode.REQUIRED_FIELD_MISSING, "date du mouvement absente", zbe.loc(2))
    return Movement(applied, event, movement_id, action, at, nda, pv1, zbe)


# --------------------------------------------------------------------------- journal


@dataclass
class Chain:
    """The movements in force on an Encounter, read from its versions (oldest first)."""

    bodies: dict[int, dict | None] = field(default_factory=dict)
    active: list[tuple[str, str, int]] = field(default_factory=list)  # (movement, event, first version)
    cancelled: set[str] = field(default_factory=set)
    current: dict | None = None

    @property
    def top(self) -> str | None:
        return self.active[-1][0] if self.active else None

    def ids(self) -> list[str]:
        return [movement for movement, _, _ in self.active]

    def event_of(self, movement: str) -> str:
        return next(event for m, event, _ in self.active if m == movement)

    def before(self, movement: str) -> dict | None:
        """The content the Encounter had before this movement (None: it did not exist)."""
        first = next(version for m, _, version in self.active if m == movement)
        return self.bodies.get(first - 1)


def movement_tag(body: dict | None, finess: str) -> dict | None:
    system = movement_system(finess)
    return next((t for t in ((body or {}).get("meta") or {}).get("tag", []) if t.get("system") == system), None)


def chain_of(db: Session, fhir_id: str, finess: str) -> Chain:
    chain = Chain()
    # Locked (PostgreSQL) until the message commits: two movements of one visit applied at
    # once would each build on the same previous version.
    if store.current(db, "Encounter", fhir_id, for_update=True) is None:
        return chain
    for version in reversed(store.instance_history(db, "Encounter", fhir_id)):
        body = None if version.deleted else version.body
        chain.bodies[version.version] = body
        chain.current = body
        if body is None:  # deleted: every movement in force is undone
            chain.cancelled.update(chain.ids())
            chain.active.clear()
            continue
        tag = movement_tag(body, finess)
        code = tag.get("code") if tag else None
        if tag is None or code == chain.top:
            continue  # a write from elsewhere, or the same movement written again
        ids = chain.ids()
        if not code or code in ids:  # a restore: the movements after this one were cancelled
            keep = ids.index(code) + 1 if code else 0
            chain.cancelled.update(ids[keep:])
            del chain.active[keep:]
            continue
        chain.cancelled.discard(code)
        chain.active.append((code, tag.get("display", ""), version.version))
    return chain


# --------------------------------------------------------------------------- content


def _coded_class(code: str) -> dict:
    value, display = CLASSES[code]
    return {"system": ACT_CODE, "code": value, "display": display}


def _encounter_class(mv: Movement, base: dict | None) -> dict:
    sent = mv.pv1.value(2).upper()
    if sent not in CLASSES and sent not in UNSPECIFIED_CLASSES:
        raise error(ErrorCode.TABLE_VALUE_NOT_FOUND,
                    f"classe de patient « {sent} » inconnue (table 0004 : {', '.join(CLASSES)}, N)", mv.pv1.loc(2))
    if mv.event in FORCED_CLASS:
        return _coded_class(FORCED_CLASS[mv.event])
    if sent in CLASSES:
        return _coded_class(sent)
    if base and base.get("class"):
        return base["class"]
    return _coded_class(DEFAULT_CLASS.get(mv.event, "I"))


def _participants(db: Session, mv: Movement, subject: Subject, base: dict | None) -> list[dict]:
    """PV1-7 (attending, ATND) and PV1-9 (consulting, CON); a type the message leaves empty
    keeps the professionals it had."""
    previous = (base or {}).get("participant", [])
    out = []
    for code, display, number in PARTICIPANTS:
        sent = [ref for rep in mv.pv1.reps(number) if (ref := practitioner(db, rep, subject.finess))]
        if not sent:
            out += [p for p in previous if _participant_code(p) == code]
            continue
        kind = [{"coding": [{"system": PARTICIPATION, "code": code, "display": display}]}]
        out += [{"type": kind, "individual": ref} for ref in sent]
    out += [p for p in previous if _participant_code(p) not in ("ATND", "CON")]
    return out


def _participant_code(participant: dict) -> str:
    return next((c.get("code", "") for t in participant.get("type", []) for c in t.get("coding", [])), "")


def _places(db: Session, mv: Movement, subject: Subject) -> list[dict]:
    """Encounter.location entries of the movement: the responsible medical UF (ZBE-7, XON.10
    code and XON.1 label), the UF of PV1-3.1 when it differs, and the room and bed of PV1-3."""
    places = []
    uf = part(mv.zbe.reps(7)[0], 10) if mv.zbe.reps(7) else ""
    if uf:
        places.append({"location": functional_unit(db, subject, uf, part(mv.zbe.reps(7)[0], 1))})
    point, room, bed = mv.pv1.value(3, 1, 1), mv.pv1.value(3, 1, 2), mv.pv1.value(3, 1, 3)
    if point and point != uf:
        places.append({"location": functional_unit(db, subject, point, "")})
    if room or bed:
        label = " ".join(v for v in (f"chambre {room}" if room else "", f"lit {bed}" if bed else "") if v)
        places.append({
            "location": {"identifier": {"system": f"urn:finess:{subject.finess}:lit",
                                        "value": "/".join((point or uf, room, bed))},
                         "display": label},
            "physicalType": {"coding": [{"system": PHYSICAL_TYPE, "code": "bd", "display": "Bed"}]},
        })
    return places


def _close(locations: list[dict], at: str) -> list[dict]:
    closed = []
    for entry in locations:
        if entry.get("status") == "active":
            entry = {**entry, "status": "completed", "period": {**entry.get("period", {}), "end": at}}
        closed.append(entry)
    return closed


def build(db: Session, base: dict | None, mv: Movement, subject: Subject) -> dict:
    """The Encounter after the movement, from its content before it."""
    body = copy.deepcopy(base) if base else {}
    meta = {k: v for k, v in (body.get("meta") or {}).items() if k not in store.SERVER_META}
    system = movement_system(subject.finess)
    meta["tag"] = [t for t in meta.get("tag", []) if t.get("system") != system] + [
        {"system": system, "code": mv.movement_id, "display": mv.event}]
    meta["source"] = subject.source
    nda = nda_identifier(subject.finess, mv.nda)
    identifiers = [i for i in body.get("identifier", []) if i.get("system") != nda["system"]]
    status = body.get("status")
    period = dict(body.get("period") or {})
    history = list(body.get("statusHistory") or [])
    locations = list(body.get("location") or [])
    at = mv.at

    if mv.event in ("A01", "A04"):
        status = "in-progress"
        period["start"] = fhir_datetime(mv.pv1.value(44), mv.pv1.loc(44), "date d'entrée") or at
        period.pop("end", None)
    elif mv.event == "A03":
        status = "finished"
        period["end"] = fhir_datetime(mv.pv1.value(45), mv.pv1.loc(45), "date de sortie") or at
        at = period["end"]
    elif mv.event == "A21":  # leave of absence: the stay goes on, the patient is out
        history.append({"status": status or "in-progress",
                        "period": {"start": _last_change(history, period, at), "end": at}})
        status = "onleave"
    elif mv.event == "A22":  # back from leave
        history.append({"status": "onleave", "period": {"start": _last_change(history, period, at), "end": at}})
        status = "in-progress"
    elif status in (None, "planned", "arrived", "triaged"):
        status = "in-progress"  # a transfer of a visit this feed had not seen open
    if "start" not in period:
        period["start"] = fhir_datetime(mv.pv1.value(44), mv.pv1.loc(44), "date d'entrée") or at

    if mv.event in ("A01", "A04", "A02", "A06", "A07"):
        places = _places(db, mv, subject)
        if mv.event == "A02" and not places:
            raise error(ErrorCode.REQUIRED_FIELD_MISSING,
                        "UF médicale responsable absente (ZBE-7.10, ou PV1-3) : un transfert change de lieu",
                        mv.zbe.loc(7, 1, 10))
        if places:
            locations = _close(locations, at) + [
                {**place, "status": "active", "period": {"start": at}} for place in places]
    elif mv.event == "A03":
        locations = _close(locations, at)

    out = {"resourceType": "Encounter", "meta": meta, "identifier": [nda, *identifiers],
           "status": status, "class": _encounter_class(mv, base)}
    if history:
        out["statusHistory"] = history
    out["subject"] = subject.reference
    participants = _participants(db, mv, subject, base)
    if participants:
        out["participant"] = participants
    out["period"] = period
    if locations:
        out["location"] = locations
    out["serviceProvider"] = subject.organization
    # Elements this feed does not own (written through the FHIR API) are kept.
    owned = set(out) | {"id", "statusHistory", "participant", "location"}
    out.update({k: v for k, v in body.items() if k not in owned})
    return out


def _last_change(history: list[dict], period: dict, at: str) -> str:
    """When the current status began: the end of the last status of the history, else the
    start of the visit."""
    if history and history[-1].get("period", {}).get("end"):
        return history[-1]["period"]["end"]
    return period.get("start") or at


# --------------------------------------------------------------------------- handler


def apply_movement(db: Session, inbound: Inbound) -> str:
    parsed = inbound.parsed
    event = parsed.header.trigger_event.upper()
    pv1 = parsed.first("PV1")
    if event in IDENTITY_ONLY_ALLOWED and parsed.first("ZBE") is None and not visit_number(pv1)[0]:
        return "no visit (neither ZBE nor PV1-19)"
    mv = read_movement(parsed)
    subject = subject_of(db, inbound)
    fhir_id = encounter_id(subject.finess, mv.nda)
    chain = chain_of(db, fhir_id, subject.finess)
    if mv.action == "CANCEL":
        return _cancel(db, inbound, mv, subject, fhir_id, chain)
    if mv.action == "UPDATE":
        if mv.movement_id != chain.top:
            _not_current(mv, chain, "mis à jour")
        base = chain.before(mv.movement_id)
    elif mv.movement_id == chain.top:
        base = chain.before(mv.movement_id)  # the same movement again: applied again over the same base
    elif mv.movement_id in chain.ids():
        return f"encounter {fhir_id} movement {mv.movement_id} already applied"
    else:
        base = chain.current
    written = write(db, build(db, base, mv, subject), fhir_id, inbound, mv.pv1.loc(19))
    return f"encounter {fhir_id} v{written.version} {mv.event} {mv.movement_id}"


def _not_current(mv: Movement, chain: Chain, what: str) -> None:
    if mv.movement_id in chain.ids():
        raise error(ErrorCode.UNKNOWN_KEY,
                    f"le mouvement « {mv.movement_id} » n'est plus le dernier de la venue {mv.nda} "
                    f"(dernier : « {chain.top} ») : seul le dernier mouvement peut être {what}",
                    mv.zbe.loc(1, 1, 1))
    raise error(ErrorCode.UNKNOWN_KEY, f"mouvement « {mv.movement_id} » inconnu pour la venue {mv.nda}",
                mv.zbe.loc(1, 1, 1))


def _cancel(db: Session, inbound: Inbound, mv: Movement, subject: Subject, fhir_id: str, chain: Chain) -> str:
    if mv.movement_id in chain.cancelled and mv.movement_id not in chain.ids():
        return f"encounter {fhir_id} movement {mv.movement_id} already cancelled"
    if mv.movement_id != chain.top:
        _not_current(mv, chain, "annulé")
    cancelled_event = chain.event_of(mv.movement_id)
    allowed = CANCELS.get(mv.message_event)
    if allowed and cancelled_event not in allowed:
        raise error(ErrorCode.TABLE_VALUE_NOT_FOUND,
                    f"un {mv.message_event} annule un {' ou '.join(allowed)} ; le mouvement « {mv.movement_id} » "
                    f"est un {cancelled_event}", Location("MSH", 1, 9, 1, 2))
    before = chain.before(mv.movement_id)
    if before is None:  # the cancelled movement opened the visit
        version = store.remove(db, "Encounter", fhir_id, context=inbound.write_context())
        return f"encounter {fhir_id} v{version} deleted: {cancelled_event} {mv.movement_id} cancelled"
    restored = copy.deepcopy(before)
    if movement_tag(restored, subject.finess) is None:
        # The version before was written from elsewhere: mark it with the movement now in
        # force (a tag without code when none is), so that the journal reads it as a restore.
        below = chain.active[-2] if len(chain.active) > 1 else None
        tag = {"system": movement_system(subject.finess), "display": "aucun mouvement"}
        if below is not None:
            tag = {**tag, "code": below[0], "display": below[1]}
        restored.setdefault("meta", {}).setdefault("tag", []).append(tag)
    written = write(db, restored, fhir_id, inbound, mv.zbe.loc(1, 1, 1))
    return f"encounter {fhir_id} v{written.version} restored: {cancelled_event} {mv.movement_id} cancelled"


def register(registry: Registry) -> None:
    # PAM FR also sends updates as ADT^Z99: not routed yet, the identity feed's tests use Z99
    # as their example of a refused event. ZBE-4 = UPDATE on the movement's own event is applied.
    registry.add("ADT", MOVEMENT_EVENTS + tuple(CANCELS), apply_movement)
