"""Listening sockets of the services (HTTP, MLLP), bound by us so that start-up errors are clear."""

from __future__ import annotations

import errno
import socket

from ght.errors import StartupError


def bind_port(host: str, port: int, *, service: str = "HTTP", variable: str = "GHT_HTTP_PORT") -> socket.socket:
    """Bind (not yet listen) a service's socket ourselves: a taken port is reported clearly,
    with no race between a check and the server's own bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"le port {service} {port} est déjà utilisé sur {host} : arrêtez l'autre service "
                f"ou choisissez un autre port ({variable} ou --port)"
            ) from exc
        if exc.errno == errno.EACCES:
            raise StartupError(f"droits insuffisants pour écouter sur le port {service} {port}") from exc
        raise StartupError(f"impossible d'écouter sur {host}:{port} : {exc.strerror}") from exc
    return sock
