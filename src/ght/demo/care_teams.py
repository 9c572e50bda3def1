"""The patients' town care teams (équipe de soins de ville): the GP (médecin traitant), a home
nurse for the oldest, a DAC coordinator for the oldest
and for complex elderly patients. External professionals
join a patient's care team only through such an explicit membership with a start and an end
date (art. L1110-12, ght.access.relation), so the demo's external accounts need these to see
anyone; some memberships have ended, as in life.

Drawn from a stream of the person's own (persons.STREAM_CARE_TEAM), so adding them changes no other
generated value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ght.demo import fhir
from ght.demo.model import Professional
from ght.demo.persons import FastRandom
_TEAM_CATEGORY = [{"coding": [{"system": fhir.LOINC, "code": "LA28865-6",
                               "display": "Longitudinal care-coordination focused care team"}]}]


@dataclass(frozen=True, slots=True)
class Member:
    id: str  # Practitioner id
    display: str
    role: str  # French label of the membership


@dataclass(frozen=True, slots=True)
class Town:
    gps: tuple[Member, ...]
    nurses: tuple[Member, ...]
    coordinators: tuple[Member, ...]


def build_town(professionals: list[Professional]) -> Town:
    def members(profession: str, role: str, prefix: str = "") -> tuple[Member, ...]:
        return tuple(Member(fhir.practitioner_id(p), f"{prefix}{p.given_name.title()} {p.family_name}", role)
                     for p in professionals if p.external and p.profession == profession)

    return Town(members("medecin", "Médecin traitant", "Dr "), members("infirmier", "Infirmier·ère à domicile"),
                members("coordinateur", "Coordinateur·rice du DAC"))


def care_team(rng: FastRandom, town: Town, patient_id: str, source: str, age: int, complex_needs: bool,
              as_of_day: int, instant) -> dict[str, Any] | None:
    """The CareTeam of one local patient, or None (about a third of adults have one recorded).
    `instant(day, minute)` writes a FHIR dateTime of the generator's calendar."""
    if age < 18 or not town.gps or rng.random() >= 0.35:
        return None

    def membership(member: Member, start_ago: int, lasts: int) -> dict[str, Any]:
        start = as_of_day - start_ago
        return {"role": [{"text": member.role}],
                "member": {"reference": f"Practitioner/{member.id}", "display": member.display},
                "period": {"start": instant(start, 9 * 60), "end": instant(start + lasts, 18 * 60)}}

    participants = [membership(town.gps[rng.below(len(town.gps))], 30 + rng.below(3000), 3650)]
    if age >= 70 and town.nurses and rng.random() < 0.5:
        # One in five home-nursing episodes is over: that nurse is no longer in the team.
        ended = rng.random() < 0.2
        participants.append(membership(town.nurses[rng.below(len(town.nurses))],
                                       200 + rng.below(200) if ended else 10 + rng.below(150), 120 if ended else 365))
    if age >= 75 and (complex_needs or age >= 85) and town.coordinators and rng.random() < 0.7:
        participants.append(membership(town.coordinators[rng.below(len(town.coordinators))],
                                       5 + rng.below(120), 365))
    return {
        "resourceType": "CareTeam", "id": f"{patient_id}-ct", "meta": {"source": source},
        "status": "active", "category": _TEAM_CATEGORY, "name": "Équipe de soins de ville",
        "subject": {"reference": f"Patient/{patient_id}"},
        "participant": participants,
    }
