"""Who sees what of the DIM. The DIM physician: the report with patients pseudonymised
(ght.dim.pseudonym), or named by their GHT id when asking for the nominative report; every
other role: the aggregates only, small counts masked (ght.dim.analysis.masked), no
patient-level table. Every access goes through the request's access gate and leaves one trace
entry (purpose DIM for the DIM physician)."""

from __future__ import annotations

from enum import StrEnum

from ght.access.gate import Gate
from ght.access.policy import Decision, default_purpose
from ght.audit.trail import AccessEvent, Action, Door, Outcome, Purpose, record
from ght.dim import analysis, pseudonym
from ght.directory.vocab import Role


class View(StrEnum):
    NOMINATIVE = "nominatif"  # the DIM physician, asked for: patients by their GHT id
    PSEUDONYMISED = "pseudonymisé"  # the DIM physician by default: patients by their pseudonym
    MASKED = "agrégé"  # every other role: aggregates, small counts masked


def open_report(gate: Gate, resource: str, *, nominative: bool, action: Action = Action.READ) -> View:
    """What the subject sees of the report; a nominative request by another role than the DIM
    physician is refused (traced, AccessDenied). The allowed access is noted: the caller
    flushes the gate."""
    subject = gate.subject
    if subject.has(Role.DIM_PHYSICIAN):
        view = View.NOMINATIVE if nominative else View.PSEUDONYMISED
        reason = "médecin DIM du GHT : " + ("données nominatives" if nominative else "patients pseudonymisés")
        gate.note(action, Decision(True, Purpose.DIM, Role.DIM_PHYSICIAN.value, reason), None, [resource])
        return view
    if nominative:
        gate.refuse(action, Decision(False, Purpose.DIM, subject.primary_role,
                                     "données nominatives du DIM réservées au médecin DIM"), None, [resource])
    decision = Decision(True, default_purpose(subject), subject.primary_role,
                        "agrégats, petits effectifs masqués")
    gate.note(action, decision, None, [resource])
    return View.MASKED


def visible_tables(tables: list[analysis.Table], view: View, settings) -> list[analysis.Table]:
    """The tables as `view` shows them; the pseudonymised view under the settings' key
    (PseudonymKeyInvalid when it is unusable)."""
    if view is View.NOMINATIVE:
        return tables
    if view is View.PSEUDONYMISED:
        return analysis.pseudonymised(tables, pseudonym.from_settings(settings))
    return analysis.masked(tables)


def trace_operation(db, account: str, action: Action, reason: str, resource: str) -> None:
    """The trace entry of DIM work run from the command line without an account of the
    directory (an import, the masked report): door CLI, purpose DIM, in `db`'s transaction."""
    record(db, AccessEvent(account=account[:64], account_id=None, role="operator", action=action, purpose=Purpose.DIM,
                           outcome=Outcome.ALLOWED, door=Door.CLI, resources=(resource,), reason=reason))
