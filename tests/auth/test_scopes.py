"""SMART-on-FHIR scopes: validation, normalisation and `permits`, table-driven."""

import pytest

from ght.auth.scopes import DEFAULT_SCOPE, INTERACTIONS, permits, permitting_contexts, validate

READ, SEARCH, CREATE, UPDATE, DELETE, EXPORT = INTERACTIONS

# (granted scope string, resource type, interaction, expected)
PERMITS = [
    # SMART v1: read covers read and search, write covers create, update and delete.
    ("user/Observation.read", "Observation", READ, True),
    ("user/Observation.read", "Observation", SEARCH, True),
    ("user/Observation.read", "Observation", CREATE, False),
    ("user/Observation.read", "Observation", UPDATE, False),
    ("user/Observation.read", "Observation", DELETE, False),
    ("user/Observation.read", "Observation", EXPORT, True),
    ("user/Observation.read", "Patient", READ, False),
    ("user/Observation.write", "Observation", CREATE, True),
    ("user/Observation.write", "Observation", UPDATE, True),
    ("user/Observation.write", "Observation", DELETE, True),
    ("user/Observation.write", "Observation", READ, False),
    ("user/Observation.write", "Observation", SEARCH, False),
    ("user/Observation.write", "Observation", EXPORT, False),
    ("user/Observation.*", "Observation", READ, True),
    ("user/Observation.*", "Observation", DELETE, True),
    ("user/Observation.*", "Observation", EXPORT, True),
    ("user/Observation.*", "Encounter", READ, False),
    ("user/*.read", "Encounter", READ, True),
    ("user/*.read", "Encounter", SEARCH, True),
    ("user/*.read", "Encounter", UPDATE, False),
    ("user/*.*", "Encounter", UPDATE, True),
    ("user/*.*", "Condition", EXPORT, True),
    ("system/*.read", "Patient", EXPORT, True),
    ("system/*.read", "Patient", CREATE, False),
    ("patient/*.read", "Observation", READ, True),
    # SMART v2: each letter one interaction; export needs r and s.
    ("patient/Observation.rs", "Observation", READ, True),
    ("patient/Observation.rs", "Observation", SEARCH, True),
    ("patient/Observation.rs", "Observation", CREATE, False),
    ("patient/Observation.rs", "Observation", EXPORT, True),
    ("patient/Observation.r", "Observation", SEARCH, False),
    ("patient/Observation.r", "Observation", EXPORT, False),
    ("patient/Observation.s", "Observation", READ, False),
    ("user/Observation.c", "Observation", CREATE, True),
    ("user/Observation.c", "Observation", UPDATE, False),
    ("user/Observation.u", "Observation", UPDATE, True),
    ("user/Observation.d", "Observation", DELETE, True),
    ("user/Observation.d", "Observation", UPDATE, False),
    ("user/*.cruds", "DocumentReference", DELETE, True),
    ("user/*.cruds", "DocumentReference", EXPORT, True),
    ("system/*.rs", "Patient", EXPORT, True),
    # Several scopes: any one that covers the interaction is enough.
    ("user/Patient.read user/Observation.write", "Observation", CREATE, True),
    ("user/Patient.read user/Observation.write", "Observation", READ, False),
    ("user/Patient.read user/Observation.write", "Patient", SEARCH, True),
    ("patient/Observation.r patient/Observation.s", "Observation", EXPORT, False),  # one scope must cover it
    ("openid fhirUser user/Encounter.read", "Encounter", READ, True),
    # Nothing granted, identity scopes only, or unreadable scopes: nothing allowed.
    ("", "Observation", READ, False),
    ("openid fhirUser profile", "Patient", READ, False),
    ("user/Observaton.read", "Observation", READ, False),
    ("admin", "Observation", READ, False),
    ("user/Observation.read", "observation", READ, False),  # resource types are case-sensitive
]


@pytest.mark.parametrize(("granted", "resource_type", "interaction", "expected"), PERMITS)
def test_permits(granted, resource_type, interaction, expected):
    assert permits(granted, resource_type, interaction) is expected


def test_permitting_contexts_tells_which_context_allows():
    granted = "patient/Observation.rs user/*.read system/Patient.read"
    assert permitting_contexts(granted, "Observation", "read") == {"patient", "user"}
    assert permitting_contexts(granted, "Patient", "export") == {"user", "system"}
    assert permitting_contexts(granted, "Patient", "create") == frozenset()


def test_unknown_interaction_is_a_programming_error():
    with pytest.raises(ValueError, match="interaction inconnue « patch »"):
        permits("user/*.*", "Observation", "patch")


# (requested, normalised)
VALID = [
    ("", DEFAULT_SCOPE),
    ("   ", DEFAULT_SCOPE),
    ("user/Observation.read", "user/Observation.read"),
    ("user/Observation.read  system/*.read", "user/Observation.read system/*.read"),
    ("user/*.*", "user/*.*"),
    ("patient/Observation.sr", "patient/Observation.rs"),
    ("user/Patient.dscru", "user/Patient.cruds"),
    ("user/Patient.read user/Patient.read", "user/Patient.read"),
    ("patient/Observation.rs patient/Observation.sr", "patient/Observation.rs"),
    ("openid fhirUser launch/patient offline_access", "openid fhirUser launch/patient offline_access"),
    ("patient/*.write", "patient/*.write"),
]


@pytest.mark.parametrize(("requested", "normalised"), VALID)
def test_validate_normalises(requested, normalised):
    assert validate(requested) == normalised
    assert validate(normalised) == normalised  # idempotent


# (requested, words the French message must contain)
INVALID = [
    ("user/Observaton.read", "« user/Observaton.read »"),
    ("doctor/Observation.read", "contexte « doctor » inconnu"),
    ("user/Observation.destroy", "action « destroy » inconnue"),
    ("user/Observation.rr", "action « rr » inconnue"),
    ("user/Observation.", "« user/Observation. » invalide"),
    ("user/HumanName.read", "« HumanName » n'est pas un type de ressource FHIR"),
    ("user/Observation.rs?category=laboratory", "restrictions par paramètre"),
    ("Observation.read", "attendu contexte/Type.action"),
    ("admin", "« admin » invalide"),
    ("user/Patient.read user/Bad.read", "« user/Bad.read »"),
]


@pytest.mark.parametrize(("requested", "message"), INVALID)
def test_validate_refuses_naming_the_bad_scope(requested, message):
    with pytest.raises(ValueError) as error:
        validate(requested)
    assert message in str(error.value)
