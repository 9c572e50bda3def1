"""What several doors (the JSON API, the web pages) do the same way around an access: declare
a break-the-glass, read a patient's access log. Each takes the request's Gate, decides, traces."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ght.access import break_glass
from ght.access.gate import Gate
from ght.access.models import BreakGlass
from ght.access.policy import ANY_SOURCE, CARE_ROLES, TEAM_ROLES, Decision, Target
from ght.audit import queries as audit_queries
from ght.audit.trail import Action, Purpose
from ght.directory.vocab import Role


def declare_break_glass(gate: Gate, db: Session, patient_id: str, reason: str) -> BreakGlass:
    """Declare the subject's emergency access to the patient's record (raises AccessDenied for a
    role that never cares for patients, BreakGlassError for a missing reason); traced in `db`'s
    transaction, which the caller commits."""
    subject = gate.subject
    if not subject.has(*CARE_ROLES, *TEAM_ROLES):
        gate.refuse(Action.BREAK_GLASS, gate.decide(Action.READ, Target("Observation", patient_id, ANY_SOURCE)),
                    patient_id)
    row = break_glass.declare(db, account_id=subject.account_id, ght_patient_id=patient_id, reason=reason,
                              rules=gate.rules, client_address=gate.client_address, now=gate.now)
    gate.note(Action.BREAK_GLASS, Decision(True, Purpose.EMERGENCY, subject.primary_role,
                                           f"accès en urgence déclaré jusqu'au {row.expires_at:%d/%m/%Y %H:%M} UTC",
                                           row.reason), patient_id, [f"Patient/{patient_id}"])
    gate.flush(db)
    return row


def access_log(gate: Gate, db: Session, patient_id: str, limit: int = 200) -> list[audit_queries.Access]:
    """Who accessed the patient's record: for the DPO, and for whoever may read the record (the
    patient's care team); the reading is traced in `db`'s transaction, which the caller commits."""
    if not gate.subject.has(Role.DPO):
        gate.require(Action.READ, Target("AuditEvent", patient_id, ANY_SOURCE), [f"Patient/{patient_id}/access-log"])
    else:
        gate.note(Action.READ, Decision(True, Purpose.ADMINISTRATION, Role.DPO.value, "contrôle du DPO"),
                  patient_id, [f"Patient/{patient_id}/access-log"])
    rows = audit_queries.accesses_to_patient(db, patient_id, limit=limit)
    gate.flush(db)
    return rows


# Identity-vigilance: the cell manages the group's identity base (no clinical content); what it
# is shown or changes is traced per GHT patient.
VIGILANCE = Decision(True, Purpose.ADMINISTRATION, Role.IDENTITY_VIGILANCE.value, "identitovigilance")


def trace_identities(gate: Gate, db: Session, action: Action, identities) -> None:
    """Trace the identities an answer shows or changes (objects with `id` and `patient_id`), one
    entry per GHT patient, and commit."""
    for identity in identities:
        gate.note(action, VIGILANCE, identity.patient_id, [f"Patient/{identity.id}"])
    gate.flush(db)
    db.commit()


def change_identities(gate: Gate, db: Session, change):
    """Apply a link, unlink, merge or unmerge (`change()` returns its LinkEvent; it raises
    IdentityRejected, rolled back by the caller), trace the patients it touches, and commit."""
    event = change()
    for patient_id in dict.fromkeys(p for p in (event.from_patient, event.to_patient) if p):
        gate.note(Action.UPDATE, VIGILANCE, patient_id, [f"Patient/{patient_id}"])
    gate.flush(db)
    db.commit()
    return event
