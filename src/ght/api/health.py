"""`GET /health`: liveness and readiness for load balancers and supervision."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ght import __version__
from ght.db.engine import DatabaseUnavailable, check_connection
from ght.db.migrate import current_revision, head_revision

router = APIRouter(tags=["exploitation"])


@router.get("/health/live", summary="Le processus répond (sans consulter la base)")
async def live() -> JSONResponse:
    """Liveness: the process serves requests. A supervisor restarts the process when this fails;
    `/health` (readiness) also needs the database and the schema, and must not cause restarts
    when only the database is down."""
    return JSONResponse({"status": "ok", "version": __version__})


@router.get("/health", summary="État du service et de sa base de données")
def health(request: Request) -> JSONResponse:
    engine = request.app.state.engine
    try:
        check_connection(engine)
        schema = current_revision(engine)
    except DatabaseUnavailable as exc:
        return JSONResponse({"status": "error", "database": str(exc), "version": __version__}, 503)
    expected = head_revision(engine)
    ok = schema == expected
    body = {
        "status": "ok" if ok else "error",
        "database": "ok",
        "schema": schema,
        "expected_schema": expected,
        "version": __version__,
    }
    return JSONResponse(body, 200 if ok else 503)
