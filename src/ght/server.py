"""Start the HTTP service: checks that fail with a clear message, migrations, uvicorn."""

from __future__ import annotations

import logging
import os
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

from ght import logs
from ght.api.app import create_app
from ght.audit.sealer import SealerProcess
from ght.config import Settings
from ght.db.engine import check_connection, make_engine
from ght.db.migrate import upgrade
from ght.sockets import bind_port

log = logging.getLogger("ght.server")


def bind_socket(host: str, port: int) -> socket.socket:
    """The HTTP socket, bound and listening, ready to hand to uvicorn."""
    sock = bind_port(host, port)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def prepare_database(settings: Settings):
    engine = make_engine(settings.database_url)
    check_connection(engine)
    upgrade(engine)
    return engine


# The settings a worker process starts from (JSON), set by the supervisor before it spawns them.
WORKER_SETTINGS = "GHT_WORKER_SETTINGS"


def _config(app, **extra) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,  # our JSON logging stays in place
        access_log=False,  # ght.api.middleware writes one line per request
        timeout_graceful_shutdown=10,  # SIGTERM/SIGINT: finish requests in flight, then stop
        server_header=False,
        loop="uvloop",
        http="httptools",
        **extra,
    )


def serve(settings: Settings, engine=None) -> None:
    """One process, or `settings.http_workers` processes sharing one listening socket: Python
    runs one request at a time per process (the GIL), so a server uses one worker per core."""
    engine = engine or prepare_database(settings)
    sock = bind_socket(settings.http_host, settings.http_port)
    log.info("listening", extra={"url": f"http://{settings.http_host}:{settings.http_port}",
                                 "workers": settings.http_workers})
    if settings.http_workers <= 1:
        uvicorn.Server(_config(create_app(settings, engine))).run(sockets=[sock])
        return
    engine.dispose()  # each worker opens its own connections: a pool must not cross a fork
    settings.resolved_secret_key()  # created once here, not raced by the workers
    # One sealer for all the workers, run by this supervisor; the workers run none.
    sealer = SealerProcess(settings) if settings.audit_seal_seconds > 0 else None
    workers = settings.model_copy(update={"audit_seal_seconds": 0})
    # The secret stays out of the environment: workers read it where this process did.
    os.environ[WORKER_SETTINGS] = workers.model_dump_json(exclude={"secret_key"})
    config = _config("ght.server:worker_app", factory=True, workers=settings.http_workers)
    if sealer is not None:
        sealer.start()
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        if sealer is not None:
            sealer.stop()


def worker_app():
    """The application of one worker process (spawned by uvicorn's supervisor)."""
    settings = Settings.model_validate_json(os.environ[WORKER_SETTINGS])
    logs.configure(settings.log_level, settings.log_json)
    return create_app(settings)
