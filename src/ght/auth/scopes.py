"""SMART-on-FHIR scopes of API tokens (placeholder until the full parser lands)."""

from __future__ import annotations


def permits(granted: str, resource_type: str, interaction: str) -> bool:
    writes = interaction in ("create", "update", "delete")
    for scope in granted.split():
        context, _, rest = scope.partition("/")
        kind, _, mode = rest.partition(".")
        if context not in ("patient", "user", "system") or kind not in ("*", resource_type):
            continue
        if mode == "*" or (mode == "write" and writes) or (mode == "read" and not writes):
            return True
    return not any("/" in s for s in granted.split())
