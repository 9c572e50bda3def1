"""The access policy, cell by cell: role × care-team relation × opposition × consent ×
break-the-glass × sensitivity × resource type × action (read, search, write, export).

Each cell is decided by the real policy on facts computed by the real relation and will readers
from FHIR bodies (CareTeam, Encounter, Consent), and compared with an oracle written apart: the
rules of art. L1110-4 as docs/security.md states them, in plain conditions."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from ght.access.policy import BreakGlassFact, PatientFacts, Target, decide
from ght.access.relation import RelationRules, relations
from ght.access.subject import Subject
from ght.access.will import wills
from ght.audit.trail import Action

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
RULES = RelationRules(NOW, timedelta(days=365))
A, B, C = 1, 2, 3  # establishments: the subject's, the resource's source, a third one
FINESS = {"100000001": A, "100000002": B, "100000003": C}
PATIENT = "GHT0000000001"

ROLES = ("clinician", "nurse", "secretary", "identity_vigilance", "dim_physician", "dsi_admin", "dpo",
         "dac_coordinator", "external")
EXTERNAL_ROLES = ("dac_coordinator", "external")
RELATIONS = ("care-team", "care-team-dated", "former-encounter", "old-encounter", "expired-membership", "none")
OPPOSITIONS = ("none", "whole-group", "whole-group-emergency-too", "subject-establishment", "other-establishment")
ACTIONS = (Action.READ, Action.SEARCH, Action.CREATE, Action.EXPORT)
TYPES = ("Observation", "Encounter")


def subject(role: str) -> Subject:
    external = role in EXTERNAL_ROLES
    return Subject(account_id=7, username=role, roles=(role,), professional_id=70, rpps="10000000007",
                   adeli=None, external=external, establishment_id=None if external else A)


ME = {"reference": "Practitioner/pr-10000000007"}


def relation_rows(kind: str) -> list[tuple]:
    day = timedelta(days=1)
    iso = lambda moment: moment.isoformat()  # noqa: E731
    if kind == "care-team":
        body = {"resourceType": "CareTeam", "status": "active",
                "participant": [{"member": ME, "period": {"start": iso(NOW - 30 * day)}}]}
    elif kind == "care-team-dated":
        body = {"resourceType": "CareTeam", "status": "active",
                "participant": [{"member": ME, "period": {"start": iso(NOW - 30 * day), "end": iso(NOW + 30 * day)}}]}
    elif kind == "expired-membership":
        body = {"resourceType": "CareTeam", "status": "active",
                "participant": [{"member": ME, "period": {"start": iso(NOW - 90 * day), "end": iso(NOW - day)}}]}
    elif kind == "former-encounter":
        body = {"resourceType": "Encounter", "status": "finished", "participant": [{"individual": ME}],
                "period": {"start": iso(NOW - 40 * day), "end": iso(NOW - 30 * day)}}
    elif kind == "old-encounter":
        body = {"resourceType": "Encounter", "status": "finished", "participant": [{"individual": ME}],
                "period": {"start": iso(NOW - 800 * day), "end": iso(NOW - 790 * day)}}
    else:
        return []
    return [(body["resourceType"], "r1", B, body)]


def consent_rows(opposition: str, consent: bool) -> list[tuple]:
    rows = []
    privacy = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]}
    if opposition != "none":
        provision = {"type": "deny"}
        if opposition == "subject-establishment":
            provision["actor"] = [{"reference": {"reference": "Organization/ej-100000001"}}]
        elif opposition == "other-establishment":
            provision["actor"] = [{"reference": {"reference": "Organization/ej-100000003"}}]
        elif opposition == "whole-group-emergency-too":
            provision["purpose"] = [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT"}]
        rows.append(("Consent", "c1", A, {"resourceType": "Consent", "status": "active", "scope": privacy,
                                          "provision": provision}))
    if consent:
        rows.append(("Consent", "c2", A, {"resourceType": "Consent", "status": "active", "scope": privacy,
                                          "provision": {"type": "permit", "actor": [{"reference": ME}]}}))
    return rows


def facts_of(who: Subject, relation: str, opposition: str, consent: bool, glass: bool) -> PatientFacts:
    return PatientFacts(
        PATIENT,
        relations=tuple(relations(who, relation_rows(relation), RULES)),
        wills=tuple(wills(consent_rows(opposition, consent), FINESS, NOW)),
        break_glass=BreakGlassFact(1, "arrêt cardio-respiratoire aux urgences", NOW + timedelta(hours=1)) if glass else None,
        known_at=frozenset({A, B}))


def expected(role, relation, opposition, consent, glass, sensitive, action, resource_type) -> bool:
    """The rules, stated apart from the policy's code."""
    external = role in EXTERNAL_ROLES
    reading = action in (Action.READ, Action.SEARCH, Action.EXPORT)
    if sensitive:
        return False  # no explicit grant in this table
    if external:
        in_team = relation == "care-team-dated"  # only an explicit membership with both dates
    else:
        in_team = relation in ("care-team", "care-team-dated", "former-encounter")
    # The opposition hides the data of another establishment (B) from the subject.
    hidden = {"none": False, "whole-group": True, "whole-group-emergency-too": True,
              "subject-establishment": not external, "other-establishment": False}[opposition]
    hidden_in_emergency = opposition == "whole-group-emergency-too"
    if role in ("clinician", "nurse", "dac_coordinator", "external"):
        if in_team or (reading and consent) or (not reading and not external):
            # (a clinician or nurse writes for a patient known at their establishment: A)
            return not (reading and hidden)
        if glass:
            return not (reading and hidden_in_emergency)
        return False
    if role == "secretary":
        return resource_type == "Encounter" and not (reading and hidden)
    return False  # identity-vigilance, DIM without a grant, DSI, DPO: no clinical content


