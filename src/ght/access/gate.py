"""Enforcement: what every door (FHIR API, JSON API, web pages, exports, CLI) calls around an
access. A Gate belongs to one request (or one command, one export job): it asks the policy
(ght.access.policy.decide) with the facts of each patient it meets, refuses with AccessDenied,
and writes the trace: one entry per patient, action and outcome of the request.

Refusals are traced at once, in a transaction of their own, so that the entry survives the
error answer; allowed accesses are traced by `flush`, before the answer is sent: in the
request's own transaction for a write (the entry commits with what it describes), in a short
autocommitted statement for a read."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ght.access import facts as access_facts
from ght.access.facts import AccessRules
from ght.access.policy import (
    ANY_SOURCE, Decision, PatientFacts, Target, decide, default_purpose, is_sensitive, role_allows,
)
from ght.access.subject import Subject
from ght.audit import trail
from ght.audit.trail import AccessEvent, Action, Door, Outcome, Purpose
from ght.record.store import WriteContext


class AccessDenied(Exception):
    """A refusal of the policy, already traced; the door answers 403 with `reason`."""

    def __init__(self, decision: Decision, ght_patient_id: str | None = None) -> None:
        super().__init__(decision.reason)
        self.decision = decision
        self.ght_patient_id = ght_patient_id

    @property
    def reason(self) -> str:
        return self.decision.reason


@dataclass
class _Pending:
    decision: Decision
    action: Action
    ght_patient_id: str | None
    resources: dict[str, None] = field(default_factory=dict)  # an ordered set: a page notes thousands


class Gate:
    def __init__(self, engine: Engine, db: Session, subject: Subject, door: Door, *,
                 client_address: str | None = None, rules: AccessRules = AccessRules(),
                 now: datetime | None = None, request: tuple[Action, str] | None = None,
                 autocommit: bool = False) -> None:
        """`request`: the action and the path of the request this gate serves: an allowed request
        that showed no patient's data (an empty search, a listing) is traced as itself.
        `autocommit`: `db` is an autocommit session (a read), where an entry is durable as soon as
        it is written: the trace goes through it, with no connection or transaction of its own."""
        self.engine = engine
        self.db = db
        self.subject = subject
        self.door = door
        self.client_address = client_address
        self.rules = rules
        self.now = now or datetime.now(UTC)
        self._facts: dict[str, PatientFacts] = {}
        # keep's decisions by action and target: like the facts they stand on, they hold for the
        # gate's request (a page of thousands of resources has a few kinds of target).
        self._decisions: dict[Action, dict[Target, Decision]] = {}
        self._pending: dict[tuple, _Pending] = {}
        self._global: bool | None = None
        self._request = request
        self.autocommit = autocommit
        self._traced = False
        self._refusals: list[AccessEvent] | None = None  # refusals held back (`refusals_after`)
        self._deferred: list[AccessEvent] | None = None  # entries handed to the caller (`deferred`)

    # ----------------------------------------------------------------------------- decisions

    def facts(self, ght_patient_id: str) -> PatientFacts:
        found = self._facts.get(ght_patient_id)
        if found is None:
            found = self._facts[ght_patient_id] = access_facts.load(
                self.db, self.subject, ght_patient_id, self.rules, self.now)
        return found

    def knows(self, ght_patient_id: str) -> bool:
        return ght_patient_id in self._facts

    def know(self, facts: dict[str, PatientFacts]) -> None:
        """Facts read by the caller (on the event loop: ght.access.async_gate) for this request."""
        self._facts.update(facts)

    def prefetch(self, patients) -> None:
        """Load the facts of these patients in one statement (a search page, a bundle, an export
        batch), so that deciding on each of their resources costs no query."""
        wanted = sorted({p for p in patients if p is not None and p not in self._facts})
        if wanted:
            self._facts.update(access_facts.load_many(self.db, self.subject, wanted, self.rules, self.now))

    def decide(self, action: Action, target: Target) -> Decision:
        facts = self.facts(target.ght_patient_id) if target.ght_patient_id else None
        return decide(self.subject, action, target, facts)

    def check(self, action: Action, target: Target, resources: Iterable[str] = ()) -> Decision:
        """The decision; a refusal is traced at once and raised (AccessDenied)."""
        decision = self.decide(action, target)
        if not decision.allowed:
            self.refuse(action, decision, target.ght_patient_id, resources)
        return decision

    def require(self, action: Action, target: Target, resources: Iterable[str] = ()) -> Decision:
        """As check, and the allowed access noted for the trace (written by flush)."""
        decision = self.check(action, target, resources)
        self.note(action, decision, target.ght_patient_id, resources)
        return decision

    def sees_all_records(self) -> bool:
        """Whether the subject holds a current explicit grant to every patient's record."""
        if self._global is None:
            self._global = access_facts.has_global_record_grant(self.db, self.subject, self.now)
        return self._global

    def check_role(self, action: Action, resource_type: str) -> Decision:
        """Refuse at once (traced) a subject none of whose roles may ever do this on this type."""
        decision = role_allows(self.subject, action, resource_type)
        if not decision.allowed:
            self.refuse(action, decision, None)
        return decision

    def require_patient(self, action: Action, resource_type: str, ght_patient_id: str | None) -> Decision:
        """May the subject do this on the patient's record at all (before a search, a
        $everything, an export)? The opposition is then applied resource by resource (keep)."""
        return self.require(action, Target(resource_type, ght_patient_id, ANY_SOURCE))

    def keep(self, action: Action, rows: Iterable, *, note: bool = True) -> list:
        """The rows (record Resources: resource_type, fhir_id, ght_patient_id,
        source_establishment_id, body) the subject may see; the others are traced as refused."""
        kept, refused = [], {}
        rows = list(rows)
        self.prefetch(row.ght_patient_id for row in rows)
        decisions = self._decisions.setdefault(action, {})  # a decision depends on the target only
        for row in rows:
            target = Target(row.resource_type, row.ght_patient_id, row.source_establishment_id, is_sensitive(row.body))
            decision = decisions.get(target)
            if decision is None:
                decision = decisions[target] = self.decide(action, target)
            reference = f"{row.resource_type}/{row.fhir_id}"
            if decision.allowed:
                kept.append(row)
                if note:
                    self.note(action, decision, row.ght_patient_id, [reference])
            else:
                refused.setdefault((row.ght_patient_id, decision.reason), (decision, []))[1].append(reference)
        for (patient, _), (decision, references) in refused.items():
            self._write([self._event(action, decision, patient, references, Outcome.DENIED)], None)
        return kept

    def authorize_write(self, action: str, resource_type: str, fhir_id: str, ght_patient_id: str | None,
                        source_id: int | None, body: dict | None, existing) -> None:
        """The store's write check (ght.record.store.Authorize): the patient the resource will
        belong to, and the one it belonged to when the write moves or deletes it."""
        action = Action(action)
        reference = [f"{resource_type}/{fhir_id}"]
        if body is not None:
            self.require(action, Target(resource_type, ght_patient_id, source_id, is_sensitive(body)), reference)
        if existing is not None and (body is None or existing.ght_patient_id != ght_patient_id):
            self.require(action, Target(resource_type, existing.ght_patient_id, existing.source_establishment_id,
                                        is_sensitive(existing.body)), reference)

    def write_context(self) -> WriteContext:
        return WriteContext(actor=self.subject.username, establishment_id=self.subject.establishment_id,
                            authorize=self.authorize_write)

    def refuse(self, action: Action, decision: Decision, ght_patient_id: str | None, resources: Iterable[str] = ()):
        event = self._event(action, decision, ght_patient_id, list(resources), Outcome.DENIED)
        if self._refusals is not None:
            self._refusals.append(event)
        else:
            self._write([event], None)
        self._traced = True  # the request is traced by its refusal: flush adds no entry for it
        raise AccessDenied(decision, ght_patient_id)

    @contextmanager
    def refusals_after(self) -> Iterator[None]:
        """Hold back the refusals of a write of several entries (a batch or transaction Bundle)
        until its transaction has ended, committed or rolled back, then trace them on a connection
        of their own: written while the transaction holds SQLite's write lock, they waited for it
        until the lock timeout and the request answered 500 (found by fuzzing). A refusal is still
        traced when the transaction it stopped is rolled back."""
        self._refusals = []
        try:
            yield
        finally:
            refusals, self._refusals = self._refusals, None
            if refusals:
                if self.db.in_transaction():  # ended by an unexpected error: nothing of it is kept
                    self.db.rollback()
                self._write(refusals, None)

    @contextmanager
    def deferred(self) -> Iterator[list[AccessEvent]]:
        """Within the block, the entries the gate would write (refusals and flush) are added to
        the list it yields instead: the caller writes them (ght.access.async_gate), before it
        answers."""
        self._deferred = events = []
        try:
            yield events
        finally:
            self._deferred = None

    # ----------------------------------------------------------------------------- trace

    def note(self, action: Action, decision: Decision, ght_patient_id: str | None, resources: Iterable[str] = ()) -> None:
        key = (action, ght_patient_id, decision.purpose, decision.role, decision.break_glass_reason)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(decision, action, ght_patient_id)
        pending.resources.update(dict.fromkeys(resources))

    def mark(self) -> dict:
        """What is noted so far, to rewind to when the work after it is undone (a batch entry)."""
        return {key: dict(p.resources) for key, p in self._pending.items()}

    def rewind(self, mark: dict) -> None:
        for key in list(self._pending):
            if key not in mark:
                del self._pending[key]
            else:
                self._pending[key].resources = dict(mark[key])

    def flush(self, into: Session | None = None) -> int:
        """Write the noted accesses: in `into`'s transaction (a write: it commits them) or at
        once on a connection of their own (a read)."""
        events = [self._event(p.action, p.decision, p.ght_patient_id, list(p.resources), Outcome.ALLOWED)
                  for p in self._pending.values()]
        self._pending.clear()
        if not events and not self._traced and self._request is not None:
            action, path = self._request
            decision = Decision(True, default_purpose(self.subject), self.subject.primary_role, "aucune donnée de patient")
            events = [self._event(action, decision, None, [path], Outcome.ALLOWED)]
        self._traced = self._traced or bool(events)
        self._write(events, into)
        return len(events)

    def _event(self, action: Action, decision: Decision, ght_patient_id, resources, outcome: Outcome) -> AccessEvent:
        subject = self.subject
        return AccessEvent(
            account=subject.username, account_id=subject.account_id, role=decision.role or subject.primary_role,
            action=action, purpose=decision.purpose, outcome=outcome, door=self.door,
            rpps=subject.rpps, establishment_id=subject.establishment_id, ght_patient_id=ght_patient_id,
            resources=tuple(resources), reason=decision.reason, client_address=self.client_address,
            break_glass_reason=decision.break_glass_reason)

    def _write(self, events: list[AccessEvent], into: Session | None) -> None:
        if not events:
            return
        if self._deferred is not None:
            self._deferred.extend(events)
            return
        if into is None and self.autocommit:
            into = self.db
        if into is not None:
            trail.record_many(into, events)
            return
        with self.engine.connect() as connection:
            trail.record_many(connection, events)
            connection.commit()


