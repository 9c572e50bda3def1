"""`ght mllp ...`: the HL7 v2 listener, and a small sender to try it.

Registered in the `ght` command as `app.add_typer(mllp_app, name="mllp")`; runnable on its own
as `python -m ght.interop.hl7v2.cli serve` (the crash test starts it so).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Annotated

import typer

from ght import logs
from ght.config import Settings, load_settings
from ght.errors import StartupError, run_command

app = typer.Typer(
    help="Flux HL7 v2 sur MLLP (IHE PAM, extension française) : serveur d'identité.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def mllp() -> None:
    """Flux HL7 v2 sur MLLP (IHE PAM, extension française) : serveur d'identité."""


def _settings(host: str | None, port: int | None, *, configure_logs: bool = True) -> Settings:
    settings = load_settings()
    if configure_logs:
        logs.configure(settings.log_level, settings.log_json)
    if host:
        settings.mllp_host = host
    if port:
        settings.mllp_port = port
    return settings


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Adresse d'écoute (GHT_MLLP_HOST)")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port MLLP (GHT_MLLP_PORT, 2575)")] = None,
) -> None:
    """Écoute les messages HL7 v2.5 ADT (A28, A31, A01, A04, A05, A08, A40, A47).

    Applique d'abord les migrations, puis les messages reçus mais non traités lors d'un arrêt brutal.
    """
    from ght.interop.hl7v2.server import serve as run

    run(_settings(host, port))


def split_messages(text: str) -> list[str]:
    """The messages of a file: each starts at an MSH segment; lines end in CR, LF or CRLF."""
    lines = [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
    messages: list[list[str]] = []
    for line in lines:
        if line.startswith("MSH") or not messages:
            messages.append([])
        messages[-1].append(line)
    return ["\r".join(segments) + "\r" for segments in messages]


async def _send(host: str, port: int, messages: list[str], timeout: float) -> list[str]:
    from hl7.mllp import open_hl7_connection

    reader, writer = await asyncio.wait_for(open_hl7_connection(host, port, encoding="utf-8"), timeout)
    answers = []
    try:
        for message in messages:
            writer.writeblock(message.encode("utf-8"))
            await writer.drain()
            answers.append((await asyncio.wait_for(reader.readblock(), timeout)).decode("utf-8", "replace"))
    finally:
        writer.close()
        await writer.wait_closed()
    return answers


@app.command()
def send(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Fichier de messages HL7 (UTF-8)")],
    host: Annotated[str | None, typer.Option(help="Adresse du serveur MLLP (GHT_MLLP_HOST)")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port MLLP (GHT_MLLP_PORT)")] = None,
    timeout: Annotated[float, typer.Option(help="Attente maximale d'un accusé de réception, en secondes")] = 30.0,
) -> None:
    """Envoie les messages d'un fichier à un serveur MLLP et affiche chaque accusé de réception."""
    settings = _settings(host, port, configure_logs=False)  # its output is the ACKs, nothing else
    messages = split_messages(file.read_text(encoding="utf-8"))
    try:
        answers = asyncio.run(_send(settings.mllp_host, settings.mllp_port, messages, timeout))
    except (OSError, asyncio.TimeoutError) as exc:
        raise StartupError(
            f"pas de réponse du serveur MLLP {settings.mllp_host}:{settings.mllp_port} : {exc or 'délai dépassé'}"
        ) from exc
    for answer in answers:
        typer.echo(answer.replace("\r", "\n").rstrip("\n"))
        typer.echo("")


def main() -> None:
    run_command(app)


if __name__ == "__main__":
    main()