CELLS = list(itertools.product(ROLES, RELATIONS, OPPOSITIONS, (False, True), (False, True), (False, True),
                               ACTIONS, TYPES))


def test_every_cell_of_the_table():
    wrong = []
    for role, relation, opposition, consent, glass, sensitive, action, resource_type in CELLS:
        who = subject(role)
        facts = facts_of(who, relation, opposition, consent, glass)
        decision = decide(who, action, Target(resource_type, PATIENT, B, sensitive), facts)
        want = expected(role, relation, opposition, consent, glass, sensitive, action, resource_type)
        if decision.allowed != want:
            wrong.append((role, relation, opposition, consent, glass, sensitive, action.value, resource_type,
                          decision.reason))
        assert decision.reason  # every decision says why
    assert not wrong, f"{len(wrong)} of {len(CELLS)} cells differ, e.g. {wrong[:5]}"
    assert len(CELLS) == 9 * 6 * 5 * 2 * 2 * 2 * 4 * 2


@pytest.mark.parametrize("role", ["clinician", "external"])
def test_break_glass_is_flagged_and_its_purpose_is_emergency(role):
    who = subject(role)
    decision = decide(who, Action.READ, Target("Observation", PATIENT, B), facts_of(who, "none", "none", False, True))
    assert decision.allowed and decision.purpose == "emergency"
    assert decision.break_glass_reason == "arrêt cardio-respiratoire aux urgences"


def test_the_establishments_own_data_are_not_a_sharing():
    who = subject("clinician")
    facts = facts_of(who, "care-team", "whole-group", False, False)
    assert decide(who, Action.READ, Target("Observation", PATIENT, A), facts).allowed  # produced at A
    assert not decide(who, Action.READ, Target("Observation", PATIENT, B), facts).allowed


def test_grants_open_sensitive_resources_and_the_dim_record():
    clinician, dim = subject("clinician"), subject("dim_physician")
    sensitive = Target("Observation", PATIENT, B, sensitive=True)
    in_team = facts_of(clinician, "care-team", "none", False, False)
    assert not decide(clinician, Action.READ, sensitive, in_team).allowed
    granted = PatientFacts(PATIENT, in_team.relations, (), None, frozenset({"sensitive"}), frozenset({A, B}))
    assert decide(clinician, Action.READ, sensitive, granted).allowed
    plain = Target("Observation", PATIENT, B)
    assert not decide(dim, Action.READ, plain, PatientFacts(PATIENT)).allowed
    decision = decide(dim, Action.READ, plain, PatientFacts(PATIENT, grants=frozenset({"record"})))
    assert decision.allowed and decision.purpose == "dim"


def test_scopes_narrow_what_the_rules_allow():
    who = Subject(7, "doc", ("clinician",), 70, "10000000007", None, False, A, scopes="user/Encounter.read")
    facts = facts_of(who, "care-team", "none", False, False)
    assert decide(who, Action.READ, Target("Encounter", PATIENT, B), facts).allowed
    refused = decide(who, Action.READ, Target("Observation", PATIENT, B), facts)
    assert not refused.allowed and "portée" in refused.reason
    assert not decide(who, Action.CREATE, Target("Encounter", PATIENT, B), facts).allowed
    launched = Subject(7, "doc", ("clinician",), 70, "10000000007", None, False, A, scopes="patient/*.read")
    assert not decide(launched, Action.READ, Target("Encounter", PATIENT, B), facts).allowed  # no launch context
