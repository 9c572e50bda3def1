"""Errors an operator can act on; the CLI prints their message as one French sentence."""

from __future__ import annotations


class StartupError(RuntimeError):
    """Why the service cannot start (port taken, no rights...), in words an operator can act on."""


def user_errors() -> tuple[type[Exception], ...]:
    """Every error whose message is meant for the operator (imported here, late, so that this
    module stays free of dependencies)."""
    from ght.auth.passwords import WeakPassword
    from ght.config import ConfigError
    from ght.db.engine import DatabaseUnavailable
    from ght.directory.accounts import AccountError
    from ght.identity.csvio import CsvProblem
    from ght.identity.service import IdentityRejected

    return (ConfigError, DatabaseUnavailable, StartupError, AccountError, WeakPassword, LookupError,
            CsvProblem, IdentityRejected)


def run_command(app) -> None:
    """Run a typer app; an operator's error is one French line on stderr and exit status 2,
    never a traceback. Used by `ght` and by the modules runnable on their own."""
    import sys

    from rich.console import Console

    try:
        app()
    except user_errors() as exc:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]Erreur :[/] {exc}")
        sys.exit(2)
