"""Bulk data `$export` (FHIR Bulk Data Access IG 2.0, asynchronous request pattern).

    kick-off  GET|POST /fhir/$export, /fhir/Patient/$export, /fhir/Group/<FINESS>/$export
              Prefer: respond-async  ->  202, Content-Location: <status URL>
    status    GET    /fhir/$export-status/<job>  -> 202 + X-Progress | 200 manifest | 500 failed
              DELETE /fhir/$export-status/<job>  -> 202 (cancelled, files removed)
    files     GET    /fhir/$export-file/<job>/<Type>-<n>.ndjson (bearer token of the requester)

Group id = the FINESS (EJ, or ET of one of its sites) of an establishment: its patients.
Only the account that asked polls, downloads and cancels (others get 404, as for a job that is
not there). Asking needs an explicit grant to every patient's record (ght.access.grants, given by
the DPO for analytics); the job still writes only what the access policy lets the requester see,
resource by resource, and traces it patient by patient (door "export").
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.orm import Session

from ght.access.gate import Gate
from ght.access.subject import subject_of_account
from ght.access.policy import Decision
from ght.api.deps import get_db, make_gate, require_bearer
from ght.audit.trail import Action, Door, Purpose
from ght.auth.models import AuthSession
from ght.directory.models import Account
from ght.interop.fhir.http import PREFIX, read_resource_body, respond
from ght.interop.fhir.outcome import error, information
from ght.record import export
from ght.record.export_models import ACCEPTED, CANCELLED, COMPLETED, RUNNING, BulkExportJob
from ght.record.search import date_bounds

EXPORTERS = require_bearer
NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = (NDJSON, "application/ndjson", "ndjson")  # the IG's accepted spellings
KNOWN_UNSUPPORTED = ("_elements", "patient", "includeAssociatedData", "_typeFilter")

router = APIRouter(prefix=PREFIX, tags=["FHIR export en masse"])


def install(app: FastAPI) -> None:
    root = app.state.settings.var_dir / "bulk-export"
    engine, rules = app.state.engine, app.state.access_rules

    def gate_for(db: Session, account_id: int) -> _ExportGate:
        subject = subject_of_account(db.get(Account, account_id))
        return _ExportGate(Gate(engine, db, subject, Door.EXPORT, rules=rules))

    app.state.bulk_exports = export.BulkExports(engine, root, app.state.ght_oid, gate_for)
    try:
        export.recover_interrupted(app.state.engine, root)
    except Exception:  # noqa: BLE001 - a database without the job table yet must not stop the app
        export.log.warning("bulk export recovery skipped", exc_info=True)
    app.include_router(router)


class _ExportGate:
    """The requester's gate, deciding on exports (ght.record.export.ExportGate)."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def keep(self, rows: list) -> list:
        return self.gate.keep(Action.EXPORT, rows)

    def flush(self) -> None:
        self.gate.flush()


# ------------------------------------------------------------------------------ kick-off


async def _parameters(request: Request) -> list[tuple[str, str]]:
    """The kick-off parameters: the query string, and for POST a Parameters resource."""
    items = list(request.query_params.multi_items())
    if request.method == "POST" and request.headers.get("content-length", "0") != "0":
        body = await read_resource_body(request)
        if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
            raise error(400, "structure", "une ressource Parameters est attendue")
        for parameter in body.get("parameter") or []:
            values = [v for k, v in parameter.items() if k.startswith("value") and isinstance(v, str)]
            if not isinstance(parameter.get("name"), str) or len(values) != 1:
                raise error(400, "value", "chaque paramètre doit avoir un nom et une valeur (valueString, "
                                          "valueInstant...)", "Parameters.parameter")
            items.append((parameter["name"], values[0]))
    return items


def _options(items: list[tuple[str, str]], lenient: bool) -> tuple[list[str] | None, object]:
    types: list[str] = []
    since = None
    for name, value in items:
        if name == "_type":
            types += [t.strip() for t in value.split(",") if t.strip()]
        elif name == "_since":
            since = date_bounds(value, "_since")[0]
        elif name == "_outputFormat":
            if value not in OUTPUT_FORMATS:
                raise error(400, "not-supported", f"_outputFormat « {value} » non pris en charge : {NDJSON} seulement",
                            "_outputFormat")
        elif name in KNOWN_UNSUPPORTED:
            if not lenient:
                raise error(400, "not-supported", f"paramètre {name} non pris en charge", name)
        elif not lenient:
            raise error(400, "not-supported", f"paramètre inconnu : {name}", name)
    unknown = [t for t in types if t not in export.EXPORT_TYPES]
    if unknown:
        raise error(400, "value", f"_type : type(s) non pris en charge : {', '.join(unknown)}", "_type")
    return (list(dict.fromkeys(types)) or None), since


