"""The ASGI application: API routers, web pages, static files, middleware."""

from __future__ import annotations

import gc
import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from sqlalchemy import Engine

from ght import __version__
from ght.access.async_gate import AsyncAccess
from ght.access.facts import AccessRules
from ght.api import access, auth, health, identity
from ght.api.middleware import RequestLogMiddleware
from ght.api.edge import RejectUnstorableText
from ght.audit.sealer import SealerProcess
from ght.auth import sessions
from ght.config import Settings
from ght.db.async_pool import make_engine_pool
from ght.db.engine import make_engine, session_factory
from ght.interop.fhir import router as fhir
from ght.interop.fhir.bundle_limit import BundleLimit
from ght.interop.fhir.hot_path import HotPath
from ght.record.reader import ThreadedReader
from ght.web import oidc as web_oidc
from ght.web import pages
from ght.web import dim as web_dim
from ght.web import patients as web_patients
from ght.web import vigilance as web_vigilance

log = logging.getLogger("ght.app")

STATIC_DIR = Path(__file__).parent.parent / "web" / "static"


def _start_sealer(settings: Settings) -> SealerProcess | None:
    """The trace's sealer, in a process of its own (ght.audit.sealer); None when
    GHT_AUDIT_SEAL_SECONDS is 0 (`ght audit seal` then, or the supervisor of several workers runs
    the one sealer: ght.server)."""
    if settings.audit_seal_seconds <= 0:
        return None
    sealer = SealerProcess(settings)
    sealer.start()
    return sealer


def create_app(settings: Settings, engine: Engine | None = None):
    owns_engine = engine is None
    engine = engine or make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app):
        # Threads that run the synchronous routes. More threads than the process has a core for
        # only wait for the GIL: past a few, throughput falls (measured in docs/benchmarks.md).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.http_threads
        if app.state.async_pool is not None:
            await app.state.async_pool.open()
            await app.state.async_access.start()
        sealer = app.state.sealer = _start_sealer(settings)
        # What the start built (modules, schema, routes) is set aside from the garbage collector:
        # a page that makes thousands of objects (a long record) then no longer pays for
        # walking them at each collection.
        gc.collect()
        gc.freeze()
        log.info("started", extra={"version": __version__, "pid": os.getpid()})
        yield
        if sealer is not None:
            sealer.stop()
        if app.state.async_pool is not None:
            await app.state.async_access.stop()  # what is queued is written first
            await app.state.async_pool.close()
        if owns_engine:
            engine.dispose()
        log.info("stopped")

    # FastAPIOffline serves Swagger UI and ReDoc from the package: hospital networks
    # rarely let a server reach a public CDN.
    app = FastAPIOffline(
        title="ght",
        version=__version__,
        description="API du système d'information convergent du GHT.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = session_factory(engine)
    app.state.read_sessionmaker = session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))
    app.state.bearer_cache = sessions.BearerCache(settings.token_cache_seconds)
    # PostgreSQL: the read by id, its access facts and its trace on the event loop (ght.db.async_pool).
    pool = app.state.async_pool = make_engine_pool(engine)
    app.state.record_reader = ThreadedReader(engine) if pool is None else None  # PostgreSQL: async_access
    app.state.async_access = None if pool is None else AsyncAccess(
        pool, engine.url.render_as_string(hide_password=False), engine.dialect)
    app.state.access_rules = AccessRules.of(settings)
    app.state.oidc_client = None
    if settings.oidc_enabled():
        from ght.auth.oidc import make_client

        app.state.oidc_client = make_client(settings)
    settings.resolved_secret_key()  # fail at start, not at the first login

    app.include_router(health.router)  # two routes, for the load balancer's frequent probes
    fhir.install(app)  # next: its read and search are the most frequent requests (matched in order)
    app.include_router(auth.router)
    app.include_router(identity.router)
    app.include_router(access.router)
    app.include_router(pages.router)
    app.include_router(web_patients.router)
    app.include_router(web_dim.router)
    app.include_router(web_oidc.router)
    app.include_router(web_vigilance.router)
    pages.install_error_pages(app)  # after fhir.install, whose handlers it wraps
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if settings.oidc_enabled():
        app.add_middleware(web_oidc.OidcStateMiddleware, settings=settings)
    app.add_middleware(RejectUnstorableText)
    app.add_middleware(BundleLimit, limit=settings.http_bundles)
    app.add_middleware(HotPath)  # inside the request log only: the read by id (PostgreSQL)
    app.add_middleware(RequestLogMiddleware)
    return app
