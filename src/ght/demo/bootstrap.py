"""Glue between the generator and the stores: `ght demo generate` and `make demo`."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ght.config import Settings
from ght.db.engine import check_connection, make_engine, session_factory
from ght.db.migrate import upgrade
from ght.directory.seed import (
    DEMO_ACCOUNTS,
    DEMO_PASSWORD,
    create_demo_accounts,
    directory_is_empty,
    load_directory,
)
from ght.directory.vocab import ROLE_LABELS_FR

DEMO_ACTOR = "cli:ght demo"  # the account of the demo's own loads in the access trace


def generate_and_load(
    settings: Settings,
    *,
    patients: int,
    seed: int,
    out_dir: Path,
    load: bool,
    as_of: date | None = None,
    progress=None,
    engine=None,
) -> str:
    """Generate the territory files; load the directory (and demo accounts) when the database
    has none yet. Returns a French summary for the console."""
    from ght.demo import GeneratorConfig, generate

    started = time.perf_counter()
    config = GeneratorConfig(patients=patients, seed=seed)
    if as_of is not None:
        config = replace(config, as_of=as_of)
    territory = generate(config, out_dir, progress=progress)
    lines = [
        f"Territoire généré en {time.perf_counter() - started:.1f} s dans {out_dir}/ : "
        f"{territory.person_count} personnes, {territory.identity_count} identités locales, "
        f"{len(territory.establishments)} établissements, {len(territory.professionals)} professionnels."
    ]
    lines += [f"  {name} : {count}" for name, count in sorted(territory.files.items())]
    if load:
        owns = engine is None
        engine = engine or make_engine(settings.database_url)
        check_connection(engine)
        upgrade(engine)
        with session_factory(engine)() as db:
            if directory_is_empty(db):
                counts = load_directory(db, territory)
                create_demo_accounts(db)
                db.commit()
                lines.append(
                    "Annuaire chargé : " + ", ".join(f"{n} {k}" for k, n in counts.items())
                    + f" ; {len(DEMO_ACCOUNTS)} comptes de démonstration."
                )
            else:
                lines.append("La base contient déjà un annuaire : il n'a pas été rechargé.")
        if owns:
            engine.dispose()
    return "\n".join(lines)


def start_demo(settings: Settings, *, patients: int, seed: int, progress_factory, console: Console):
    """Migrated engine with a demo territory in it (generated only if the database is empty)."""
    engine = make_engine(settings.database_url)
    check_connection(engine)
    upgrade(engine)
    with session_factory(engine)() as db:
        empty = directory_is_empty(db)
    if empty:
        console.print(f"Base vide : génération d'un territoire de {patients} personnes (graine {seed})…")
        with progress_factory() as progress:
            task = progress.add_task("Personnes", total=patients)
            # Dated from today: the demo's stays are recent, so its clinicians are in the care teams
            # of their patients (ght.access) as they would be in a hospital.
            summary = generate_and_load(
                settings, patients=patients, seed=seed, out_dir=settings.var_dir / "territory",
                load=True, engine=engine, as_of=date.today(),
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        console.print(summary)
        console.print(load_identities(engine, settings.var_dir / "territory"))
        console.print(load_arrivals(engine, persons=patients, seed=seed))
        console.print(load_record(engine, settings.var_dir / "territory", progress_factory))
    elif _record_is_empty(engine) and (settings.var_dir / "territory" / "fhir").is_dir():
        # A demo database made before the record was loaded at start: complete it once.
        console.print("Dossier partagé vide : chargement du dossier du territoire de démonstration…")
        console.print(load_record(engine, settings.var_dir / "territory", progress_factory))
    if _dim_is_empty(engine) and (settings.var_dir / "territory" / "pmsi").is_dir():
        # The territory's PMSI files, for the DIM dashboard (once: a database made before
        # the demo imported them is completed).
        console.print(load_pmsi(engine, settings.var_dir / "territory", settings.var_dir))
    return engine


def _dim_is_empty(engine) -> bool:
    from sqlalchemy import select

    from ght.dim.models import DimImport

    with session_factory(engine)() as db:
        return db.scalar(select(DimImport.id).limit(1)) is None


def _record_is_empty(engine) -> bool:
    from sqlalchemy import select

    from ght.record.models import Resource

    with session_factory(engine)() as db:
        return db.scalar(select(Resource.id).limit(1)) is None


def load_identities(engine, territory_dir: Path) -> str:
    """Initial load of the territory's local identities into the identity server (batch linkage)."""
    from ght.identity.batch import link_rows
    from ght.identity.csvio import read_identities

    path = territory_dir / "identities.csv"
    rows = read_identities(path)
    with session_factory(engine)() as db:
        patient_ids, linkage, _ = link_rows(db, path, rows, actor="ght demo", register_unknown=False)
        db.commit()
    return (f"Serveur d'identité : {len(rows)} identités locales liées en {len(set(patient_ids))} patients GHT "
            f"({len(linkage.reviews)} paire(s) en file de revue).")


