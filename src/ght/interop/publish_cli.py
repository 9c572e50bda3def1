"""`ght publish ...`: delivery of the identity link changes to the establishments' systems.

Registered in the `ght` command as `app.add_typer(publish_app, name="publish")`; runnable on
its own as `python -m ght.interop.publish_cli run`.
"""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer
from sqlalchemy import func, select

from ght import logs
from ght.config import load_settings
from ght.db.engine import check_connection, make_engine, session_factory
from ght.db.migrate import upgrade
from ght.errors import run_command

app = typer.Typer(
    help="Publication des rattachements, détachements et fusions d'identités aux systèmes des "
         "établissements (HL7 v2.5 sur MLLP, FHIR).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def publish() -> None:
    """Publication des rattachements, détachements et fusions d'identités aux systèmes des
    établissements (HL7 v2.5 sur MLLP, FHIR)."""


def _engine():
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_json)
    engine = make_engine(settings.database_url)
    check_connection(engine)
    upgrade(engine)
    return engine


@app.command()
def run() -> None:
    """Envoie les publications au fil de l'eau jusqu'à SIGTERM ou SIGINT (refus réessayés)."""
    from ght.interop.outbound import load_publish_settings, run_publisher

    config = load_publish_settings()
    engine = _engine()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        run_publisher(session_factory(engine), stop, config=config)
    finally:
        engine.dispose()


@app.command()
def once(
    limit: Annotated[int, typer.Option(min=1, help="Nombre maximal d'envois tentés")] = 100,
) -> None:
    """Un seul passage : envoie les publications dues, puis affiche ce qui reste en attente."""
    from ght.identity.models import Publication
    from ght.identity.publication import PENDING
    from ght.interop.outbound import deliver_due, load_publish_settings

    config = load_publish_settings()
    engine = _engine()
    try:
        factory = session_factory(engine)
        sent = deliver_due(factory, limit=limit, config=config)
        with factory() as db:
            pending = db.scalar(select(func.count()).select_from(Publication).where(Publication.status == PENDING))
            failing = db.scalar(select(func.count()).select_from(Publication).where(
                Publication.status == PENDING, Publication.attempts > 0))
    finally:
        engine.dispose()
    typer.echo(f"{sent} publication(s) envoyée(s) ; {pending} en attente, dont {failing} déjà refusée(s) ou "
               "restée(s) sans réponse")


@app.command()
def subscribe(
    finess: Annotated[str, typer.Argument(help="FINESS juridique de l'établissement")],
    name: Annotated[str, typer.Option(help="Nom du système (ex. « GAM du CH de Cholet »)")],
    kind: Annotated[str, typer.Option(help="mllp (HL7 v2.5) ou fhir (hook REST)")],
    endpoint: Annotated[str, typer.Option(help="hôte:port pour mllp, URL pour fhir")],
) -> None:
    """Abonne un système d'un établissement aux rattachements, détachements et fusions."""
    from ght.identity.publication import add_subscriber

    engine = _engine()
    try:
        with session_factory(engine)() as db:
            subscriber = add_subscriber(db, finess, name, kind, endpoint)
            db.commit()
            typer.echo(f"Abonné n° {subscriber.id} « {subscriber.name} » ({kind} {endpoint}) : "
                       "il recevra les changements à venir.")
    finally:
        engine.dispose()


@app.command()
def subscribers() -> None:
    """Liste les abonnés, leur état et leurs publications en attente."""
    from ght.directory.models import Establishment
    from ght.identity.models import Publication, Subscriber
    from ght.identity.publication import PENDING

    engine = _engine()
    try:
        with session_factory(engine)() as db:
            pending = dict(db.execute(select(Publication.subscriber_id, func.count())
                                      .where(Publication.status == PENDING).group_by(Publication.subscriber_id)).all())
            rows = db.execute(select(Subscriber, Establishment.finess_ej)
                              .join(Establishment, Establishment.id == Subscriber.establishment_id)
                              .order_by(Subscriber.id)).all()
            for subscriber, finess in rows:
                state = "actif" if subscriber.active else "inactif"
                typer.echo(f"{subscriber.id}\t{finess}\t{subscriber.name}\t{subscriber.kind}\t{subscriber.endpoint}"
                           f"\t{state}\t{pending.get(subscriber.id, 0)} en attente")
    finally:
        engine.dispose()


def main() -> None:
    run_command(app)


if __name__ == "__main__":
    main()
