"""Structural validation of incoming resources with fhir.resources (R4B models)."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pydantic
from fhir.resources.R4B import get_fhir_model_class

from ght.interop.fhir.outcome import FhirError, Issue, error

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")

_ERROR_CODES = {"missing": "required", "extra_forbidden": "structure"}


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise error(400, "invalid", f"JSON illisible : {exc}") from None


def _expression(resource_type: str, location: tuple) -> str:
    path = resource_type
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def validate(body: Any, expected_type: str) -> dict[str, Any]:
    """The body itself (kept as sent, for an exact round trip) once its structure is valid;
    otherwise a FhirError listing every fault with its path."""
    if not isinstance(body, dict):
        raise error(400, "structure", "une ressource FHIR (objet JSON) est attendue")
    found = body.get("resourceType")
    if found != expected_type:
        raise error(400, "structure",
                    f"resourceType « {found} » reçu, « {expected_type} » attendu", "resourceType")
    try:
        get_fhir_model_class(expected_type).model_validate(body)
    except pydantic.ValidationError as exc:
        issues = [
            Issue(_ERROR_CODES.get(e["type"], "value"), e["msg"], _expression(expected_type, e["loc"]))
            for e in exc.errors()
        ]
        raise FhirError(400, *issues) from None
    return body
