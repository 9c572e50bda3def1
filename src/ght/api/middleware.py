"""ASGI middleware: request id, the server's own time in a Server-Timing header, and one JSON
access-log line per request."""

from __future__ import annotations

import logging
import re
import random
import time

from ght.logs import request_id_var

log = logging.getLogger("ght.access")

# A caller's own id (a reverse proxy's, say) is kept when it is harmless to log.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


# Request ids need to be unique, not secret: a per-process generator seeded from the system's
# randomness, where uuid4 asks the kernel for 16 bytes on every request (a system call that
# costs several % of a short request here).
_ids = random.Random()


def _new_request_id() -> str:
    return f"{_ids.getrandbits(128):032x}"


class RequestLogMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else _new_request_id()
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # The time until the answer starts (a page is rendered whole by then): what the
                # browser's developer tools and bench/web_pages.py read as the server's time.
                elapsed = (time.perf_counter() - started) * 1000
                message.setdefault("headers", []).extend((
                    (b"x-request-id", request_id.encode()),
                    (b"server-timing", f"app;dur={elapsed:.1f}".encode()),
                ))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            client = scope.get("client")
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": client[0] if client else None,
                    "account": scope["state"].get("username"),
                },
            )
            request_id_var.reset(token)
