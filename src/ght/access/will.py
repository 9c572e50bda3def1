"""The patient's will about sharing, read from the FHIR Consent resources of the record
(scope patient-privacy, status active), so that what a hospital system or the UI records is
honoured at the next request:

- an **opposition** (`provision.type = deny`) to sharing, for the whole group (no actor) or
  for given establishments or professionals (`provision.actor`): the data of one establishment
  are then no longer shown to the others (its own professionals still see what it produced). A
  deny whose `provision.purpose` includes ETREAT (emergency treatment) also holds against
  break-the-glass;
- a **consent** (`provision.type = permit`) to sharing outside the care team with the
  establishments or professionals it names.

Who collected it and when: `Consent.dateTime` and the collector extension (a Practitioner),
written by `ght.access.api` when the UI or the JSON API records it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from ght.interop.fhir.systems import FINESS_SYSTEM, IDNST_SYSTEM
from ght.record.indexing import parse_date_range, parse_reference

from ght.access.relation import period_bounds, names
from ght.access.subject import Subject

CONSENT_SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"
ACT_REASON_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
# The professional who collected the patient's will (no R4 element says it).
COLLECTOR_EXTENSION = "https://ght.example.fr/fhir/StructureDefinition/consent-collector"


class Kind(StrEnum):
    OPPOSITION = "opposition"
    CONSENT = "consent"


@dataclass(frozen=True, slots=True)
class Will:
    kind: Kind
    resource: str  # "Consent/<id>"
    establishments: frozenset[int] = field(default_factory=frozenset)  # named establishments
    practitioners: tuple[dict, ...] = ()  # named professionals (References)
    emergency_too: bool = False  # an opposition that also holds against break-the-glass
    recorded_at: datetime | None = None
    collector: str | None = None  # display or reference of who collected it

    @property
    def whole_group(self) -> bool:
        return not self.establishments and not self.practitioners

    def names(self, subject: Subject) -> bool:
        return (subject.establishment_id in self.establishments
                or any(names(subject, reference) for reference in self.practitioners))

    def explain(self) -> str:
        what = "opposition au partage" if self.kind is Kind.OPPOSITION else "consentement au partage"
        scope = "pour tout le GHT" if self.whole_group else "pour des établissements ou professionnels désignés"
        when = f", recueilli le {self.recorded_at:%d/%m/%Y}" if self.recorded_at else ""
        by = f" par {self.collector}" if self.collector else ""
        return f"{what} {scope} ({self.resource}{when}{by})"


def finess_of(reference) -> str | None:
    """The FINESS an Organization reference names: `Organization/ej-<FINESS>` or
    `Organization/et-<FINESS>` (the directory's ids), or a FINESS / IDNST identifier."""
    if not isinstance(reference, dict):
        return None
    literal = reference.get("reference")
    if isinstance(literal, str) and (parsed := parse_reference(literal)) and parsed[0] == "Organization":
        prefix, _, finess = parsed[1].partition("-")
        if prefix in ("ej", "et") and finess.isdigit():
            return finess
    identifier = reference.get("identifier")
    if isinstance(identifier, dict) and isinstance(value := identifier.get("value"), str):
        if identifier.get("system") == FINESS_SYSTEM:
            return value
        if identifier.get("system") == IDNST_SYSTEM and value.startswith("1"):
            return value[1:]
    return None


def _is_privacy(body: dict) -> bool:
    codings = (body.get("scope") or {}).get("coding") or ()
    return any(isinstance(c, dict) and c.get("code") == "patient-privacy" for c in codings)


def _in_force(provision: dict, now: datetime) -> bool:
    start, end = period_bounds(provision.get("period"))
    return (start is None or start <= now) and (end is None or now <= end)


def wills(rows: Iterable[tuple[str, str, int | None, dict]], establishment_of_finess: Mapping[str, int],
          now: datetime) -> list[Will]:
    """The patient's oppositions and consents in force, from the Consent rows of the record."""
    found = []
    for resource_type, fhir_id, _establishment, body in rows:
        if resource_type != "Consent" or not isinstance(body, dict):
            continue
        if body.get("status") != "active" or not _is_privacy(body):
            continue
        provision = body.get("provision") or {}
        kind = {"deny": Kind.OPPOSITION, "permit": Kind.CONSENT}.get(provision.get("type"))
        if kind is None or not _in_force(provision, now):
            continue
        establishments, practitioners = set(), []
        for actor in provision.get("actor") or ():
            reference = actor.get("reference") if isinstance(actor, dict) else None
            if (finess := finess_of(reference)) is not None:
                # An unknown FINESS names no establishment of the group: kept as an impossible id
                # so that the will does not widen to the whole group.
                establishments.add(establishment_of_finess.get(finess, -1))
            elif isinstance(reference, dict):
                practitioners.append(reference)
        if kind is Kind.CONSENT and not establishments and not practitioners:
            continue  # a consent must say to whom; an open permit would share with everyone
        purposes = provision.get("purpose") or ()
        recorded = parse_date_range(body["dateTime"]) if isinstance(body.get("dateTime"), str) else None
        found.append(Will(
            kind, f"Consent/{fhir_id}", frozenset(establishments), tuple(practitioners),
            emergency_too=any(isinstance(p, dict) and p.get("code") == "ETREAT" for p in purposes),
            recorded_at=recorded[0] if recorded else None, collector=_collector(body)))
    return found


def _collector(body: dict) -> str | None:
    for extension in body.get("extension") or ():
        if isinstance(extension, dict) and extension.get("url") == COLLECTOR_EXTENSION:
            reference = extension.get("valueReference") or {}
            return reference.get("display") or reference.get("reference")
    return None
