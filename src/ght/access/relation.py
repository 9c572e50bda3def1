"""The care-team relation (équipe de soins, art. L1110-12), computed from the patient's record
and explainable: each Relation names the resource that makes the professional a member of the
patient's care team, on which basis, and over which period.

A professional of the group's establishments is in a patient's care team when listed in a
CareTeam of the patient, involved in an encounter or episode of care of the patient at any
establishment (within a configurable period after it ended), or assigned a Task or a referral
(ServiceRequest.performer) for the patient. An external professional (GP, home nurse, DAC
coordinator) joins only through an explicit CareTeam membership with a start and an end date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ght.interop.fhir.systems import IDNPS_SYSTEM
from ght.record.indexing import parse_date_range, parse_reference

from ght.access.subject import Subject

# The resource types that can make a professional a member of the patient's care team, with
# the search parameter (of ght.record.search_parameters) that names the professional.
RELATION_TYPES = {"Encounter": "participant", "EpisodeOfCare": "care-manager", "CareTeam": "participant",
                  "Task": "owner", "ServiceRequest": "performer"}


class Basis(StrEnum):
    CARE_TEAM = "careteam"
    ENCOUNTER = "encounter"
    EPISODE = "episode"
    TASK = "task"
    REFERRAL = "referral"


BASIS_LABELS_FR = {
    Basis.CARE_TEAM: "membre de l'équipe de soins (CareTeam)",
    Basis.ENCOUNTER: "intervenant d'un séjour ou d'une consultation",
    Basis.EPISODE: "responsable d'une prise en charge (EpisodeOfCare)",
    Basis.TASK: "tâche assignée pour ce patient",
    Basis.REFERRAL: "demande d'avis ou adressage reçu",
}

_VOID = {"cancelled", "entered-in-error", "rejected", "revoked", "failed"}
_OPEN_TASK = {"draft", "requested", "received", "accepted", "ready", "in-progress", "on-hold"}


@dataclass(frozen=True, slots=True)
class Relation:
    basis: Basis
    resource: str  # "Type/id"
    establishment_id: int | None  # the source establishment of that resource
    start: datetime | None
    end: datetime | None  # None: open

    def explain(self) -> str:
        period = ""
        if self.start or self.end:
            period = (f" du {self.start:%d/%m/%Y}" if self.start else "") + (
                f" au {self.end:%d/%m/%Y}" if self.end else " (en cours)")
        return f"{BASIS_LABELS_FR[self.basis]} : {self.resource}{period}"


def names(subject: Subject, reference) -> bool:
    """Whether a FHIR Reference designates this professional: `Practitioner/<id>` (relative or
    absolute) or a logical reference by IDNPS."""
    if not isinstance(reference, dict):
        return False
    literal = reference.get("reference")
    if isinstance(literal, str) and (parsed := parse_reference(literal)) is not None:
        if parsed[0] == "Practitioner" and parsed[1] in subject.practitioner_ids:
            return True
    identifier = reference.get("identifier")
    return (isinstance(identifier, dict) and identifier.get("system") == IDNPS_SYSTEM
            and identifier.get("value") in subject.idnps)


def period_bounds(period) -> tuple[datetime | None, datetime | None]:
    if not isinstance(period, dict):
        return None, None
    start = parse_date_range(period["start"]) if isinstance(period.get("start"), str) else None
    end = parse_date_range(period["end"]) if isinstance(period.get("end"), str) else None
    return (start[0] if start else None), (end[1] if end else None)


def _instant(value) -> datetime | None:
    span = parse_date_range(value) if isinstance(value, str) else None
    return span[1] if span else None


@dataclass(frozen=True, slots=True)
class RelationRules:
    now: datetime
    after_care: timedelta  # how long an ended encounter, episode, task or referral still counts


def relations(subject: Subject, rows: Iterable[tuple[str, str, int | None, dict]], rules: RelationRules) -> list[Relation]:
    """The current relations between the professional and the patient, from the patient's
    resources that mention the professional (type, id, source establishment, body)."""
    found: list[Relation] = []
    for resource_type, fhir_id, establishment_id, body in rows:
        if not isinstance(body, dict) or body.get("status") in _VOID:
            continue
        reader = _READERS.get(resource_type)
        if reader is None:
            continue
        for basis, start, end in reader(subject, body):
            relation = Relation(basis, f"{resource_type}/{fhir_id}", establishment_id, start, end)
            if _current(relation, subject, rules):
                found.append(relation)
    return found


def _current(relation: Relation, subject: Subject, rules: RelationRules) -> bool:
    if relation.basis is Basis.CARE_TEAM:
        if subject.external and (relation.start is None or relation.end is None):
            return False  # an external member needs an explicit membership with both dates
        return (relation.start is None or relation.start <= rules.now) and (
            relation.end is None or rules.now <= relation.end)
    if subject.external:
        return False
    return relation.end is None or rules.now - relation.end <= rules.after_care


def _encounter(subject: Subject, body: dict):
    whole = period_bounds(body.get("period"))
    for participant in body.get("participant") or ():
        if isinstance(participant, dict) and names(subject, participant.get("individual")):
            own = period_bounds(participant.get("period"))
            yield Basis.ENCOUNTER, own[0] or whole[0], own[1] or (whole[1] if body.get("status") != "in-progress" else None)


def _episode(subject: Subject, body: dict):
    if names(subject, body.get("careManager")):
        start, end = period_bounds(body.get("period"))
        yield Basis.EPISODE, start, None if body.get("status") in ("active", "waitlist", "onhold") else end


def _care_team(subject: Subject, body: dict):
    if body.get("status") not in ("active", None):
        return
    team = period_bounds(body.get("period"))
    for participant in body.get("participant") or ():
        if isinstance(participant, dict) and names(subject, participant.get("member")):
            own = period_bounds(participant.get("period"))
            yield Basis.CARE_TEAM, own[0] or team[0], own[1] or team[1]


def _task(subject: Subject, body: dict):
    if names(subject, body.get("owner")):
        start, end = period_bounds(body.get("executionPeriod"))
        if body.get("status") in _OPEN_TASK:
            end = None
        else:
            end = end or _instant(body.get("lastModified")) or _instant(body.get("authoredOn"))
        yield Basis.TASK, start or _instant(body.get("authoredOn")), end


def _referral(subject: Subject, body: dict):
    if any(names(subject, p) for p in body.get("performer") or ()):
        authored = _instant(body.get("authoredOn"))
        yield Basis.REFERRAL, authored, None if body.get("status") in ("active", "on-hold", "draft") else authored


_READERS = {"Encounter": _encounter, "EpisodeOfCare": _episode, "CareTeam": _care_team,
            "Task": _task, "ServiceRequest": _referral}
