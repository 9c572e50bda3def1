"""The API's two most frequent requests, the read by id and the search by patient, served on
PostgreSQL without FastAPI's routing and dependency resolution, nor the middlewares that have
nothing to do with them.

Profiled under load, a read spent a third of its CPU in FastAPI around the route: the
dependency graph (token, ORM session, gate: 15 % of the samples), about 25 route matches, and
five ASGI layers (the NUL checks, the exception telemetry, the exception and exit-stack
middlewares). This ASGI middleware sits just inside the request log (request id, Server-Timing,
log line: unchanged) and answers the request itself when it is a GET of
/fhir/<record type>/<valid id>, or of /fhir/<record type> in the search's common form by patient
(ght.record.patient_search), with a bearer token this process has checked in the last seconds
(ght.auth.sessions.BearerCache): the same gate and policy, the same trace (group commit, awaited
before the answer), the same answers and error handlers (OperationOutcome, the policy's 403).
Anything else goes on to the application unchanged: another path, method or parameter, a token
not remembered (the application resolves it, or answers 401), a NUL in the URL (the
application's 400), SQLite (no asynchronous access)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import Request

from ght.access.gate import AccessDenied, Gate
from ght.api.deps import make_gate, remember
from ght.api.edge import url_has_nul
from ght.audit.trail import Action, Door
from ght.interop.fhir.http import respond, searchset
from ght.interop.fhir.outcome import FhirError
from ght.interop.fhir.resource_routes import RECORD_TYPES, read_answer, search_entries, visible_total
from ght.interop.fhir.validation import ID_PATTERN
from ght.record.patient_search import PatientSearch, patient_search

_TYPE = f"({'|'.join(RECORD_TYPES)})"
_READ = re.compile(rf"/fhir/{_TYPE}/({ID_PATTERN.pattern.removeprefix('^').removesuffix('$')})")
_SEARCH = re.compile(rf"/fhir/{_TYPE}")


class HotPath:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET" or scope["app"].state.async_access is None:
            return await self.app(scope, receive, send)
        search = None
        if (read := _READ.fullmatch(scope["path"])) is None:
            if (found := _SEARCH.fullmatch(scope["path"])) is None or url_has_nul(scope) or (search := patient_search(
                    found.group(1), parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))) is None:
                return await self.app(scope, receive, send)
        request = Request(scope, receive)
        state = scope["app"].state
        scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
        auth = state.bearer_cache.peek(token, state.settings) if scheme.lower() == "bearer" else None
        if auth is None:
            return await self.app(scope, receive, send)
        remember(request, auth)
        # No ORM session: on this path the facts and the trace go through the asynchronous pool.
        gate = make_gate(request, auth, None, Door.FHIR, autocommit=True)
        try:
            if read is not None:
                response = await read_answer(request, gate, read.group(1), read.group(2))
            else:
                response = await search_answer(request, gate, search)
        except (FhirError, AccessDenied) as exc:
            response = await _handler(scope["app"], exc)(request, exc)
        await response(scope, receive, send)


@dataclass(frozen=True, slots=True)
class _Found:
    """A resource of the page, as the gate and the entries read it."""

    resource_type: str
    fhir_id: str
    ght_patient_id: str
    source_establishment_id: int | None
    body: dict


async def search_answer(request: Request, gate: Gate, search: PatientSearch):
    """As resource_routes.search for this form: the patient's record decided before anything of
    it is shown, each resource kept or refused by the policy, every access traced."""
    access = request.app.state.async_access
    with gate.deferred() as events:
        try:
            gate.check_role(Action.SEARCH, search.resource_type)
            patient, page, facts = await access.facts.patient_page(gate.subject, search, gate.rules, gate.now)
            gate.know(facts)
            if patient is not None:
                gate.require_patient(Action.SEARCH, search.resource_type, patient)
            found = [_Found(search.resource_type, fhir_id, patient, source, body) for fhir_id, source, body in page]
            # As ght.record.search.run: a page that is not full ends the matches.
            if len(found) < search.count and (found or search.offset == 0):
                total = search.offset + len(found)
            else:
                total = await access.facts.count(patient, search.resource_type) if patient is not None else 0
            kept = gate.keep(Action.SEARCH, found)
            total = visible_total(total, found, kept, True)
            gate.flush()
        finally:
            await access.trail.append(events)
    return respond(searchset(request, search.resource_type, search_entries(request, kept, "match"), total=total,
                             count=search.count, offset=search.offset))


def _handler(app, exc: Exception):
    """The application's handler of `exc` (by its class's MRO, as Starlette looks it up)."""
    for cls in type(exc).__mro__:
        if cls in app.exception_handlers:
            return app.exception_handlers[cls]
    raise exc