class SystemTrace:
    """The trace of a system door: a hospital system's HL7 feed, a bulk load from the command
    line. The sender is trusted by configuration (its port, its files), so no policy decision is
    made; every write is still traced, one entry per patient it changes, in the write's own
    transaction. `authorize_write` is the store's hook (ght.record.store.Authorize)."""

    def __init__(self, door: Door, account: str, *, client_address: str | None = None) -> None:
        self.door, self.account, self.client_address = door, account[:64], client_address
        self._pending: dict[tuple[Action, str | None], dict[str, None]] = {}  # ordered sets of references

    def authorize_write(self, action: str, resource_type: str, fhir_id: str, ght_patient_id: str | None,
                        source_id: int | None, body: dict | None, existing) -> None:
        patient = ght_patient_id if body is not None else (existing.ght_patient_id if existing is not None else None)
        self.note(Action(action), patient, f"{resource_type}/{fhir_id}")

    def note(self, action: Action, ght_patient_id: str | None, reference: str) -> None:
        self._pending.setdefault((action, ght_patient_id), {})[reference] = None

    def discard(self) -> None:
        """Forget what was noted since the last flush (its transaction was rolled back)."""
        self._pending.clear()

    def flush(self, into: Session, *, otherwise: str | None = None) -> int:
        """Append the noted writes in `into`'s transaction; `otherwise`: the reference traced when
        nothing was written (a message that only changed identities, say)."""
        if not self._pending and otherwise:
            self._pending[(Action.UPDATE, None)] = {otherwise: None}
        events = [AccessEvent(account=self.account, account_id=None, role="system", action=action,
                              purpose=Purpose.CARE, outcome=Outcome.ALLOWED, door=self.door,
                              ght_patient_id=patient, resources=tuple(references),
                              reason="système émetteur autorisé par configuration",
                              client_address=self.client_address)
                  for (action, patient), references in self._pending.items()]
        self._pending.clear()
        return trail.record_many(into, events)
