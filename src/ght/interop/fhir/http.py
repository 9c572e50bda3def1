"""HTTP plumbing of the FHIR API: the FHIR JSON media type, request bodies with a size
limit, OperationOutcome for every error under /fhir, search parameter parsing."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ght.access.gate import AccessDenied
from ght.api.edge import url_has_nul
from ght.db.numbers import INT4_MAX, parse_int
from ght.interop.fhir.outcome import FhirError, Issue, error, operation_outcome
from ght.interop.fhir.validation import parse_json

FHIR_JSON = "application/fhir+json"
ACCEPTED_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
MAX_BODY = 10 * 1024 * 1024  # a Patient or a transaction of them; documents come as Binary later
PREFIX = "/fhir"

_HTTP_CODES = {401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported", 409: "conflict",
               412: "conflict", 413: "too-costly", 415: "not-supported", 422: "processing"}


class FhirResponse(Response):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return b"" if content is None else orjson.dumps(content)


def respond(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> FhirResponse:
    return FhirResponse(content, status_code=status, headers=headers)


async def read_resource_body(request: Request) -> Any:
    """The parsed JSON body: 415 for another format, 413 beyond MAX_BODY (checked while
    reading, a missing or false Content-Length does not get around it)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ACCEPTED_TYPES:
        raise error(415, "not-supported", f"format « {content_type or '(absent)'} » non pris en charge : "
                                          f"{FHIR_JSON} attendu")
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        raise error(413, "too-costly", f"corps de requête trop volumineux ({declared} octets, {MAX_BODY} au plus)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise error(413, "too-costly", f"corps de requête trop volumineux ({MAX_BODY} octets au plus)")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if b"\\u0000" in raw:
        # FHIR strings exclude control characters, and PostgreSQL cannot store NUL in text.
        raise error(400, "invalid", "caractère NUL (\\u0000) interdit dans une ressource FHIR")
    return parse_json(raw)


async def fhir_body(request: Request) -> Any:
    """The request's resource, as a dependency: read asynchronously, so that the route itself can
    be a plain function that FastAPI runs in its thread pool — a route doing synchronous database
    work on the event loop would stall every other request while it writes."""
    return await read_resource_body(request)


class RejectNulInQuery:
    """ASGI middleware: a NUL character in a /fhir URL is refused (400 OperationOutcome) before
    any route; PostgreSQL cannot compare text with NUL, and no FHIR value contains one."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(PREFIX) and url_has_nul(scope):
            response = respond(operation_outcome([Issue("invalid", "caractère NUL interdit dans l'URL")]), 400)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Errors under /fhir answer with an OperationOutcome; elsewhere FastAPI's JSON stays."""

    @app.exception_handler(FhirError)
    async def fhir_error(request: Request, exc: FhirError):
        return respond(operation_outcome(exc.issues), exc.status, exc.headers)

    @app.exception_handler(AccessDenied)
    async def access_denied(request: Request, exc: AccessDenied):
        # Already traced by the gate; the caller learns why (the rule), never more of the record.
        if request.url.path.startswith(PREFIX):
            return respond(operation_outcome([Issue("forbidden", exc.reason)]), 403)
        return JSONResponse({"detail": exc.reason}, status_code=403)

    previous_http = app.exception_handlers.get(StarletteHTTPException)
    previous_validation = app.exception_handlers.get(RequestValidationError)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if not request.url.path.startswith(PREFIX):
            return await previous_http(request, exc)
        detail = exc.detail if isinstance(exc.detail, str) else orjson.dumps(exc.detail).decode()
        issue = Issue(_HTTP_CODES.get(exc.status_code, "exception"), detail)
        return respond(operation_outcome([issue]), exc.status_code, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        if not request.url.path.startswith(PREFIX):
            return await previous_validation(request, exc)
        issues = [Issue("invalid", e["msg"], ".".join(str(p) for p in e["loc"])) for e in exc.errors()]
        return respond(operation_outcome(issues), 400)


# ------------------------------------------------------------------------------ search


PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")


def date_range(value: str, name: str) -> tuple[str, date, date]:
    """A date search value: prefix and the period it designates (YYYY, YYYY-MM or YYYY-MM-DD)."""
    prefix = value[:2] if value[:2] in PREFIXES else "eq"
    text = value[2:] if value[:2] in PREFIXES else value
    try:
        parts = [int(p) for p in text.split("-")]
        if len(parts) == 1:
            return prefix, date(parts[0], 1, 1), date(parts[0], 12, 31)
        if len(parts) == 2:
            start = date(parts[0], parts[1], 1)
            following = date(parts[0] + (parts[1] == 12), parts[1] % 12 + 1, 1)
            return prefix, start, date.fromordinal(following.toordinal() - 1)
        if len(parts) == 3:
            day = date(*parts)
            return prefix, day, day
    except ValueError:
        pass
    raise error(400, "value", f"date de recherche invalide « {value} » (AAAA, AAAA-MM ou AAAA-MM-JJ, "
                              f"préfixe eq, ne, lt, le, gt, ge)", name)


def split_token(value: str) -> tuple[str | None, str]:
    """system|code → (system, code); code alone → (None, code); |code → ("", code)."""
    if "|" not in value:
        return None, value
    system, code = value.split("|", 1)
    return system, code


def page_size(request: Request, default: int = 20, maximum: int = 200) -> tuple[int, int]:
    def number(name: str, fallback: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return fallback
        if (value := parse_int(raw)) is None:
            raise error(400, "value", f"{name} doit être un entier de 0 à {INT4_MAX}, « {raw} » reçu", name)
        return value

    return min(number("_count", default), maximum), number("_offset", 0)


def searchset(request: Request, path: str, entries: list[dict], *, total: int | None, count: int, offset: int,
              outcome: dict | None = None) -> dict:
    """A searchset Bundle with self/next/previous links carrying the same parameters."""
    base = str(request.base_url).rstrip("/") + PREFIX
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("_offset",)]

    def link(relation: str, at: int) -> dict:
        query = urlencode([*kept, ("_offset", str(at))])
        return {"relation": relation, "url": f"{base}/{path}?{query}"}

    links = [link("self", offset)]
    if total is not None and offset + count < total:
        links.append(link("next", offset + count))
    if offset > 0:
        links.append(link("previous", max(0, offset - count)))
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    bundle["entry"] = entries + ([{"resource": outcome, "search": {"mode": "outcome"}}] if outcome else [])
    return bundle


def full_url(request: Request, reference: str) -> str:
    return str(request.base_url).rstrip("/") + f"{PREFIX}/{reference}"
