"""Who sees what of the DIM: the nominative report (patients named by their GHT id) only the
DIM physician; every other role the aggregates, pseudonymised and with small counts masked
(ght.dim.analysis.masked). Every access goes through the request's access gate and leaves one
trace entry (purpose DIM for the DIM physician)."""

from __future__ import annotations

from ght.access.gate import Gate
from ght.access.policy import Decision, default_purpose
from ght.audit.trail import Action, Purpose
from ght.directory.vocab import Role


def open_report(gate: Gate, resource: str, *, nominative: bool, action: Action = Action.READ) -> bool:
    """Whether the subject sees the nominative report; a nominative request by another role is
    refused (traced, AccessDenied). The allowed access is noted: the caller flushes the gate."""
    subject = gate.subject
    if subject.has(Role.DIM_PHYSICIAN):
        decision = Decision(True, Purpose.DIM, Role.DIM_PHYSICIAN.value, "médecin DIM du GHT : données nominatives")
        gate.note(action, decision, None, [resource])
        return True
    if nominative:
        gate.refuse(action, Decision(False, Purpose.DIM, subject.primary_role,
                                     "données nominatives du DIM réservées au médecin DIM"), None, [resource])
    decision = Decision(True, default_purpose(subject), subject.primary_role,
                        "agrégats pseudonymisés, petits effectifs masqués")
    gate.note(action, decision, None, [resource])
    return False
