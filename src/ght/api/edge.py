"""Characters no database column can hold, refused at the edge of the JSON API (/api) and of the
web pages (their forms and URLs):
- NUL, which PostgreSQL text and JSONB cannot hold (a NUL in a break-the-glass reason or a note
  of the patient's will answered 500, found by fuzzing: tests/api/test_fuzz_openapi.py); no
  value of ours contains one;
- a lone UTF-16 surrogate escape in a JSON body (`"\\ud800"` without its pair): JSON allows
  the escape, but it is no character, UTF-8 cannot encode it, and it answered 500 (a dropped
  connection when FastAPI's 422 tried to echo it).
The FHIR API refuses them the same way in an OperationOutcome (ght.interop.fhir.http); the two
login doors (the token endpoint, the login form) in their own words, counting the attempt
(ght.api.auth, ght.directory.accounts)."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from fastapi.responses import JSONResponse

# The doors that answer such text in their own protocol or words (see above).
OWN_ANSWER = ("/fhir", "/auth/token", "/login", "/static/")
URL_MESSAGE = "caractère NUL interdit dans l'URL"
BODY_MESSAGE = "caractère NUL (\\u0000) interdit dans le corps de la requête"
SURROGATE_MESSAGE = ("demi-paire de substitution UTF-16 isolée (\\ud800 à \\udfff), qui n'est pas un caractère, "
                     "interdite dans le corps de la requête")
# A high surrogate escape not followed by a low one, or a low one not preceded by a high one.
_LONE_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
                             rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def url_has_nul(scope) -> bool:
    """Whether the request's path or query string holds a NUL, encoded (%00) or not."""
    return "\x00" in scope["path"] or "\x00" in unquote_plus(scope.get("query_string", b"").decode("latin-1"))


def body_has_nul(body: bytes) -> bool:
    """Whether a JSON or form body holds a NUL: raw, escaped in JSON, or percent-encoded."""
    return b"\x00" in body or b"\\u0000" in body or b"%00" in body


def body_has_lone_surrogate(body: bytes) -> bool:
    return b"\\u" in body and _LONE_SURROGATE.search(body) is not None


class RejectUnstorableText:
    """ASGI middleware: a request (but to the doors of OWN_ANSWER) whose URL or body holds a NUL,
    or whose body holds a lone surrogate, is answered 400 {"detail": ...} before any route. The body (a small JSON
    document) is read whole, then handed to the route as it came."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith(OWN_ANSWER):
            return await self.app(scope, receive, send)
        if url_has_nul(scope):
            return await JSONResponse({"detail": URL_MESSAGE}, status_code=400)(scope, receive, send)
        if scope["method"] in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        messages, body = [], b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if body_has_nul(body):
            return await JSONResponse({"detail": BODY_MESSAGE}, status_code=400)(scope, receive, send)
        if body_has_lone_surrogate(body):
            return await JSONResponse({"detail": SURROGATE_MESSAGE}, status_code=400)(scope, receive, send)

        async def replay():
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
