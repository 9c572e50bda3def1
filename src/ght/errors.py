"""Errors an operator can act on; the CLI prints their message as one French sentence."""

from __future__ import annotations


class StartupError(RuntimeError):
    """Why the service cannot start (port taken, no rights...), in words an operator can act on."""
