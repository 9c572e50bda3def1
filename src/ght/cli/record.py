"""`ght record ...`: the shared patient record (FHIR R4 store)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

app = typer.Typer(help="Dossier patient partagé (FHIR R4) : chargement.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err)


@app.command("load")
def load(
    paths: Annotated[list[Path], typer.Argument(exists=True, help="Fichiers NDJSON ou dossiers (tous leurs *.ndjson)")],
    batch: Annotated[int, typer.Option(min=1, help="Lignes par transaction")] = 1000,
) -> None:
    """Charge des ressources FHIR NDJSON dans le dossier partagé (références Patient/<FINESS>-<IPP>
    réécrites vers les identités du serveur d'identité ; relancer ne duplique rien)."""
    from ght import logs
    from ght.config import load_settings
    from ght.db.engine import check_connection, make_engine
    from ght.db.migrate import upgrade
    from ght.access.gate import SystemTrace
    from ght.audit.trail import Door
    from ght.cli.operator import operator
    from ght.record.loader import LoadError, load as run

    settings = load_settings()
    logs.configure(settings.log_level, settings.log_json)
    engine = make_engine(settings.database_url)
    try:
        check_connection(engine)
        upgrade(engine)
        with progress_bar() as progress:
            task = progress.add_task("Lignes NDJSON", total=None)
            result = run(engine, paths, batch=batch, trace=SystemTrace(Door.CLI, operator()),
                         progress=lambda done, total: progress.update(task, completed=done, total=total))
    except LoadError as exc:
        err.print(f"[bold red]Erreur :[/] {exc}")
        err.print(f"{exc.committed} ressource(s) validée(s) avant cette ligne ; corriger puis relancer "
                  "(ce qui est déjà chargé ne sera pas dupliqué).")
        sys.exit(2)
    except FileNotFoundError as exc:
        err.print(f"[bold red]Erreur :[/] {exc}")
        sys.exit(2)
    finally:
        engine.dispose()
    out.print(result.summary())
