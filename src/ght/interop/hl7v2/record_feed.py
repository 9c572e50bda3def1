"""What the record feeds (movements, results, documents) share: the patient a message is
about, stable FHIR ids, HL7 dates to FHIR dates, codes, professionals, and writing to the
record store with its refusals turned into located AEs.

Shapes are those of the demo generator (ght.demo.records), so that the shared record looks
the same whatever the feed: `Organization/ej-<FINESS EJ>`, `Location/uf-<FINESS EJ>-<UF>`,
`Practitioner/pr-<RPPS>`, identifiers `urn:finess:<FINESS EJ>:nda`...
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ght.directory.models import Establishment, FunctionalUnit, Professional
from ght.interop.fhir.outcome import FhirError
from ght.interop.fhir.systems import IDNPS_SYSTEM
from ght.interop.hl7v2 import adt
from ght.interop.hl7v2.ack import ErrorCode, Hl7Error, Location
from ght.interop.hl7v2.dispatch import Inbound
from ght.interop.hl7v2.message import Seg, part
from ght.record import store

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
# HL7 v2 coding systems (table 0396) to FHIR systems; the others are the sender's own.
CODE_SYSTEMS = {"LN": LOINC, "SCT": SNOMED, "SNM": SNOMED, "UCUM": UCUM}
ID_OK = re.compile(r"[A-Za-z0-9\-.]+")
MAX_ID = 64
_DTM = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?([+-]\d{4})?")


def error(code: ErrorCode, message: str, location: Location | None) -> Hl7Error:
    return Hl7Error(code, message, location)


def required(segment: Seg | None, name: str, parsed_what: str) -> Seg:
    if segment is None:
        raise error(ErrorCode.SEGMENT_SEQUENCE, f"segment {name} absent ({parsed_what})", Location(name))
    return segment


# --------------------------------------------------------------------------- patient


@dataclass(frozen=True)
class Subject:
    """The local identity a message is about and its establishment."""

    identity_id: int
    finess: str  # FINESS juridique
    establishment: Establishment

    @property
    def reference(self) -> dict:
        return {"reference": f"Patient/{self.identity_id}"}

    @property
    def source(self) -> str:
        return f"{store.SOURCE_PREFIX}{self.finess}"

    @property
    def organization(self) -> dict:
        return {"reference": f"Organization/ej-{self.finess}", "display": self.establishment.name}


def subject_of(db: Session, inbound: Inbound) -> Subject:
    """Record (or update) the identity of the PID through the identity server, as the identity
    feed does, and return it. On a route where adt.record_identity already ran (A01, A04...)
    this second call changes nothing and only finds the identity."""
    result, finess = adt.recorded_identity(db, inbound)
    establishment = db.scalar(select(Establishment).where(Establishment.finess_ej == finess))
    return Subject(result.identity_id, finess, establishment)


# --------------------------------------------------------------------------- ids


def stable_id(finess: str, *parts: str) -> str:
    """`<FINESS>-<part>-<part>` when that is a valid FHIR id, else `<FINESS>.<hash>`: the
    '.' never follows the FINESS in a readable id, so the two forms cannot collide."""
    readable = "-".join((finess, *parts))
    if len(readable) <= MAX_ID and all(ID_OK.fullmatch(p) for p in parts):
        return readable
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"{finess}.{digest}"


def visit_number(pv1: Seg | None) -> tuple[str, Location | None]:
    """PV1-19 (NDA, the visit number) and where it was read."""
    if pv1 is None:
        return "", None
    return pv1.value(19), pv1.loc(19, 1, 1)


def encounter_id(finess: str, nda: str) -> str:
    return stable_id(finess, nda)


def nda_identifier(finess: str, nda: str) -> dict:
    return {"type": {"coding": [{"system": V2_0203, "code": "VN"}]},
            "system": f"urn:finess:{finess}:nda", "value": nda}


# --------------------------------------------------------------------------- dates


def _paris_offset(moment: datetime) -> timedelta:
    """Europe/Paris offset of a local wall time (EU rule: summer time from the last Sunday of
    March to the last Sunday of October, changing at 01:00 UTC). Computed rather than read
    from the system time zone database, which a slim machine may lack."""
    def last_sunday(month: int) -> date:
        day = date(moment.year, month, 31)
        return day - timedelta(days=(day.weekday() + 1) % 7)

    start = datetime.combine(last_sunday(3), datetime.min.time()) + timedelta(hours=2)  # 02:00 local
    end = datetime.combine(last_sunday(10), datetime.min.time()) + timedelta(hours=3)  # 03:00 local
    naive = moment.replace(tzinfo=None)
    return timedelta(hours=2) if start <= naive < end else timedelta(hours=1)


def fhir_datetime(raw: str, where: Location, what: str, *, instant: bool = False) -> str | None:
    """An HL7 DTM as a FHIR dateTime (or instant: then a time is required). A time without
    offset is French local time. None when empty; an AE 102 when malformed."""
    if not raw:
        return None
    match = _DTM.fullmatch(raw)
    if not match:
        raise error(ErrorCode.DATA_TYPE, f"{what} invalide « {raw} » (format AAAAMMJJhhmm[ss][+zzzz] attendu)", where)
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        if hour is None:
            if instant:
                raise error(ErrorCode.DATA_TYPE, f"{what} incomplète « {raw} » (heure attendue)", where)
            if month is None:
                return year
            if day is None:
                return f"{year}-{month}"
            return date(int(year), int(month), int(day)).isoformat()
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute or 0), int(second or 0))
    except ValueError:
        raise error(ErrorCode.DATA_TYPE, f"{what} impossible « {raw} »", where) from None
    if zone:
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * (1 if zone[0] == "+" else -1)
    else:
        offset = _paris_offset(moment)
    total = int(offset.total_seconds() // 60)
    sign = "+" if total >= 0 else "-"
    return moment.isoformat() + f"{sign}{abs(total) // 60:02d}:{abs(total) % 60:02d}"


# --------------------------------------------------------------------------- codes


def code_system(name: str, finess: str) -> str:
    """FHIR system of an HL7 coding system name (CE.3): LN is LOINC; a local one is the
    establishment's own namespace."""
    upper = name.strip().upper()
    if upper in CODE_SYSTEMS:
        return CODE_SYSTEMS[upper]
    return f"urn:finess:{finess}:code:{re.sub(r'[^A-Za-z0-9.-]', '_', name.strip()) or 'local'}"