def load_arrivals(engine, *, persons: int, seed: int) -> str:
    """The day's arrivals (ght.demo.arrivals): identities mistyped at a reception desk, which
    wait in the identity-vigilance review queue."""
    from ght.demo.arrivals import register_arrivals

    with session_factory(engine)() as db:
        in_review = register_arrivals(db, persons=persons, seed=seed)
        db.commit()
    return f"Admissions du jour : {in_review} identité(s) saisie(s) avec une erreur, en file de revue d'identitovigilance."


def load_territory_base(engine, territory, territory_dir: Path) -> None:
    """A generated territory's directory, demo accounts and identity base, in a migrated
    database (what the benchmarks of the record start from)."""
    with session_factory(engine)() as db:
        load_directory(db, territory)
        create_demo_accounts(db)
        db.commit()
    load_identities(engine, territory_dir)


class SilentProgress:
    """A stand-in for rich's Progress where nobody watches (tests, benchmarks)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, *args, **kwargs):
        return 0

    def update(self, *args, **kwargs):
        pass


def load_record(engine, territory_dir: Path, progress_factory=SilentProgress) -> str:
    """The territory's clinical record (fhir/*.ndjson) into the shared record, after the identities
    its Patient references resolve to."""
    from ght.access.gate import SystemTrace
    from ght.audit.trail import Door
    from ght.record.loader import LoadError, load

    try:
        with progress_factory() as progress:
            task = progress.add_task("Dossier partagé", total=None)
            result = load(engine, [territory_dir / "fhir"], actor="ght demo", trace=SystemTrace(Door.CLI, DEMO_ACTOR),
                          progress=lambda done, total: progress.update(task, completed=done, total=total))
    except LoadError as exc:  # the demo still starts; what was loaded stays
        return f"Dossier partagé : chargement arrêté ({exc}) ; {exc.committed} ressource(s) chargée(s)."
    return result.summary()


def load_pmsi(engine, territory_dir: Path, var_dir: Path) -> str:
    """The territory's PMSI MCO files (pmsi/<FINESS>-<AAAAMM>.rss with their stay → IPP
    correspondence) through the DIM's importer, as `ght dim import` imports them: each import
    traced (door CLI, purpose DIM) and mirrored to Parquet under `var_dir`."""
    from ght.audit.trail import Action
    from ght.dim.access import trace_operation
    from ght.dim.importer import ImportRefused, Sources, import_file

    lines = linked = 0
    refused = []
    files = sorted((territory_dir / "pmsi").glob("*.rss"))
    for path in files:
        period = path.stem.rsplit("-", 1)[1]
        year, month = int(period[:4]), int(period[4:])
        correspondence = path.with_suffix(".ipp.csv")
        sources = Sources(correspondence=correspondence.read_bytes() if correspondence.exists() else None)
        try:
            result = import_file(engine, path.read_bytes(), path.name, year, month, actor="ght demo",
                                 sources=sources, var_dir=var_dir)
        except ImportRefused as exc:  # the demo still starts; the other files are imported
            refused.append(f"{path.name} ({exc.report.total} erreur(s), la première : {exc.report.errors[0]})")
            continue
        with session_factory(engine)() as db:
            trace_operation(db, DEMO_ACTOR, Action.CREATE, f"import PMSI {result.finess} {year:04d}-{month:02d}",
                            f"dim/import/{result.import_id}")
            db.commit()
        lines, linked = lines + result.lines, linked + result.linked
    summary = (f"DIM : {len(files) - len(refused)} fichier(s) PMSI importé(s), {lines} RUM dont {linked} rattachés "
               "à un patient du GHT.")
    return summary + "".join(f"\n  refusé : {r}" for r in refused)


def print_demo_accounts(console: Console) -> None:
    table = Table(title=f"Comptes de démonstration (mot de passe : {DEMO_PASSWORD})")
    table.add_column("Identifiant")
    table.add_column("Rôle")
    for spec in DEMO_ACCOUNTS:
        table.add_row(spec.username, ROLE_LABELS_FR[spec.role])
    console.print(table)
