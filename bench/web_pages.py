"""Benchmark of the browser pages' server time (issue 6: every page ≤ 300 ms server time for a
patient with 2,000 resources), on the demo territory, in the same run for every page.

    .venv/bin/python bench/web_pages.py [--patients 400] [--resources 2000] [--runs 20]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

A demo territory is built as `make demo` builds it (`ght demo start`: generated, dated from
today, identities linked, record loaded) in a temporary folder, on SQLite by default or on a
new PostgreSQL database (dropped at the end). The patient of the browser tests is chosen (known
in three establishments, in `medecin`'s care team) and its record topped up to --resources
resources by copies of its own stays, results, reports, imaging and documents (new ids, dates
moved back a day per copy), loaded through the record's NDJSON loader as a hospital's export
would be. The real server (`ght serve`) then runs as a separate process; each page is asked
for by the account that uses it (logged in through the login form), twice to warm up, then
--runs times. Measured: the server's own time (the `Server-Timing: app;dur=` header, taken when
the answer starts: the page is rendered whole by then) and the wall time seen by the client,
medians and 95th percentiles, against the 300 ms limit.
"""

from __future__ import annotations

import argparse
import platform
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
import orjson  # noqa: E402
from rich.console import Console  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from ght.access.gate import SystemTrace  # noqa: E402
from ght.audit.trail import Door  # noqa: E402
from ght.config import Settings  # noqa: E402
from ght.db.engine import session_factory  # noqa: E402
from ght.db.scratch import scratch_database  # noqa: E402
from ght.demo import showcase  # noqa: E402
from ght.demo.bootstrap import SilentProgress, start_demo  # noqa: E402
from ght.directory.models import Establishment  # noqa: E402
from ght.directory.seed import DEMO_PASSWORD  # noqa: E402
from ght.identity.models import LocalIdentity, ReviewItem  # noqa: E402
from ght.record import loader  # noqa: E402
from ght.record.models import Resource  # noqa: E402
from record_api import free_port, run_server  # noqa: E402

LIMIT_MS = 300.0
COPIED_TYPES = ("Encounter", "Observation", "DiagnosticReport", "ImagingStudy", "DocumentReference")
_DATE = re.compile(rb'"(\d{4}-\d{2}-\d{2})')


# ------------------------------------------------------------------------------ the territory


def build_demo(work: Path, database_url: str, patients: int) -> tuple[Settings, object]:
    settings = Settings(database_url=database_url, var_dir=work, http_host="127.0.0.1", http_port=free_port(),
                        secret_key=secrets.token_hex(32))
    engine = start_demo(settings, patients=patients, seed=2026, progress_factory=SilentProgress,
                        console=Console(quiet=True))
    return settings, engine


def choose_patient(engine) -> str:
    """The browser tests' patient (ght.demo.showcase)."""
    patient = showcase.known_in_three(engine, "medecin")
    if patient is None:
        raise SystemExit("the demo territory has no patient known in three establishments in medecin's care team")
    return patient


def composition(engine, patient: str) -> dict[str, int]:
    """The patient's record: resources by type."""
    with session_factory(engine)() as db:
        return dict(db.execute(select(Resource.resource_type, func.count()).where(
            Resource.ght_patient_id == patient, Resource.deleted.is_(False)).group_by(Resource.resource_type)).all())


def resource_count(engine, patient: str) -> int:
    return sum(composition(engine, patient).values())


def _shifted(line: bytes, days: int) -> bytes:
    """Every date of the line `days` earlier (same time of day)."""
    return _DATE.sub(lambda m: b'"' + (date.fromisoformat(m.group(1).decode()) - timedelta(days=days))
                     .isoformat().encode(), line)


