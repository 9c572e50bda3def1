"""`ght audit ...`: the access trace (verify, seal, purge, export as FHIR AuditEvent)."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ght.cli.operator import operator

app = typer.Typer(help="Trace des accès : vérification, scellement, purge, export FHIR AuditEvent.",
                  no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _day(value: str | None, option: str) -> datetime | None:
    """A date given as AAAA-MM-JJ, as midnight UTC."""
    if value is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    except ValueError:
        raise typer.BadParameter(f"date attendue au format AAAA-MM-JJ, reçu « {value} »", param_hint=option) from None


def _known_head(value: str) -> tuple[int, str]:
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise typer.BadParameter(f"attendu CHAIN_SEQ:EMPREINTE (64 caractères hexadécimaux), reçu « {value} »",
                                 param_hint="--known-head")
    return int(seq), digest


@app.command("verify")
def verify(
    unsealed_minutes: Annotated[int, typer.Option(min=1, help="Délai au-delà duquel une entrée non scellée est signalée")] = 5,
    known_head: Annotated[list[str] | None, typer.Option("--known-head", help="Tête publiée CHAIN_SEQ:EMPREINTE à retrouver (répétable)")] = None,
) -> None:
    """Vérifie le chaînage de toute la trace ; code de sortie 0 si elle est intègre, 1 sinon."""
    from ght.audit.verify import verify as run
    from ght.cli import _session, _settings

    heads = [_known_head(value) for value in known_head or []]
    with _session(_settings()) as db:
        report = run(db, unsealed_after=timedelta(minutes=unsealed_minutes), known_heads=heads)
    span = f"chain_seq {report.start_seq} à {report.last_seq}" if report.checked else "aucune entrée scellée"
    summary = (f"{report.checked} entrée(s) vérifiée(s) ({span}), {report.anchors} ancre(s) de purge, "
               f"{report.unsealed} entrée(s) en attente de scellement.")
    if report.intact:
        out.print(f"Trace intègre : {summary}")
        if report.checked:
            out.print(f"Tête : chain_seq {report.last_seq}, empreinte {report.last_hash}")
        return
    out.print(f"Trace altérée : {len(report.breaks)} anomalie(s). {summary}")
    for found in report.breaks:
        out.print(f"- {escape(found.message)}")
    sys.exit(1)


@app.command("seal")
def seal(batch: Annotated[int, typer.Option(min=1, help="Entrées par transaction")] = 10_000) -> None:
    """Scelle les entrées en attente, par lots (une transaction par lot)."""
    from ght.audit.chain import read_head
    from ght.audit.sealer import seal_pending
    from ght.cli import _ready_engine, _settings
    from ght.db.engine import session_factory

    engine = _ready_engine(_settings())
    try:
        sessions = session_factory(engine)
        sealed = seal_pending(sessions, batch)
        with sessions() as db:
            head = read_head(db)
    finally:
        engine.dispose()
    where = f" ; tête : chain_seq {head.chain_seq}, empreinte {head.entry_hash}" if head else ""
    out.print(f"{sealed} entrée(s) scellée(s){where}")


@app.command("purge")
def purge(
    before: Annotated[str | None, typer.Option(help="Purger les entrées enregistrées avant cette date AAAA-MM-JJ (UTC)")] = None,
    months: Annotated[int | None, typer.Option(min=1, help="Purger au-delà de N mois glissants (par défaut GHT_AUDIT_RETENTION_MONTHS)")] = None,
) -> None:
    """Purge la trace au-delà de sa durée de conservation, en gardant la chaîne vérifiable."""
    from ght.audit.purge import PurgeRefused, months_before
    from ght.audit.purge import purge as run
    from ght.cli import _session, _settings

    if before is not None and months is not None:
        raise typer.BadParameter("indiquez --before ou --months, pas les deux", param_hint="--before")
    settings = _settings()
    cutoff = _day(before, "--before") or months_before(datetime.now(UTC), months or settings.audit_retention_months)
    try:
        with _session(settings) as db:
            result = run(db, cutoff, operator(), retention_months=settings.audit_retention_months)
    except PurgeRefused as exc:
        err.print(f"[bold red]Erreur :[/] {escape(str(exc))}")
        sys.exit(2)
    if result.anchor is None:
        out.print(f"Aucune entrée enregistrée avant le {cutoff:%Y-%m-%d %H:%M} UTC : rien à purger.")
        return
    out.print(f"{result.purged} entrée(s) enregistrée(s) avant le {cutoff:%Y-%m-%d %H:%M} UTC purgée(s) ; "
              f"la chaîne reprend au chain_seq {result.anchor.chain_seq} (ancre n° {result.anchor.id}).")


@app.command("export")
def export(
    out_file: Annotated[Path, typer.Option("--out", help="Fichier NDJSON à écrire (une ressource AuditEvent par ligne)")],
    patient: Annotated[str | None, typer.Option(help="Identifiant GHT du patient")] = None,
    since: Annotated[str | None, typer.Option(help="Depuis cette date AAAA-MM-JJ incluse (UTC)")] = None,
    until: Annotated[str | None, typer.Option(help="Jusqu'à cette date AAAA-MM-JJ exclue (UTC)")] = None,
) -> None:
    """Exporte la trace en ressources FHIR R4 AuditEvent (IHE BALP) ; l'export est lui-même tracé."""
    from ght.audit.fhir import export_ndjson
    from ght.audit.trail import AccessEvent, Action, Door, Outcome, Purpose, record
    from ght.cli import _session, _settings
    from ght.interop.outbound import load_publish_settings

    start, end = _day(since, "--since"), _day(until, "--until")
    if not out_file.parent.is_dir():
        raise typer.BadParameter(f"le dossier {out_file.parent} n'existe pas", param_hint="--out")
    ght_oid = load_publish_settings().ght_oid
    with _session(_settings()) as db:
        count = export_ndjson(db, out_file, ght_oid, patient=patient, since=start, until=end)
        record(db, AccessEvent(account=operator(), account_id=None, role="operator", action=Action.EXPORT,
                               purpose=Purpose.ADMINISTRATION, outcome=Outcome.ALLOWED, door=Door.CLI,
                               ght_patient_id=patient,
                               reason=f"export de {count} entrée(s) de la trace vers {out_file}"))
    out.print(f"{count} AuditEvent écrit(s) dans {out_file}")
