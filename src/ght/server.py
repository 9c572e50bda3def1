"""Start the HTTP service: checks that fail with a clear message, migrations, uvicorn."""

from __future__ import annotations

import logging
import socket

import uvicorn

from ght.api.app import create_app
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


def serve(settings: Settings, engine=None) -> None:
    engine = engine or prepare_database(settings)
    sock = bind_socket(settings.http_host, settings.http_port)
    app = create_app(settings, engine)
    config = uvicorn.Config(
        app,
        log_config=None,  # our JSON logging stays in place
        access_log=False,  # ght.api.middleware writes one line per request
        timeout_graceful_shutdown=10,  # SIGTERM/SIGINT: finish requests in flight, then stop
        server_header=False,
    )
    log.info("listening", extra={"url": f"http://{settings.http_host}:{settings.http_port}"})
    uvicorn.Server(config).run(sockets=[sock])
