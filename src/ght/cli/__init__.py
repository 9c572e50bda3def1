"""`ght` command line: serve, database, accounts, demo territory."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from ght import logs
from ght.config import Settings, load_settings
from ght.db.engine import check_connection, make_engine, session_factory
from ght.db.migrate import current_revision, head_revision, upgrade
from ght.directory.accounts import AccountError, create_account, parse_roles
from ght.directory.models import Account, Establishment
from ght.directory.vocab import PROFESSIONS, ROLE_LABELS_FR, Role
from ght.errors import run_command

app = typer.Typer(
    help="ght : système d'information convergent du groupement hospitalier de territoire.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Base de données : migrations.", no_args_is_help=True)
users_app = typer.Typer(help="Comptes utilisateurs.", no_args_is_help=True)
demo_app = typer.Typer(help="Territoire de démonstration synthétique.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(demo_app, name="demo")


def _register_domain_commands() -> None:
    from ght.cli import audit, dim, identity, record
    from ght.interop.hl7v2.cli import app as mllp_app
    from ght.interop.publish_cli import app as publish_app

    app.add_typer(identity.app, name="identity")
    app.add_typer(record.app, name="record")
    app.add_typer(mllp_app, name="mllp")
    app.add_typer(publish_app, name="publish")
    app.add_typer(audit.app, name="audit")
    app.add_typer(dim.app, name="dim")


_register_domain_commands()

out = Console()
err = Console(stderr=True, soft_wrap=True)  # one error, one line: greppable in logs



def main() -> None:
    run_command(app)


def _settings() -> Settings:
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_json)
    return settings


def _ready_engine(settings: Settings):
    """Engine on the configured database, reachable and migrated to the latest schema."""
    engine = make_engine(settings.database_url)
    check_connection(engine)
    upgrade(engine)
    return engine


@contextmanager
def _session(settings: Settings):
    engine = _ready_engine(settings)
    db: Session = session_factory(engine)()
    try:
        yield db
        db.commit()
    finally:
        db.close()
        engine.dispose()


# ---------------------------------------------------------------- serve


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Adresse d'écoute (GHT_HTTP_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port HTTP (GHT_HTTP_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="Processus serveurs, un par cœur (GHT_HTTP_WORKERS)")] = None,
) -> None:
    """Démarre le service HTTP (API, pages web) après avoir appliqué les migrations."""
    from ght.server import serve as run

    settings = _settings()
    if host:
        settings.http_host = host
    if port:
        settings.http_port = port
    if workers:
        settings.http_workers = workers
    run(settings)


# ---------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Applique les migrations jusqu'à la dernière version du schéma."""
    settings = _settings()
    engine = make_engine(settings.database_url)
    check_connection(engine)
    upgrade(engine)
    out.print(f"Schéma à jour : révision {current_revision(engine)}")


@db_app.command("current")
def db_current() -> None:
    """Affiche la révision du schéma de la base et la dernière disponible."""
    settings = _settings()
    engine = make_engine(settings.database_url)
    check_connection(engine)
    out.print(f"Base : {current_revision(engine) or 'vide'} · dernière : {head_revision(engine)}")


# ---------------------------------------------------------------- users


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("Mot de passe", hide_input=True, confirmation_prompt="Confirmation")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="Identifiant de connexion")],
    role: Annotated[list[str], typer.Option("--role", "-r", help="Rôle (répétable) : " + ", ".join(r.value for r in Role))],
    rpps: Annotated[str | None, typer.Option(help="RPPS du professionnel (11 chiffres)")] = None,
    adeli: Annotated[str | None, typer.Option(help="ADELI du professionnel (9 caractères)")] = None,
    family_name: Annotated[str | None, typer.Option(help="Nom d'exercice (si le professionnel est nouveau)")] = None,
    given_name: Annotated[str | None, typer.Option(help="Prénom (si le professionnel est nouveau)")] = None,
    profession: Annotated[str | None, typer.Option(help="Profession (si nouveau) : " + ", ".join(PROFESSIONS))] = None,
    specialty: Annotated[str | None, typer.Option(help="Spécialité (si nouveau)")] = None,
    establishment: Annotated[str | None, typer.Option(help="FINESS juridique de l'établissement du compte")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Lire le mot de passe sur l'entrée standard")] = False,
) -> None:
    """Crée un compte lié à un professionnel de l'annuaire (retrouvé par RPPS/ADELI, ou créé)."""
    from ght.directory.professionals import find_or_create_professional

    roles = parse_roles(role)
    settings = _settings()
    with _session(settings) as db:
        estab = None
        if establishment:
            estab = db.scalar(select(Establishment).where(Establishment.finess_ej == establishment))
            if estab is None:
                raise AccountError(f"aucun établissement du GHT n'a le FINESS juridique {establishment}")
        professional = find_or_create_professional(
            db, rpps=rpps, adeli=adeli, family_name=family_name, given_name=given_name,
            profession=profession, specialty=specialty, external=estab is None,
        )
        password = _read_password(password_stdin)
        account = create_account(db, username, password, professional, estab, roles)
        out.print(
            f"Compte « {account.username} » créé pour {professional.display_name} "
            f"({', '.join(ROLE_LABELS_FR[r] for r in roles)})"
        )