async def _kick_off(request: Request, db: Session, auth: AuthSession, level: str, group_id: str | None = None):
    gate = make_gate(request, auth, db, Door.EXPORT)
    if not gate.sees_all_records():
        # A bulk export is the record of a population: only under an explicit grant to every
        # patient's record (the DPO gives it, for analytics); each resource is decided again.
        gate.refuse(Action.EXPORT, Decision(False, Purpose.CARE, gate.subject.primary_role,
                                            "export en masse : habilitation explicite au dossier de tous les patients requise"),
                    None)
    prefer = request.headers.get("prefer", "")
    if "respond-async" not in prefer:
        raise error(400, "required", "l'export en masse est asynchrone : en-tête « Prefer: respond-async » requis")
    types, since = _options(await _parameters(request), "handling=lenient" in prefer)
    if level == "group" and export.group_establishment(db, group_id) is None:
        raise error(404, "not-found", f"Group/{group_id} inconnu : un groupe est un établissement du GHT (FINESS)")
    exports: export.BulkExports = request.app.state.bulk_exports
    job = BulkExportJob(id=export.new_job_id(), status=ACCEPTED, level=level, group_id=group_id, types=types,
                        since=since, request_url=str(request.url), account_id=auth.account.id,
                        worker=exports.worker, progress="")
    db.add(job)
    # The request itself is traced; the job traces what it exports, patient by patient.
    gate.note(Action.EXPORT, Decision(True, Purpose.CARE, gate.subject.primary_role,
                                      f"export en masse {level} demandé (habilitation au dossier de tous les patients)"),
              None, [f"$export/{job.id}"])
    gate.flush(db)
    db.commit()
    exports.submit(job.id)
    return respond(information(f"export accepté ({job.id})"), 202,
                   {"Content-Location": _url(request, f"$export-status/{job.id}")})


def _url(request: Request, path: str) -> str:
    return str(request.base_url).rstrip("/") + f"{PREFIX}/{path}"


async def system_export(request: Request, db: Session = Depends(get_db), auth: AuthSession = Depends(EXPORTERS)):
    return await _kick_off(request, db, auth, "system")


async def patient_export(request: Request, db: Session = Depends(get_db), auth: AuthSession = Depends(EXPORTERS)):
    return await _kick_off(request, db, auth, "patient")


async def group_export(group_id: str, request: Request, db: Session = Depends(get_db),
                       auth: AuthSession = Depends(EXPORTERS)):
    return await _kick_off(request, db, auth, "group", group_id)


# GET and POST each get their own OpenAPI operation id (one route with both methods would share it).
for _path, _endpoint, _summary in (
    ("/$export", system_export, "Export en masse du système (asynchrone)"),
    ("/Patient/$export", patient_export, "Export en masse des patients (asynchrone)"),
    ("/Group/{group_id}/$export", group_export, "Export en masse des patients d'un établissement (Group = FINESS, asynchrone)"),
):
    for _method in ("GET", "POST"):
        router.add_api_route(_path, _endpoint, methods=[_method], summary=_summary,
                             operation_id=f"{_endpoint.__name__}_{_method.lower()}")


# ------------------------------------------------------------------------------ status, files


def _job(db: Session, job_id: str, auth: AuthSession) -> BulkExportJob:
    job = db.get(BulkExportJob, job_id)
    if job is None or job.account_id != auth.account.id or job.status == CANCELLED:
        raise error(404, "not-found", f"export {job_id} inconnu (terminé puis supprimé, annulé, ou d'un autre compte)")
    return job


@router.get("/$export-status/{job_id}", summary="État d'un export en masse")
def status(job_id: str, request: Request, db: Session = Depends(get_db), auth: AuthSession = Depends(EXPORTERS)):
    job = _job(db, job_id, auth)
    if job.status in (ACCEPTED, RUNNING):
        progress = "en attente" if job.status == ACCEPTED else f"en cours : {job.progress or 'début'}"
        return respond(None, 202, {"X-Progress": progress, "Retry-After": "2"})
    if job.status != COMPLETED:  # failed
        raise error(500, "exception", job.error or "échec de l'export")
    return JSONResponse({
        "transactionTime": job.transaction_time.isoformat(timespec="milliseconds"),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [{"type": o["type"], "url": _url(request, f"$export-file/{job.id}/{o['file']}"), "count": o["count"]}
                   for o in job.output or []],
        "error": [],
    })


@router.delete("/$export-status/{job_id}", summary="Annuler ou supprimer un export en masse")
def cancel(job_id: str, request: Request, db: Session = Depends(get_db), auth: AuthSession = Depends(EXPORTERS)):
    job = _job(db, job_id, auth)
    exports: export.BulkExports = request.app.state.bulk_exports
    if job.status in (ACCEPTED, RUNNING) and job_id in exports.cancels:
        job.status = CANCELLED  # its thread removes the files and the job when it sees it
        db.commit()
        exports.cancel(job_id)
    else:
        db.rollback()
        exports.remove(job_id)
    return respond(information(f"export {job_id} annulé et supprimé"), 202)


@router.get("/$export-file/{job_id}/{name}", summary="Fichier NDJSON d'un export en masse")
def download(job_id: str, name: str, request: Request, db: Session = Depends(get_db),
             auth: AuthSession = Depends(EXPORTERS)):
    job = _job(db, job_id, auth)
    if job.status != COMPLETED or name not in {o["file"] for o in job.output or []}:
        raise error(404, "not-found", f"fichier {name} inconnu pour l'export {job_id}")
    path = export.job_dir(request.app.state.bulk_exports.root, job_id) / name
    if not path.is_file():
        raise error(404, "not-found", f"fichier {name} supprimé du serveur")
    # What the file holds was decided and traced per patient when the job wrote it; its
    # download is traced too (who took the file, from where).
    gate = make_gate(request, auth, db, Door.EXPORT)
    gate.note(Action.EXPORT, Decision(True, Purpose.CARE, gate.subject.primary_role, "téléchargement d'un export"),
              None, [f"$export/{job_id}/{name}"])
    gate.flush(db)
    db.commit()
    return FileResponse(path, media_type=NDJSON)