def top_up(engine, settings: Settings, patient: str, wanted: int, work: Path) -> int:
    """Copies of the patient's own clinical lines from the territory's NDJSON export until its
    record holds `wanted` resources; loaded by the record's loader (door cli, traced)."""
    with session_factory(engine)() as db:
        references = {f'"Patient/{finess}-{ipp}"'.encode() for finess, ipp in db.execute(
            select(Establishment.finess_ej, LocalIdentity.ipp).join(
                LocalIdentity, LocalIdentity.establishment_id == Establishment.id).where(
                LocalIdentity.patient_id == patient))}
    own = []
    for kind in COPIED_TYPES:
        path = settings.var_dir / "territory" / "fhir" / f"{kind}.ndjson"
        if path.exists():
            own += [line for line in path.read_bytes().splitlines() if any(r in line for r in references)]
    if not own:
        raise SystemExit(f"no clinical line of patient {patient} in the territory's export")
    missing = wanted - resource_count(engine, patient)
    out = work / "top-up"
    out.mkdir()
    lines: dict[str, list[bytes]] = {}
    for n in range(max(missing, 0)):
        body = orjson.loads(_shifted(own[n % len(own)], 1 + n // len(own)))
        body["id"] = f"bench-{n}"
        lines.setdefault(body["resourceType"], []).append(orjson.dumps(body))
    for kind, rows in lines.items():
        (out / f"{kind}.ndjson").write_bytes(b"\n".join(rows) + b"\n")
    if lines:
        loader.load(engine, [out], actor="bench web", trace=SystemTrace(Door.CLI, "cli:bench web"))
    return resource_count(engine, patient)


# ------------------------------------------------------------------------------ the server


def start_server(settings: Settings, log: Path) -> tuple[subprocess.Popen, str]:
    return run_server({"GHT_DATABASE_URL": settings.database_url, "GHT_VAR_DIR": str(settings.var_dir),
                       "GHT_SECRET_KEY": settings.secret_key, "GHT_LOG_LEVEL": "WARNING"}, log, settings.http_port)


def logged_in(base: str, username: str) -> httpx.Client:
    http = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    form = http.get("/").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = http.post("/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token})
    if answer.status_code != 303:
        raise SystemExit(f"login of {username}: HTTP {answer.status_code}")
    return http


# ------------------------------------------------------------------------------ the pages


@dataclass
class Page:
    name: str
    account: str
    path: str
    status: int = 200


def pages(engine, patient: str) -> list[Page]:
    with session_factory(engine)() as db:
        identity = db.scalars(select(LocalIdentity).where(LocalIdentity.patient_id == patient,
                                                          LocalIdentity.active.is_(True))).first()
        establishment = db.get(Establishment, identity.establishment_id)
        document = db.scalar(select(Resource.fhir_id).where(
            Resource.ght_patient_id == patient, Resource.resource_type == "DocumentReference").order_by(Resource.id))
        item = db.scalar(select(ReviewItem.id).where(ReviewItem.status == "open").order_by(ReviewItem.id))
    outside = showcase.outside_care_team(engine, "medecin")
    born = identity.birth_date.isoformat()
    year_ago = (date.today() - timedelta(days=365)).isoformat()
    found = [
        Page("accueil", "medecin", "/"),
        Page("recherche par nom et prénom", "medecin",
             f"/patients?nom={identity.birth_name}&prenom={identity.first_given_name}"),
        Page("recherche par IPP", "medecin", f"/patients?identifiant={identity.ipp}"),
        Page("recherche par date de naissance", "medecin", f"/patients?naissance={born}"),
        Page("dossier du patient (tout)", "medecin", f"/patients/{patient}"),
        Page("dossier : page 5 du parcours", "medecin", f"/patients/{patient}?page_number=5"),
        Page("dossier : tous les résultats de biologie", "medecin", f"/patients/{patient}?resultats=tous"),
        Page("dossier : résultats seulement", "medecin", f"/patients/{patient}?type=DiagnosticReport"),
        Page("dossier : un établissement, un an", "medecin",
             f"/patients/{patient}?source={establishment.id}&du={year_ago}"),
        Page("qui a consulté ce dossier", "medecin", f"/patients/{patient}/acces"),
        Page("hors de l'équipe de soins (refus, bris de glace proposé)", "medecin", f"/patients/{outside}", 403),
        Page("file de revue", "identitovigilance", "/identitovigilance"),
        Page("décisions", "identitovigilance", "/identitovigilance/decisions"),
        Page("doublons d'un établissement", "identitovigilance",
             f"/identitovigilance/doublons?finess={establishment.finess_ej}"),
        Page("identités du patient", "identitovigilance", f"/identitovigilance/patients/{patient}"),
        Page("tableau de bord DIM", "dim", "/dim"),
    ]
    if document:
        found.insert(8, Page("document (PDF)", "medecin", f"/patients/{patient}/documents/{document}"))
    if item:
        found.insert(-4, Page("paire à examiner", "identitovigilance", f"/identitovigilance/revue/{item}"))
    return found


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(base: str, chosen: list[Page], runs: int) -> list[dict]:
    clients: dict[str, httpx.Client] = {}
    results = []
    try:
        for page in chosen:
            http = clients.get(page.account) or clients.setdefault(page.account, logged_in(base, page.account))
            server, wall, size = [], [], 0
            for n in range(runs + 2):
                started = time.perf_counter()
                answer = http.get(page.path)
                elapsed = (time.perf_counter() - started) * 1000
                if answer.status_code != page.status:
                    raise SystemExit(f"{page.name} ({page.path}) as {page.account}: HTTP {answer.status_code}")
                if n >= 2:  # two to warm up
                    server.append(float(answer.headers["server-timing"].split("dur=")[1]))
                    wall.append(elapsed)
                    size = len(answer.content)
            results.append({"page": page, "server": statistics.median(server), "server_p95": _p95(server),
                            "wall": statistics.median(wall), "bytes": size})
    finally:
        for http in clients.values():
            http.close()
    return results


def report(results: list[dict], setup: dict) -> None:
    print(f"\n{datetime.now():%Y-%m-%d %H:%M}, {platform.machine()}, Python {platform.python_version()}, "
          f"{setup['backend']}; demo territory of {setup['persons']} persons; patient {setup['patient']} with "
          f"{setup['resources']}; {setup['runs']} runs per page after 2 to warm up\n")
    print("| page | account | server time, median | p95 | client wall time, median | size | limit | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        ratio = r["server_p95"] / LIMIT_MS
        print(f"| {r['page'].name} | {r['page'].account} | {r['server']:.1f} ms | {r['server_p95']:.1f} ms | "
              f"{r['wall']:.1f} ms | {r['bytes'] / 1024:.0f} KiB | {LIMIT_MS:.0f} ms | "
              f"{ratio:.2f}{'' if ratio <= 1 else ' (not met)'} |")
    worst = max(results, key=lambda r: r["server_p95"])
    print(f"\nslowest page: {worst['page'].name}, p95 {worst['server_p95']:.1f} ms "
          f"({worst['server_p95'] / LIMIT_MS:.2f} x the limit)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=400, help="persons of the demo territory")
    parser.add_argument("--resources", type=int, default=2000, help="resources of the measured patient's record")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--postgres", help="a PostgreSQL server URL: a new database there instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ght-bench-web-") as folder:
        work = Path(folder)
        if args.postgres:
            url, drop = scratch_database(args.postgres, "ght_bench_web")
        else:
            url, drop = f"sqlite:///{work / 'ght.db'}", None
        server = None
        try:
            started = time.perf_counter()
            settings, engine = build_demo(work, url, args.patients)
            patient = choose_patient(engine)
            resources = top_up(engine, settings, patient, args.resources, work)
            kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(composition(engine, patient).items()))
            chosen = pages(engine, patient)
            engine.dispose()
            print(f"set-up: {time.perf_counter() - started:.0f} s", file=sys.stderr)
            server, base = start_server(settings, work / "server.log")
            results = measure(base, chosen, args.runs)
            report(results, {"backend": "PostgreSQL" if args.postgres else "SQLite", "persons": args.patients,
                             "patient": patient, "resources": f"{resources} resources ({kinds})", "runs": args.runs})
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
            if drop is not None:
                drop()


if __name__ == "__main__":
    main()
