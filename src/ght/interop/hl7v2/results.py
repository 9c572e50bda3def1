"""Lab results (ORU^R01) to DiagnosticReport (one per OBR) and Observation (one per OBX).

Ids come from the filler order number (OBR-3, else ORC-3; the placer's OBR-2/ORC-2 when no
filler number is sent): DiagnosticReport `<FINESS EJ>-<filler>`, Observation
`<FINESS EJ>-<filler>-<OBX-3 code>[-<OBX-4 sub-id>][-<n>]` (n: the n-th OBX of that code in
the OBR). A result sent again updates the same resources; an Observation the new report no
longer lists is marked entered-in-error (withdrawn), never deleted.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy.orm import Session

from ght.interop.hl7v2.ack import ErrorCode, Location
from ght.interop.hl7v2.dispatch import Inbound, Registry
from ght.interop.hl7v2.documents import attachment, decode_ed
from ght.interop.hl7v2.message import Parsed, Seg, part
from ght.interop.hl7v2.record_feed import (
    UCUM, V2_0203, Subject, codeable, encounter_id, error, fhir_datetime, required, stable_id, subject_of,
    visit_number, write,
)
from ght.record import store

OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
LAB_CATEGORY = [{"coding": [{"system": OBS_CATEGORY, "code": "laboratory", "display": "Laboratory"}]}]
LAB_REPORT_CATEGORY = [{"coding": [{"system": V2_0074, "code": "LAB", "display": "Laboratory"}]}]

# OBR-25 result status (table 0123) -> DiagnosticReport.status.
REPORT_STATUS = {"O": "registered", "I": "registered", "S": "registered", "A": "partial", "P": "preliminary",
                 "R": "preliminary", "C": "corrected", "F": "final", "X": "cancelled", "Y": "unknown", "Z": "unknown"}
# OBX-11 observation result status (table 0085) -> Observation.status.
OBSERVATION_STATUS = {"F": "final", "C": "corrected", "P": "preliminary", "R": "preliminary", "S": "preliminary",
                      "I": "registered", "O": "registered", "X": "cancelled", "D": "entered-in-error",
                      "W": "entered-in-error", "U": "final", "N": "unknown"}
# OBX-8 abnormal flags (table 0078) shared with v3 ObservationInterpretation.
INTERPRETATIONS = {"L": "Low", "H": "High", "LL": "Critical low", "HH": "Critical high", "N": "Normal",
                   "A": "Abnormal", "AA": "Critical abnormal", "<": "Off scale low", ">": "Off scale high",
                   "I": "Intermediate", "R": "Resistant", "S": "Susceptible", "D": "Significant change down",
                   "U": "Significant change up", "B": "Better", "W": "Worse", "POS": "Positive",
                   "NEG": "Negative", "IND": "Indeterminate", "DET": "Detected", "ND": "Not detected",
                   "E": "Equivocal", "NR": "Non-reactive", "RR": "Reactive"}
TEXT_TYPES = ("ST", "TX", "FT")
CODED_TYPES = ("CE", "CWE", "CNE")
DATE_TYPES = ("DT", "DTM", "TS")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_RANGE = re.compile(r"\s*([+-]?[\d.]+)\s*-\s*([+-]?[\d.]+)\s*")
_BOUND = re.compile(r"\s*(<=|>=|<|>)\s*([+-]?[\d.]+)\s*")


@dataclass
class Group:
    """An OBR with the ORC before it, its NTEs and its OBXs (each with its NTEs)."""

    obr: Seg
    orc: Seg | None
    notes: list[Seg] = field(default_factory=list)
    results: list[tuple[Seg, list[Seg]]] = field(default_factory=list)


def groups_of(parsed: Parsed) -> list[Group]:
    groups: list[Group] = []
    orc = None
    for segment in parsed.segments:
        if segment.name == "ORC":
            orc = segment
        elif segment.name == "OBR":
            groups.append(Group(segment, orc))
            orc = None
        elif segment.name == "OBX":
            if not groups:
                raise error(ErrorCode.SEGMENT_SEQUENCE, "segment OBX avant tout segment OBR", segment.loc())
            groups[-1].results.append((segment, []))
        elif segment.name == "NTE" and groups:
            (groups[-1].results[-1][1] if groups[-1].results else groups[-1].notes).append(segment)
    if not groups:
        raise error(ErrorCode.SEGMENT_SEQUENCE, "segment OBR absent", Location("OBR"))
    return groups


# --------------------------------------------------------------------------- values


def _number(text: str, where: Location) -> int | float:
    if not _NUMBER.fullmatch(text):
        raise error(ErrorCode.DATA_TYPE, f"valeur numérique invalide « {text} »", where)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise error(ErrorCode.DATA_TYPE, f"valeur numérique invalide « {text} »", where) from None
    return int(value) if value == value.to_integral_value() and "." not in text else float(value)


def _unit(obx: Seg) -> dict:
    """OBX-6 (code^text^system): a UCUM unit when the system is UCUM or not said."""
    rep = obx.reps(6)[0] if obx.reps(6) else []
    code, text, system = part(rep, 1), part(rep, 2), part(rep, 3).upper()
    if not code and not text:
        return {}
    unit = {"unit": text or code}
    if code and system in ("", "UCUM"):
        unit.update(system=UCUM, code=code)
    return unit


def _quantity(value: int | float, unit: dict, comparator: str = "") -> dict:
    quantity: dict = {"value": value}
    if comparator:
        quantity["comparator"] = comparator
    return {**quantity, **unit}


def _structured_numeric(obx: Seg, rep: list[list[str]], unit: dict) -> dict:
    """SN: comparator^number^separator^number -> Quantity (with comparator), Range or Ratio."""
    where = obx.loc(5)
    comparator, first, separator, second = (part(rep, c) for c in (1, 2, 3, 4))
    if separator == "-" and first and second:
        return {"valueRange": {"low": _quantity(_number(first, where), unit),
                               "high": _quantity(_number(second, where), unit)}}
    if separator in (":", "/") and first and second:
        return {"valueRatio": {"numerator": {"value": _number(first, where)},
                               "denominator": {"value": _number(second, where)}}}
    if separator or second or comparator not in ("", "=", "<", ">", "<=", ">="):
        return {"valueString": "".join(v for v in (comparator, first, separator, second) if v)}
    return {"valueQuantity": _quantity(_number(first, where), unit, "" if comparator == "=" else comparator)}


def value_of(obx: Seg, finess: str) -> dict:
    kind = obx.value(2).upper()
    reps = obx.reps(5)
    if not reps:
        return {}
    where = obx.loc(5)
    if kind == "NM":
        return {"valueQuantity": _quantity(_number(obx.value(5), where), _unit(obx))}
    if kind == "SN":
        return _structured_numeric(obx, reps[0], _unit(obx))
    if kind in TEXT_TYPES:
        # A delimiter in free text was split by the parser: put it back.
        lines = ["^".join("&".join(sub) for sub in rep) for rep in reps]
        return {"valueString": "\n".join(lines).replace("\r\n", "\n").replace("\r", "\n").strip()}
    if kind in CODED_TYPES:
        return {"valueCodeableConcept": codeable(reps[0], finess)}
    if kind in DATE_TYPES:
        return {"valueDateTime": fhir_datetime(obx.value(5), where, "date résultat")}
    raise error(ErrorCode.TABLE_VALUE_NOT_FOUND,
                f"type de valeur « {kind} » non pris en charge (NM, SN, ST, TX, FT, CE, CWE, DT, TS, ED)", obx.loc(2))


def _reference_range(obx: Seg) -> list[dict]:
    text = obx.value(7)
    if not text:
        return []
    unit = _unit(obx)
    where = obx.loc(7)
    if match := _RANGE.fullmatch(text):
        return [{"low": _quantity(_number(match[1], where), unit), "high": _quantity(_number(match[2], where), unit)}]
    if match := _BOUND.fullmatch(text):
        side = "high" if match[1].startswith("<") else "low"
        return [{side: _quantity(_number(match[2], where), unit), "text": text}]
    return [{"text": text}]


def _interpretation(obx: Seg) -> list[dict]:
    found = []
    for number, rep in enumerate(obx.reps(8), start=1):
        code = part(rep, 1).upper()
        if not code:
            continue
        if code not in INTERPRETATIONS:
            raise error(ErrorCode.TABLE_VALUE_NOT_FOUND, f"interprétation « {code} » inconnue (table 0078)",
                        obx.loc(8, number, 1))
        found.append({"coding": [{"system": INTERPRETATION, "code": code, "display": INTERPRETATIONS[code]}]})
    return found


# --------------------------------------------------------------------------- resources


def _order_number(group: Group) -> tuple[str, str, str, Location]:
    """(kind FILL/PLAC, namespace, number, where) identifying the report."""
    for kind, number in (("FILL", 3), ("PLAC", 2)):
        for segment in (group.obr, group.orc):
            if segment is not None and segment.value(number):
                return kind, segment.value(number, 1, 2), segment.value(number), segment.loc(number, 1, 1)
    raise error(ErrorCode.REQUIRED_FIELD_MISSING, "numéro de demande absent (OBR-3 ou OBR-2)", group.obr.loc(3))


def _observation(obx: Seg, notes: list[Seg], subject: Subject, context: dict) -> tuple[str, dict]:
    code = codeable(obx.reps(3)[0], subject.finess) if obx.reps(3) else None
    if code is None or not obx.value(3):
        raise error(ErrorCode.REQUIRED_FIELD_MISSING, "code de l'examen absent", obx.loc(3, 1, 1))
    raw_status = obx.value(11).upper()
    if not raw_status:
        raise error(ErrorCode.REQUIRED_FIELD_MISSING, "statut du résultat absent", obx.loc(11))
    if raw_status not in OBSERVATION_STATUS:
        raise error(ErrorCode.TABLE_VALUE_NOT_FOUND, f"statut du résultat « {raw_status} » inconnu (table 0085)",
                    obx.loc(11))
    body = {"resourceType": "Observation", "meta": {"source": subject.source},
            "status": OBSERVATION_STATUS[raw_status], "category": LAB_CATEGORY, "code": code,
            "subject": subject.reference, **context["encounter"]}
    effective = fhir_datetime(obx.value(14), obx.loc(14), "date de l'observation") or context["effective"]
    if effective:
        body["effectiveDateTime"] = effective
    if context["issued"]:
        body["issued"] = context["issued"]
    body["performer"] = [subject.organization]
    body.update(value_of(obx, subject.finess))
    if interpretation := _interpretation(obx):
        body["interpretation"] = interpretation
    if notes := [{"text": n.value(3)} for n in notes if n.value(3)]:
        body["note"] = notes
    if reference_range := _reference_range(obx):
        body["referenceRange"] = reference_range
    return obx.value(3), body


def _issued(obr: Seg) -> str | None:
    value = fhir_datetime(obr.value(22), obr.loc(22), "date du compte rendu")
    return value if value and "T" in value else None  # an instant needs its time


def store_report(db: Session, group: Group, subject: Subject, encounter: dict, inbound: Inbound) -> str:
    obr = group.obr
    kind, namespace, number, where = _order_number(group)
    code = codeable(obr.reps(4)[0], subject.finess) if obr.reps(4) else None
    if code is None:
        raise error(ErrorCode.REQUIRED_FIELD_MISSING, "code de la demande absent", obr.loc(4))
    raw_status = obr.value(25).upper()
    if raw_status and raw_status not in REPORT_STATUS:
        raise error(ErrorCode.TABLE_VALUE_NOT_FOUND, f"statut du compte rendu « {raw_status} » inconnu (table 0123)",
                    obr.loc(25))
    # The number alone: readable ids; the filler application (namespace) is seldom a valid id part.
    key = [number] if kind == "FILL" else ["placer", number]
    report_id = stable_id(subject.finess, *key)
    context = {"encounter": encounter, "effective": fhir_datetime(obr.value(7), obr.loc(7), "date du prélèvement"),
               "issued": _issued(obr)}
    seen: dict[tuple[str, str], int] = {}
    references = []
    for obx, notes in group.results:
        if obx.value(2).upper() == "ED":
            continue  # the report itself (presentedForm), below
        code_value, body = _observation(obx, notes, subject, context)
        sub_id = obx.value(4)
        nth = seen[(code_value, sub_id)] = seen.get((code_value, sub_id), 0) + 1
        parts = [*key, code_value] + ([sub_id] if sub_id else []) + ([str(nth)] if nth > 1 else [])
        observation_id = stable_id(subject.finess, *parts)
        body["identifier"] = [{"system": f"urn:finess:{subject.finess}:lab", "value": "-".join(parts)}]
        write(db, body, observation_id, inbound, obx.loc(3))
        references.append({"reference": f"Observation/{observation_id}"})
    _withdraw(db, report_id, references, inbound)
    report = {"resourceType": "DiagnosticReport", "meta": {"source": subject.source},
              "identifier": [{"type": {"coding": [{"system": V2_0203, "code": kind}]},
                              "system": f"urn:finess:{subject.finess}:{'report' if kind == 'FILL' else 'order'}",
                              "value": number}],
              "status": REPORT_STATUS.get(raw_status, "unknown"), "category": LAB_REPORT_CATEGORY, "code": code,
              "subject": subject.reference, **encounter}
    if context["effective"]:
        report["effectiveDateTime"] = context["effective"]
    if context["issued"]:
        report["issued"] = context["issued"]
    report["performer"] = [subject.organization]
    if references:
        report["result"] = references
    if conclusion := "\n".join(n.value(3) for n in group.notes if n.value(3)):
        report["conclusion"] = conclusion
    forms = [(obx, decode_ed(obx)) for obx, _ in group.results if obx.value(2).upper() == "ED"]
    if forms:
        # The report as the lab laid it out, inline: it is part of the report, not a document.
        report["presentedForm"] = [
            {k: v for k, v in attachment(mime, data, "", None, None).items() if k != "url"}
            | {"data": base64.b64encode(data).decode("ascii")}
            for _, (mime, data) in forms]
    written = write(db, report, report_id, inbound, where)
    return f"report {report_id} v{written.version} ({len(references)} results)"


def _withdraw(db: Session, report_id: str, kept: list[dict], inbound: Inbound) -> None:
    """Observations the previous version of the report listed and this one does not: withdrawn."""
    previous = store.current(db, "DiagnosticReport", report_id)
    if previous is None or previous.deleted:
        return
    for reference in previous.body.get("result", []):
        if reference in kept:
            continue
        observation = store.current(db, "Observation", reference["reference"].split("/", 1)[1])
        if observation is not None and not observation.deleted and observation.body.get("status") != "entered-in-error":
            write(db, {**observation.body, "status": "entered-in-error"}, observation.fhir_id, inbound)


def store_results(db: Session, inbound: Inbound) -> str:
    parsed = inbound.parsed
    patients = parsed.all("PID")
    if len(patients) > 1:
        raise error(ErrorCode.SEGMENT_SEQUENCE, "un seul patient par message ORU", patients[1].loc())
    required(parsed.first("PID"), "PID", "patient des résultats")
    groups = groups_of(parsed)
    subject = subject_of(db, inbound)
    nda, _ = visit_number(parsed.first("PV1"))
    encounter = {"encounter": {"reference": f"Encounter/{encounter_id(subject.finess, nda)}"}} if nda else {}
    seen: set[str] = set()
    for group in groups:  # two OBRs of one order would overwrite each other's report
        kind, _, number, where = _order_number(group)
        if (key := f"{kind} {number}") in seen:
            raise error(ErrorCode.DUPLICATE_KEY, f"numéro de demande « {number} » déjà utilisé par un autre OBR "
                                                 "du message", where)
        seen.add(key)
    done = [store_report(db, group, subject, encounter, inbound) for group in groups]
    return "; ".join(done)


def register(registry: Registry) -> None:
    registry.add("ORU", ("R01",), store_results)
