"""`ght identity ...`: batch linkage of a file, evaluation against a ground truth."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ght.identity.csvio import CsvProblem, read_identities, write_links

app = typer.Typer(help="Serveur d'identité du territoire : liaison, évaluation.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@app.command("link")
def link(
    input_csv: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Identités locales (CSV)")],
    out_csv: Annotated[Path, typer.Option("--out", help="Fichier des liens produit")],
    database: Annotated[str | None, typer.Option(
        help="Base d'identités où enregistrer le résultat (chargement initial) ; sans elle, seuls les liens sont produits")] = None,
    train: Annotated[bool, typer.Option(help="Apprendre le modèle (EM, Splink) sur le fichier")] = True,
) -> None:
    """Lie un fichier d'identités locales : un patient GHT par personne, décision linked/review/new."""
    from ght.identity.batch import link_rows
    from ght.config import load_settings

    load_settings()  # a bad setting (GHT_LINKAGE_ENGINE...) stops here, before any work
    started = time.perf_counter()
    engine = _identity_base(database) if database else None
    rows = read_identities(input_csv)
    with contextlib.ExitStack() as stack:
        progress = stack.enter_context(Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(), console=err,
        ))
        db = stack.enter_context(_empty_base(engine)) if engine is not None else None
        task = progress.add_task(f"Liaison de {len(rows)} identités", total=5)
        patient_ids, linkage, _ = link_rows(
            db, input_csv, rows, actor="ght identity link", register_unknown=False, train=train,
            progress=lambda name, done, total: progress.update(task, completed=done, description=name),
        )
        if db is not None:
            db.commit()
    written = write_links(out_csv, (
        (row.data.finess, row.data.ipp, patient, decision)
        for row, patient, decision in zip(rows, patient_ids, linkage.decisions, strict=True)
    ))
    counts = {d: linkage.decisions.count(d) for d in ("linked", "review", "new")}
    out.print(
        f"{written} identités liées en {time.perf_counter() - started:.1f} s : {len(set(patient_ids))} patients GHT ; "
        f"linked {counts['linked']}, review {counts['review']}, new {counts['new']} ; "
        f"{len(linkage.reviews)} paire(s) à revoir. Résultat : {out_csv}"
    )


def _identity_base(database: str):
    """The engine of the given identity base, reachable and at the current schema."""
    from ght.db.engine import check_connection, make_engine
    from ght.db.migrate import upgrade

    engine = make_engine(database)
    check_connection(engine)
    upgrade(engine)
    return engine


@contextlib.contextmanager
def _empty_base(engine):
    """A session on the base, which must hold no identity yet: the batch is the initial load."""
    from sqlalchemy import func, select

    from ght.db.engine import session_factory
    from ght.identity.models import LocalIdentity
    from ght.identity.service import IdentityRejected

    with session_factory(engine)() as db:
        if db.scalar(select(func.count()).select_from(LocalIdentity)):
            raise IdentityRejected("database", "la base contient déjà des identités : la liaison par lot "
                                   "sert au chargement initial (les flux HL7/FHIR lient ensuite au fil de l'eau)")
        yield db


@app.command("evaluate")
def evaluate(
    links: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Sortie de ght identity link")],
    truth: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Vérité terrain (ground_truth.csv)")],
    show: Annotated[int, typer.Option(help="Nombre d'exemples de fausses fusions et de liens manqués affichés")] = 10,
) -> None:
    """Précision, rappel et F1 par paires, fausses fusions, liens manqués, taille de la file de revue."""
    from ght.identity.evaluate import evaluate as run

    try:
        result = run(links, truth)
    except ValueError as exc:
        raise CsvProblem(links, [str(exc)], 1) from None
    out.print(f"Identités : {result.identities}")
    out.print(f"Paires vraies : {result.true_pairs} · paires liées : {result.predicted_pairs} · justes : {result.true_positives}")
    out.print(f"Précision : {result.precision:.5f} · rappel : {result.recall:.5f} · F1 : {result.f1:.5f}")
    out.print(f"Fausses fusions : {len(result.false_merges)} · liens manqués : {len(result.missed_links)}")
    out.print(f"File de revue : {result.review_queue} identité(s)")
    for title, pairs in (("Fausses fusions", result.false_merges), ("Liens manqués", result.missed_links)):
        for a, b in pairs[:show]:
            out.print(f"  {title} : {a[0]}/{a[1]} ~ {b[0]}/{b[1]}")
