"""The policy decision point: one pure function that says whether a subject may perform an
action on a target of a patient's record, why, and under which purpose. Every door asks it
through ght.access.gate; nothing here touches the database, so the whole table of rules is
tested cell by cell (tests/access/test_policy_table.py).

The rules (docs/security.md explains them against art. L1110-4 and the PGSSI-S):
1. Directory resources (organisations, places, professionals, endpoints) carry no patient: any
   authenticated account reads them; clinicians, nurses and the DSI write them.
2. Patient identities are the group's shared identity base: read by the roles that take care
   of or manage patients (clinicians, nurses, secretaries, identity-vigilance, DIM); an
   external professional or a DAC coordinator only for a patient of whose care team they are.
3. Clinical content: only clinicians and nurses (and external professionals and DAC
   coordinators through an explicit CareTeam membership) of the patient's care team, or
   outside it with the patient's recorded consent, or by break-the-glass; secretaries see the
   administrative part (stays, the patient's will) of patients known at their establishment;
   a DIM physician only under an explicit grant; administrative and DSI roles never.
4. An opposition of the patient hides what one establishment produced from the others, at
   once; break-the-glass passes it unless the opposition says it also covers emergencies.
5. Sensitive resources (confidentiality R or V) need an explicit grant, whatever the relation.
6. An API token's SMART scopes only narrow what the rules above allow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ght.audit.trail import Action, Purpose
from ght.auth import scopes
from ght.directory.vocab import Role

from ght.access.relation import Relation
from ght.access.subject import Subject
from ght.access.will import Kind, Will

DIRECTORY_TYPES = frozenset({"Organization", "Location", "Practitioner", "PractitionerRole", "Endpoint"})
# What a secretary may see of a patient known at the establishment: the stays and the
# patient's will, not the clinical content.
ADMINISTRATIVE_TYPES = frozenset({"Encounter", "Consent"})
IDENTITY_TYPE = "Patient"
SENSITIVE_CODES = frozenset({"R", "V"})  # v3-Confidentiality: restricted, very restricted
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"

READS = frozenset({Action.READ, Action.SEARCH, Action.EXPORT})
WRITES = frozenset({Action.CREATE, Action.UPDATE, Action.DELETE})

CARE_ROLES = (Role.CLINICIAN, Role.NURSE)
TEAM_ROLES = (Role.DAC_COORDINATOR, Role.EXTERNAL)
IDENTITY_READERS = (Role.CLINICIAN, Role.NURSE, Role.SECRETARY, Role.IDENTITY_VIGILANCE, Role.DIM_PHYSICIAN)
IDENTITY_WRITERS = (Role.SECRETARY, Role.IDENTITY_VIGILANCE)
DIRECTORY_WRITERS = (Role.CLINICIAN, Role.NURSE, Role.DSI_ADMIN)


@dataclass(frozen=True, slots=True)
class Target:
    """What is accessed: a resource type, the GHT patient it belongs to (None: no patient),
    the establishment it comes from, whether it is labelled R or V. `source_establishment_id`
    is ANY_SOURCE for a decision about the patient's record as a whole (before a search), when
    the opposition is applied resource by resource afterwards."""

    resource_type: str
    ght_patient_id: str | None = None
    source_establishment_id: int | None = None
    sensitive: bool = False


ANY_SOURCE = -1


@dataclass(frozen=True, slots=True)
class BreakGlassFact:
    id: int
    reason: str
    expires_at: datetime


@dataclass(frozen=True)
class PatientFacts:
    """What the policy needs to know of one patient for one subject (ght.access.facts)."""

    ght_patient_id: str
    relations: tuple[Relation, ...] = ()
    wills: tuple[Will, ...] = ()
    break_glass: BreakGlassFact | None = None
    grants: frozenset[str] = field(default_factory=frozenset)  # "sensitive", "record"
    known_at: frozenset[int] = field(default_factory=frozenset)  # establishments with a local identity


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    purpose: Purpose
    role: str  # the role the access is made under (the trace records it)
    reason: str  # in French: why it is allowed (its basis) or refused
    break_glass_reason: str | None = None


def is_sensitive(body: dict | None) -> bool:
    """Whether a resource is labelled restricted (R) or very restricted (V)."""
    meta = (body or {}).get("meta") if isinstance(body, dict) else None
    labels = meta.get("security") if isinstance(meta, dict) else None
    return any(isinstance(c, dict) and c.get("code") in SENSITIVE_CODES
               and c.get("system", CONFIDENTIALITY_SYSTEM) == CONFIDENTIALITY_SYSTEM for c in labels or ())


def default_purpose(subject: Subject) -> Purpose:
    """The purpose of an access that names no patient (an empty search, a listing)."""
    if subject.has(*CARE_ROLES):
        return Purpose.CARE
    if subject.has(*TEAM_ROLES):
        return Purpose.COORDINATION
    if subject.has(Role.DIM_PHYSICIAN):
        return Purpose.DIM
    return Purpose.ADMINISTRATION


def _allow(purpose: Purpose, role: Role | str, reason: str, break_glass: str | None = None) -> Decision:
    return Decision(True, purpose, str(role), reason, break_glass)


def _deny(subject: Subject, reason: str, purpose: Purpose = Purpose.CARE) -> Decision:
    return Decision(False, purpose, subject.primary_role, reason)


def _role(subject: Subject, roles: tuple[Role, ...]) -> Role | None:
    return next((r for r in roles if r.value in subject.roles), None)


def decide(subject: Subject, action: Action, target: Target, facts: PatientFacts | None = None) -> Decision:
    """May `subject` perform `action` on `target`? `facts`: those of the target's patient
    (required when the target has one)."""
    if subject.scopes and not _scope_allows(subject, target.resource_type, action):
        return _deny(subject, f"la portée du jeton ({subject.scopes}) n'autorise pas "
                              f"« {action.value} » sur {target.resource_type}")
    if target.resource_type in DIRECTORY_TYPES:
        return _directory(subject, action)
    if target.resource_type == IDENTITY_TYPE:
        return _identity(subject, action, facts)
    if target.ght_patient_id is None:
        role = _role(subject, CARE_ROLES)
        if role is None:
            return _deny(subject, "rôle sans accès au contenu clinique")
        return _allow(Purpose.CARE, role, "ressource clinique sans patient")
    if facts is None or facts.ght_patient_id != target.ght_patient_id:
        raise ValueError("decide: the facts of the target's patient are required")
    return _clinical(subject, action, target, facts)


def role_allows(subject: Subject, action: Action, resource_type: str) -> Decision:
    """Whether any of the subject's roles can ever be allowed this action on this type, whatever
    the patient: a search by a role that never sees its results is refused at once, not answered
    with an empty page."""
    if subject.scopes and not _scope_allows(subject, resource_type, action):
        return _deny(subject, f"la portée du jeton ({subject.scopes}) n'autorise pas « {action.value} » sur {resource_type}")
    if resource_type in DIRECTORY_TYPES:
        return _directory(subject, action)
    if resource_type == IDENTITY_TYPE:
        roles = IDENTITY_WRITERS if action in WRITES else (*IDENTITY_READERS, *TEAM_ROLES)
    elif resource_type in ADMINISTRATIVE_TYPES:
        roles = (*CARE_ROLES, *TEAM_ROLES, Role.SECRETARY, Role.DIM_PHYSICIAN)
    else:
        roles = (*CARE_ROLES, *TEAM_ROLES, Role.DIM_PHYSICIAN)  # the DIM under a grant only, decided per patient
    role = _role(subject, roles)
    if role is None:
        return _deny(subject, f"rôle sans accès à {resource_type}")
    return _allow(Purpose.CARE, role, "rôle admis, décision par patient")


def _scope_allows(subject: Subject, resource_type: str, action: Action) -> bool:
    # A `patient/` scope limits a token to the patient of its launch context; no token carries
    # one yet (no SMART launch), so only `user/` and `system/` scopes open anything.
    return bool(scopes.permitting_contexts(subject.scopes, resource_type, action.value) & {"user", "system"})


def _directory(subject: Subject, action: Action) -> Decision:
    if action in READS:
        return _allow(Purpose.ADMINISTRATION, subject.primary_role, "annuaire du GHT")
    role = _role(subject, DIRECTORY_WRITERS)
    if role is None:
        return _deny(subject, "modification de l'annuaire réservée aux soignants et à la DSI", Purpose.ADMINISTRATION)
    return _allow(Purpose.ADMINISTRATION, role, "annuaire du GHT")


def _identity(subject: Subject, action: Action, facts: PatientFacts | None) -> Decision:
    if action in WRITES:
        role = _role(subject, IDENTITY_WRITERS)
        if role is None:
            return _deny(subject, "gestion des identités réservée au secrétariat et à l'identitovigilance",
                         Purpose.ADMINISTRATION)
        return _allow(Purpose.ADMINISTRATION, role, "gestion des identités")
    role = _role(subject, IDENTITY_READERS)
    if role is not None:
        purpose = {Role.DIM_PHYSICIAN: Purpose.DIM, Role.SECRETARY: Purpose.ADMINISTRATION,
                   Role.IDENTITY_VIGILANCE: Purpose.ADMINISTRATION}.get(role, Purpose.CARE)
        return _allow(purpose, role, "base d'identités du GHT")
    team_role = _role(subject, TEAM_ROLES)
    if team_role is not None and facts is not None:
        if facts.relations:
            return _allow(Purpose.COORDINATION, team_role, facts.relations[0].explain())
        if consent := _consent_for(subject, facts):
            return _allow(Purpose.COORDINATION, team_role, consent.explain())
    return _deny(subject, "identité hors de l'équipe de soins ou rôle sans accès aux identités", Purpose.ADMINISTRATION)


def _consent_for(subject: Subject, facts: PatientFacts) -> Will | None:
    return next((w for w in facts.wills if w.kind is Kind.CONSENT and w.names(subject)), None)


def _opposition_against(subject: Subject, target: Target, facts: PatientFacts, emergency: bool) -> Will | None:
    """The opposition that hides this resource from this subject, if any: the resource comes
    from another establishment than the subject's, and the patient opposed sharing with the
    whole group or with the subject (their establishment or themselves)."""
    if target.source_establishment_id == ANY_SOURCE:
        return None
    if subject.establishment_id is not None and target.source_establishment_id == subject.establishment_id:
        return None  # not a sharing: the establishment's own data, to its own professionals
    for will in facts.wills:
        if will.kind is Kind.OPPOSITION and (will.whole_group or will.names(subject)):
            if not emergency or will.emergency_too:
                return will
    return None


def _clinical(subject: Subject, action: Action, target: Target, facts: PatientFacts) -> Decision:
    care_role = _role(subject, CARE_ROLES)
    team_role = _role(subject, TEAM_ROLES)
    role = care_role or team_role
    if target.sensitive and "sensitive" not in facts.grants:
        return _deny(subject, "ressource sensible (confidentialité R ou V) : habilitation explicite requise")
    purpose = Purpose.CARE if care_role else Purpose.COORDINATION
    basis: str | None = None
    if role is not None:
        if facts.relations:
            basis = facts.relations[0].explain()
        elif action in READS and (consent := _consent_for(subject, facts)):
            basis = consent.explain()
        elif care_role and action in WRITES and subject.establishment_id in facts.known_at:
            basis = "patient connu de l'établissement du professionnel"
    if basis is None and "record" in facts.grants:
        role = role or _role(subject, (Role.DIM_PHYSICIAN,)) or subject.primary_role
        purpose = Purpose.DIM if subject.has(Role.DIM_PHYSICIAN) else Purpose.CARE
        basis = "habilitation explicite au dossier"
    if (basis is None and subject.has(Role.SECRETARY) and target.resource_type in ADMINISTRATIVE_TYPES
            and subject.establishment_id in facts.known_at):
        role, purpose = Role.SECRETARY, Purpose.ADMINISTRATION
        basis = "données administratives d'un patient de l'établissement"
    if basis is not None:
        if action in READS and (will := _opposition_against(subject, target, facts, emergency=False)):
            return _deny(subject, f"le patient s'y oppose : {will.explain()}", purpose)
        return _allow(purpose, role, basis)
    if role is None:
        return _deny(subject, "rôle sans accès au contenu clinique")
    if facts.break_glass is not None:
        if action in READS and (will := _opposition_against(subject, target, facts, emergency=True)):
            return _deny(subject, f"le patient s'y oppose, y compris en urgence : {will.explain()}", Purpose.EMERGENCY)
        return _allow(Purpose.EMERGENCY, role, "accès en urgence (bris de glace)", facts.break_glass.reason)
    return _deny(subject, "hors de l'équipe de soins du patient, sans consentement recueilli ni accès en urgence", purpose)
