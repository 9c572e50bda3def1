"""The access decision and its trace on the server's event loop (PostgreSQL): what the read by
id, the API's most frequent request, goes through.

The same Gate, the same policy, the same facts statement as every other door: only the two
round trips move. The facts are read on the process's asynchronous pool (ght.db.async_pool),
the statements of concurrent requests in one pipeline (ght.db.read_batch), instead of an ORM
session in a thread, and the entries the gate writes are handed to the
group-commit writer (ght.audit.group_commit) instead of a commit of their own. The request
still waits until its entry is committed, allowed or refused, before it answers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import orjson

from ght.access import facts as access_facts
from ght.access.facts import FACTS, FINESS_STATEMENT, AccessRules, current_with_facts_statement
from ght.access.gate import Gate
from ght.access.policy import PatientFacts, Target
from ght.access.subject import Subject
from ght.audit.group_commit import GroupCommitTrail
from ght.audit.trail import Action
from ght.db.async_pool import compiled
from ght.db.read_batch import ReadBatch
from ght.record import patient_search
from ght.record.patient_search import PatientSearch
from ght.record.reader import Current


class AsyncFacts:
    def __init__(self, pool, dialect) -> None:
        self.pool = pool
        self.batch = ReadBatch(pool)  # the statements of concurrent requests in one pipeline
        # By number of patients: the read route asks for one (its generic plan: ght.access.facts).
        self.sql = {one: compiled(FACTS[True, one], dialect) for one in (True, False)}
        self.finess_sql = compiled(FINESS_STATEMENT, dialect)
        self.current_sql = compiled(current_with_facts_statement(), dialect)
        self.search_sql = patient_search.statements(dialect)

    async def _rows(self, sql: str, parameters: dict) -> tuple[list, dict[str, int]]:
        """A statement's rows and, when they hold a Consent, the FINESS mapping of its actors."""
        rows = await self.batch.rows(sql, parameters)
        finess = {}
        if access_facts.needs_finess(rows):
            finess = access_facts.finess_mapping(await self.batch.rows(self.finess_sql, {}))
        return rows, finess

    async def current(self, subject: Subject, resource_type: str, fhir_id: str, rules: AccessRules,
                      now: datetime) -> tuple[Current | None, dict[str, PatientFacts]]:
        """A resource's current row (its body as JSON text) and the facts of its patient, in one
        statement (ght.access.facts.current_with_facts_statement)."""
        parameters = {"resource_type": resource_type, "fhir_id": fhir_id,
                      **access_facts.subject_parameters(subject, now)}

        rows, finess = await self._rows(self.current_sql, parameters)
        if not rows or rows[0][0] not in ("c", "d"):
            return None, {}
        (kind, patient, body, source, version, last_updated, _), facts = rows[0], rows[1:]
        found = Current(body, version, last_updated.astimezone(UTC), kind == "d", patient,
                        None if source is None else int(source))
        if patient is None:  # no patient's record: no facts to decide on
            return found, {}
        return found, access_facts.compose(facts, subject, [patient], rules, now, finess)

    async def patient_page(self, subject: Subject, search: PatientSearch, rules: AccessRules,
                           now: datetime) -> tuple[str | None, list, dict[str, PatientFacts]]:
        """The GHT patient (after merges) a search by patient designates, or None; its page of
        [fhir_id, source establishment, body]; its facts. One statement (ght.record.patient_search)."""
        parameters = {**patient_search.parameters(search), **access_facts.subject_parameters(subject, now)}
        sql = self.search_sql[search.by_identity]

        rows, finess = await self._rows(sql, parameters)
        if not rows or rows[0][0] != "P":
            return None, [], {}
        (_, patient, page, *_), facts = rows[0], rows[1:]
        return patient, orjson.loads(page) if page else [], access_facts.compose(facts, subject, [patient], rules, now,
                                                                                 finess)

    async def count(self, patient: str, resource_type: str) -> int:
        """The patient's resources of that type (a search's total when its page is full)."""
        rows = await self.batch.rows(patient_search.COUNT, {"patient": patient, "resource_type": resource_type})
        return rows[0][0]

    async def load_many(self, subject: Subject, patients: list[str], rules: AccessRules,
                        now: datetime) -> dict[str, PatientFacts]:
        parameters = access_facts.parameters(subject, patients, now)
        sql = self.sql["patient" in parameters]

        rows, finess = await self._rows(sql, parameters)
        return access_facts.compose(rows, subject, patients, rules, now, finess)


class AsyncAccess:
    """The process's facts reader and trace writer (app.state.async_access)."""

    def __init__(self, pool, url: str, dialect) -> None:
        self.facts = AsyncFacts(pool, dialect)
        self.trail = GroupCommitTrail(url, dialect)

    async def start(self) -> None:
        await self.trail.start()

    async def stop(self) -> None:
        await self.trail.stop()

    async def current(self, gate: Gate, resource_type: str, fhir_id: str) -> Current | None:
        """The resource's current row, the facts of its patient known to `gate` (one round trip)."""
        found, facts = await self.facts.current(gate.subject, resource_type, fhir_id, gate.rules, gate.now)
        gate.know(facts)
        return found

    async def require(self, gate: Gate, action: Action, target: Target, resources: Iterable[str]) -> None:
        """As `gate.require` then `gate.flush()`: allowed, the access is traced; refused, the
        refusal is traced and AccessDenied raised, in both cases once the entry is committed."""
        patient = target.ght_patient_id
        if patient is not None and not gate.knows(patient):
            gate.know(await self.facts.load_many(gate.subject, [patient], gate.rules, gate.now))
        with gate.deferred() as events:
            try:
                gate.require(action, target, resources)
                gate.flush()
            finally:
                await self.trail.append(events)
