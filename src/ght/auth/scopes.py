"""SMART-on-FHIR scopes of API bearer tokens: parsing, validation and the question the access
policy asks, "does this token's scope allow this interaction on this resource type?".

Accepted forms (SMART App Launch 1.0 and 2.0):
- v1: `<context>/<Type|*>.<read|write|*>`, e.g. `user/Observation.read`, `system/*.read`;
- v2: `<context>/<Type|*>.<c r u d s, in any order, each once>`, e.g. `patient/Observation.rs`;
  written back in SMART's order (`.sr` becomes `.rs`); v2 query restrictions (`?category=...`)
  are refused rather than ignored, since they would widen what the client believes it asked for;
- contexts `patient/` (the patient in context), `user/` (what the user may see), `system/`
  (a back-end service);
- identity and launch scopes that grant no resource access: `openid`, `fhirUser`, `profile`,
  `launch`, `launch/patient`, `launch/encounter`, `online_access`, `offline_access`.

Scopes only narrow what the access policy (care team, roles, consent) allows; they never widen
it. A token asked for without any scope gets DEFAULT_SCOPE, `user/*.*`: everything the account
itself may do, and no more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_SCOPE = "user/*.*"

CONTEXTS = ("patient", "user", "system")
INTERACTIONS = ("read", "search", "create", "update", "delete", "export")

# SMART v2 permission letters, in the order the specification writes them.
_V2_ORDER = "cruds"
_V2_LETTER = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
# SMART v1 actions as the interactions they allow.
_V1_ACTIONS = {
    "read": frozenset({"read", "search"}),
    "write": frozenset({"create", "update", "delete"}),
    "*": frozenset({"read", "search", "create", "update", "delete"}),
}
# A bulk export reads and searches every resource of the types it exports (SMART Bulk Data
# asks `system/*.read` in v1 and `system/*.rs` in v2).
_EXPORT_NEEDS = frozenset({"read", "search"})

NON_RESOURCE_SCOPES = frozenset({
    "openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter",
    "online_access", "offline_access",
})

_RESOURCE_SCOPE = re.compile(r"(?P<context>[a-z]+)/(?P<type>\*|[A-Za-z]+)\.(?P<action>[^\s]+)")


@dataclass(frozen=True)
class ResourceScope:
    context: str  # patient | user | system
    resource_type: str  # a FHIR resource type, or "*"
    interactions: frozenset[str]  # among INTERACTIONS less "export"
    text: str  # the normalised scope

    def covers(self, resource_type: str, needed: frozenset[str]) -> bool:
        return self.resource_type in ("*", resource_type) and needed <= self.interactions


@lru_cache(maxsize=512)
def _is_resource_type(name: str) -> bool:
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.resource import Resource

    try:
        return issubclass(get_fhir_model_class(name), Resource)
    except (ValueError, KeyError, AttributeError):
        return False


def _parse_action(action: str) -> tuple[frozenset[str], str] | None:
    """(interactions, normalised action) for a v1 or v2 action, or None."""
    if action in _V1_ACTIONS:
        return _V1_ACTIONS[action], action
    if action and len(set(action)) == len(action) and set(action) <= set(_V2_ORDER):
        ordered = "".join(letter for letter in _V2_ORDER if letter in action)
        return frozenset(_V2_LETTER[letter] for letter in ordered), ordered
    return None


def parse_scope(scope: str) -> ResourceScope | None:
    """One scope: a ResourceScope, None for an identity or launch scope, or ValueError (French)."""
    if scope in NON_RESOURCE_SCOPES:
        return None
    if "?" in scope:
        raise ValueError(
            f"portée « {scope} » refusée : les restrictions par paramètre (SMART v2, « ?… ») ne sont pas prises en charge"
        )
    match = _RESOURCE_SCOPE.fullmatch(scope)
    if match is None:
        raise ValueError(
            f"portée « {scope} » invalide : attendu contexte/Type.action, par exemple user/Observation.read, "
            "patient/*.rs ou system/*.read"
        )
    context, resource_type, action = match["context"], match["type"], match["action"]
    if context not in CONTEXTS:
        raise ValueError(f"portée « {scope} » invalide : contexte « {context} » inconnu (patient, user ou system)")
    if resource_type != "*" and not _is_resource_type(resource_type):
        raise ValueError(f"portée « {scope} » invalide : « {resource_type} » n'est pas un type de ressource FHIR")
    parsed = _parse_action(action)
    if parsed is None:
        raise ValueError(
            f"portée « {scope} » invalide : action « {action} » inconnue (read, write, * ou des lettres parmi c, r, u, d, s)"
        )
    interactions, normalised_action = parsed
    return ResourceScope(context, resource_type, interactions, f"{context}/{resource_type}.{normalised_action}")


def validate(requested: str) -> str:
    """The normalised scope string of a token request: scopes separated by one space, each once,
    in the order asked, v2 letters in SMART's order. An empty request gives DEFAULT_SCOPE.
    Raises ValueError with a French message naming the first bad scope."""
    normalised: list[str] = []
    for scope in requested.split():
        parsed = parse_scope(scope)
        text = scope if parsed is None else parsed.text
        if text not in normalised:
            normalised.append(text)
    return " ".join(normalised) if normalised else DEFAULT_SCOPE


@lru_cache(maxsize=1024)
def _resource_scopes(granted: str) -> tuple[ResourceScope, ...]:
    scopes = []
    for scope in granted.split():
        try:
            parsed = parse_scope(scope)
        except ValueError:
            continue  # a scope this version does not understand grants nothing
        if parsed is not None:
            scopes.append(parsed)
    return tuple(scopes)


def _needed(interaction: str) -> frozenset[str]:
    if interaction == "export":
        return _EXPORT_NEEDS
    if interaction not in INTERACTIONS:
        raise ValueError(f"interaction inconnue « {interaction} » (possibles : {', '.join(INTERACTIONS)})")
    return frozenset({interaction})


def permitting_contexts(granted: str, resource_type: str, interaction: str) -> frozenset[str]:
    """The contexts (patient, user, system) of the granted scopes that allow `interaction` on
    `resource_type`; empty when none does. A `patient/` context limits the access to the patient
    in context, which the access policy enforces."""
    needed = _needed(interaction)
    return frozenset(s.context for s in _resource_scopes(granted) if s.covers(resource_type, needed))


def permits(granted: str, resource_type: str, interaction: str) -> bool:
    """Whether the space-separated scope string stored on a session allows `interaction`
    (read, search, create, update, delete, export) on `resource_type`, in any context.
    An empty or unreadable scope string allows nothing (sessions are issued with DEFAULT_SCOPE
    when none is asked)."""
    return bool(permitting_contexts(granted, resource_type, interaction))
