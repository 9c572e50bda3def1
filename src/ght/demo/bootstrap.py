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
    return engine


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
            result = load(engine, [territory_dir / "fhir"], actor="ght demo", trace=SystemTrace(Door.CLI, "cli:ght demo"),
                          progress=lambda done, total: progress.update(task, completed=done, total=total))
    except LoadError as exc:  # the demo still starts; what was loaded stays
        return f"Dossier partagé : chargement arrêté ({exc}) ; {exc.committed} ressource(s) chargée(s)."
    return result.summary()


def print_demo_accounts(console: Console) -> None:
    table = Table(title=f"Comptes de démonstration (mot de passe : {DEMO_PASSWORD})")
    table.add_column("Identifiant")
    table.add_column("Rôle")
    for spec in DEMO_ACCOUNTS:
        table.add_row(spec.username, ROLE_LABELS_FR[spec.role])
    console.print(table)
