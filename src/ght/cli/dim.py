"""`ght dim ...`: the territorial DIM (PMSI MCO files of the group's establishments)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from ght.cli.record import progress_bar

app = typer.Typer(help="DIM territorial : import des RSS (PMSI MCO) et indicateurs du GHT.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _period(value: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{4})-(\d{2})", value)
    if not match or not 1 <= int(match[2]) <= 12:
        raise typer.BadParameter("période AAAA-MM attendue", param_hint="--periode")
    return int(match[1]), int(match[2])


def _trace(db, action, reason: str, resource: str) -> None:
    from ght.cli.operator import operator
    from ght.dim.access import trace_operation

    trace_operation(db, operator(), action, reason, resource)


@app.command("import")
def import_(
    rss: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Fichier RSS (format 022, 023 ou RSS groupé)")],
    periode: Annotated[str, typer.Option("--periode", help="Période AAAA-MM (mois de sortie des séjours)")],
    correspondance: Annotated[Path | None, typer.Option(exists=True, help="CSV nas;ipp[;nom;prenom] de l'établissement")] = None,
    cles: Annotated[Path | None, typer.Option(exists=True, help="CSV nas;cle : clés de chaînage produites par les outils ATIH")] = None,
) -> None:
    """Importe un fichier RSS d'un établissement pour une période : entier ou pas du tout ; la
    période déjà importée est remplacée. Les erreurs sont listées (ligne, champ, motif)."""
    from ght.audit.trail import Action
    from ght.cli import _ready_engine, _settings
    from ght.cli.operator import operator
    from ght.db.engine import session_factory
    from ght.dim.importer import ImportRefused, Sources, import_file

    year, month = _period(periode)
    settings = _settings()
    engine = _ready_engine(settings)
    sources = Sources(correspondance.read_bytes() if correspondance else None, cles.read_bytes() if cles else None)
    try:
        with progress_bar() as progress:
            task = progress.add_task("RUM", total=None)
            result = import_file(engine, rss.read_bytes(), rss.name, year, month, actor=operator(), sources=sources,
                                 var_dir=settings.var_dir,
                                 progress=lambda done, total: progress.update(task, completed=done, total=total))
    except ImportRefused as refused:
        for error in refused.report.errors:
            err.print(escape(str(error)))
        hidden = refused.report.total - len(refused.report.errors)
        err.print(f"[bold red]Fichier refusé[/] : {refused.report.total} erreur(s)"
                  + (f" ({hidden} non affichées)" if hidden else "") + " ; rien n'a été importé.")
        sys.exit(2)
    with session_factory(engine)() as db:
        _trace(db, Action.CREATE, f"import PMSI {result.finess} {periode}", f"dim/import/{result.import_id}")
        db.commit()
    out.print(f"{result.establishment} ({result.finess}), {periode} : {result.lines} RUM, {result.stays} séjours, "
              f"{result.acts} actes, {result.linked} RUM rattachés à un patient du GHT"
              + (" ; la période précédente est remplacée." if result.replaced else "."))


@app.command("report")
def report(
    export_dir: Annotated[Path | None, typer.Option("--export", help="Dossier où écrire chaque tableau en CSV et Parquet")] = None,
    nominatif: Annotated[bool, typer.Option(help="Données nominatives (médecin DIM, avec --compte ; sinon patients pseudonymisés)")] = False,
    compte: Annotated[str | None, typer.Option(help="Compte au nom duquel le rapport est produit")] = None,
    rebuild: Annotated[bool, typer.Option(help="Réécrire d'abord le miroir Parquet depuis la base")] = False,
) -> None:
    """Le rapport territorial : activité, pyramide, case-mix, actes, parcours entre établissements,
    réhospitalisations à 30 jours. Médecin DIM : patients pseudonymisés (nominatifs avec
    --nominatif) ; sinon agrégats, effectifs < 10 masqués."""
    from sqlalchemy import select

    from ght.access.gate import AccessDenied, Gate
    from ght.access.subject import subject_of_account
    from ght.audit.trail import Action, Door
    from ght.cli import _ready_engine, _settings
    from ght.db.engine import session_factory
    from ght.dim import analysis, export, mirror
    from ght.dim.access import View, open_report, visible_tables
    from ght.dim.pseudonym import PseudonymKeyInvalid
    from ght.directory.models import Account, Site

    settings = _settings()
    engine = _ready_engine(settings)
    with session_factory(engine)() as db:
        view = View.MASKED
        if compte:
            account = db.scalars(select(Account).where(Account.username == compte)).first()
            if account is None:
                raise typer.BadParameter(f"compte inconnu : {compte}", param_hint="--compte")
            gate = Gate(engine, db, subject_of_account(account), Door.CLI)
            try:
                view = open_report(gate, "dim/report", nominative=nominatif)
            except AccessDenied as denied:
                err.print(f"[bold red]Refusé[/] : {escape(denied.reason)}")
                sys.exit(3)
            gate.flush(db)
        elif nominatif:
            raise typer.BadParameter("--nominatif demande --compte (un compte médecin DIM)", param_hint="--nominatif")
        else:
            _trace(db, Action.READ, "rapport DIM agrégé (effectifs < 10 masqués)", "dim/report")
        db.commit()
        sites = {s.id: s.name for s in db.scalars(select(Site))}
    with progress_bar() as progress:
        task = progress.add_task("Indicateurs", total=3)
        if rebuild:
            mirror.rebuild(engine, settings.var_dir)
        progress.update(task, completed=1)
        tables = analysis.report(analysis.connect(settings.var_dir, sites))
        progress.update(task, completed=2)
        try:
            shown = visible_tables(tables, view, settings)
        except PseudonymKeyInvalid as invalid:
            err.print(f"[bold red]Clé du pseudonyme inutilisable[/] : {escape(str(invalid))}")
            sys.exit(1)
        if export_dir:
            export.write(shown, export_dir)
        progress.update(task, completed=3)
    for table in shown:
        rich = RichTable(title=table.title)
        for column in table.columns:
            rich.add_column(column.label)
        for row in table.rows:
            rich.add_row(*("< 10" if v is None and c.kind != analysis.TEXT else str(v) for c, v in zip(table.columns, row)))
        out.print(rich)