def codeable(rep: list[list[str]], finess: str) -> dict | None:
    """A CE/CWE repetition (code^text^system^alt code^alt text^alt system) as a
    CodeableConcept; None when it holds nothing."""
    codings = []
    for first in (1, 4):
        code, text, system = part(rep, first), part(rep, first + 1), part(rep, first + 2)
        if code:
            coding = {"system": code_system(system, finess), "code": code}
            if text:
                coding["display"] = text
            codings.append(coding)
    text = part(rep, 2) or part(rep, 5)
    if not codings and not text:
        return None
    concept: dict = {}
    if codings:
        concept["coding"] = codings
    if text:
        concept["text"] = text
    return concept


# --------------------------------------------------------------------------- professionals


def _national_id(rep: list[list[str]]) -> tuple[str, str]:
    """('rpps'|'adeli'|'', number) of an XCN: XCN.1 with XCN.13 (RPPS, ADELI) or the
    authority OID 1.2.250.1.71.4.2.1 (IDNPS: 8 + RPPS, 0 + ADELI), or by its length."""
    value = part(rep, 1)
    kind = part(rep, 13).upper()
    oid = part(rep, 9, 2)
    if kind == "RPPS" or (kind == "" and re.fullmatch(r"\d{11}", value)):
        return "rpps", value
    if kind == "ADELI" or (kind == "" and re.fullmatch(r"\d{9}", value)):
        return "adeli", value
    if kind in ("IDNPS", "") or oid == IDNPS_SYSTEM.removeprefix("urn:oid:"):
        if re.fullmatch(r"8\d{11}", value):
            return "rpps", value[1:]
        if re.fullmatch(r"0\d{9}", value):
            return "adeli", value[1:]
    return "", value


def practitioner(db: Session, rep: list[list[str]], finess: str) -> dict | None:
    """A Reference to the professional of an XCN repetition: `Practitioner/pr-<RPPS>` when the
    directory knows them, else an identifier-only reference (IDNPS, or the sender's own code)."""
    kind, number = _national_id(rep)
    name = " ".join(v for v in (part(rep, 6), part(rep, 3), part(rep, 2)) if v)
    if not number and not name:
        return None
    reference: dict = {}
    if kind:
        column = Professional.rpps if kind == "rpps" else Professional.adeli
        known = db.scalar(select(Professional).where(column == number))
        idnps = ("8" if kind == "rpps" else "0") + number
        if known is not None:
            reference["reference"] = f"Practitioner/pr-{number if kind == 'rpps' else 'adeli-' + number}"
            name = name or known.display_name
        reference["identifier"] = {"system": IDNPS_SYSTEM, "value": idnps}
    elif number:
        reference["identifier"] = {"system": f"urn:finess:{finess}:professional", "value": number}
    if name:
        reference["display"] = name
    return reference


def functional_unit(db: Session, subject: Subject, code: str, label: str) -> dict:
    """A Reference to a UF: `Location/uf-<FINESS EJ>-<UF>` when the directory knows it, else
    an identifier-only reference in the establishment's UF namespace."""
    unit = db.scalar(select(FunctionalUnit).where(
        FunctionalUnit.establishment_id == subject.establishment.id, FunctionalUnit.code == code))
    reference: dict = {"reference": f"Location/uf-{subject.finess}-{code}"} if unit is not None else {
        "identifier": {"system": f"urn:finess:{subject.finess}:uf", "value": code}}
    display = label or (unit.name if unit is not None else "")
    if display:
        reference["display"] = display
    return reference


# --------------------------------------------------------------------------- writing


def write(db: Session, body: dict, fhir_id: str, inbound: Inbound, where: Location | None = None) -> store.Written:
    """Update-as-create in the message's transaction; a refusal of the store (unknown
    patient, unknown establishment) becomes an AE."""
    try:
        return store.update(db, body, fhir_id, inbound.write_context())
    except FhirError as exc:
        raise error(ErrorCode.UNKNOWN_KEY, f"dossier partagé : {exc}", where) from exc
