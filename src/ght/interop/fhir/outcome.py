"""FHIR errors: an exception carrying OperationOutcome issues, each with its FHIRPath
expression, so a sending system learns what is wrong and where."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Issue:
    code: str  # issue-type: invalid, structure, required, value, not-found, conflict, ...
    diagnostics: str
    expression: str | None = None
    severity: str = "error"

    def as_fhir(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            issue["expression"] = [self.expression]
        return issue


class FhirError(Exception):
    def __init__(self, status: int, *issues: Issue, headers: dict[str, str] | None = None) -> None:
        super().__init__("; ".join(i.diagnostics for i in issues))
        self.status = status
        self.issues = issues
        self.headers = headers or {}


def error(status: int, code: str, diagnostics: str, expression: str | None = None) -> FhirError:
    return FhirError(status, Issue(code, diagnostics, expression))


def operation_outcome(issues: tuple[Issue, ...] | list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.as_fhir() for i in issues]}


def information(diagnostics: str) -> dict[str, Any]:
    return operation_outcome([Issue("informational", diagnostics, severity="information")])