@users_app.command("list")
def users_list() -> None:
    """Liste les comptes, leurs rôles et leur établissement."""
    settings = _settings()
    with _session(settings) as db:
        table = Table("Identifiant", "Professionnel", "RPPS/ADELI", "Rôles", "Établissement", "Actif")
        for account in db.scalars(select(Account).order_by(Account.username)):
            p = account.professional
            table.add_row(
                account.username, p.display_name, p.rpps or p.adeli or "",
                ", ".join(account.roles),
                account.establishment.short_name if account.establishment else "(extérieur)",
                "oui" if account.active else "non",
            )
        out.print(table)


@users_app.command("set-password")
def users_set_password(
    username: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
) -> None:
    """Change le mot de passe d'un compte (et ferme ses sessions ouvertes)."""
    from ght.directory.accounts import set_password

    settings = _settings()
    with _session(settings) as db:
        set_password(db, username, _read_password(password_stdin))
        out.print(f"Mot de passe de « {username} » changé ; ses sessions ont été fermées.")


@users_app.command("disable")
def users_disable(username: str) -> None:
    """Désactive un compte (et ferme ses sessions ouvertes) ; il reste dans l'annuaire."""
    from ght.directory.accounts import disable_account

    settings = _settings()
    with _session(settings) as db:
        disable_account(db, username)
        out.print(f"Compte « {username} » désactivé.")


# ---------------------------------------------------------------- demo


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=False,
    )


DEFAULT_TERRITORY_DIR = Path("var") / "territory"


def _iso_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"date attendue au format AAAA-MM-JJ, reçu « {value} »", param_hint="--as-of") from None


@demo_app.command("generate")
def demo_generate(
    patients: Annotated[int, typer.Option(min=1, help="Nombre de personnes")] = 2000,
    seed: Annotated[int, typer.Option(help="Graine (même graine, même territoire)")] = 1,
    out_dir: Annotated[Path, typer.Option("--out", help="Dossier des fichiers produits")] = DEFAULT_TERRITORY_DIR,
    load: Annotated[bool, typer.Option(help="Charger l'annuaire dans la base s'il est vide")] = True,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Date de référence AAAA-MM-JJ (par défaut celle du générateur, pour la reproductibilité)")] = None,
) -> None:
    """Génère un territoire synthétique reproductible (annuaire, identités, dossiers, vérité terrain)."""
    from ght.demo.bootstrap import generate_and_load

    settings = _settings()
    with _progress() as progress:
        task = progress.add_task("Personnes", total=patients)
        summary = generate_and_load(
            settings, patients=patients, seed=seed, out_dir=out_dir, load=load, as_of=_iso_date(as_of),
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    out.print(summary)


@demo_app.command("start")
def demo_start(
    patients: Annotated[int, typer.Option(min=1, help="Taille du territoire si la base est vide")] = 2000,
    seed: Annotated[int, typer.Option(help="Graine du territoire")] = 1,
) -> None:
    """Prépare le territoire de démonstration si la base est vide, affiche les comptes, sert l'application."""
    from ght.demo.bootstrap import print_demo_accounts, start_demo

    settings = _settings()
    engine = start_demo(settings, patients=patients, seed=seed, progress_factory=_progress, console=out)
    print_demo_accounts(out)
    from ght.server import serve as run

    run(settings, engine)
