"""Bulk `$export` end to end on a real server over a loaded demo territory: kick-off, polling,
manifest, NDJSON downloads at the system, patient and group levels; `_type`, `_since`, POST
Parameters; the errors of the kick-off; cancellation; a job interrupted by a restart."""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import func, select

from ght.config import Settings
from ght.demo.bootstrap import generate_and_load, load_identities
from ght.directory.models import Account, Establishment
from ght.directory.seed import DEMO_PASSWORD
from ght.identity.models import GhtPatient, LocalIdentity
from ght.record import export, store
from ght.record.export_models import RUNNING, BulkExportJob
from ght.record.loader import load
from ght.record.models import Resource
from support import grant_record

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


def token(http, username: str) -> str:
    answer = http.post("/auth/token", data={"username": username, "password": DEMO_PASSWORD})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


@pytest.fixture
def world(live_server, engine, db, tmp_path):
    """A generated territory (directory, demo accounts, identities, record) and the DIM's client."""
    demo = tmp_path / "demo"
    generate_and_load(Settings(database_url=str(engine.url), var_dir=demo), patients=25, seed=11,
                      out_dir=demo / "territory", load=True, engine=engine)
    load_identities(engine, demo / "territory")
    load(engine, [demo / "territory" / "fhir"])
    grant_record(db, db.scalar(select(Account).where(Account.username == "dim")))  # an analytics export
    with live_server.client() as http:
        http.headers["Authorization"] = f"Bearer {token(http, 'dim')}"
        yield http


def kick_off(http, path: str, method: str = "GET", headers: dict | None = None, **kwargs) -> str:
    answer = http.request(method, path, headers={**ASYNC, **(headers or {})}, **kwargs)
    assert answer.status_code == 202, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"
    return answer.headers["content-location"]


def finished(http, status_url: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = http.get(status_url)
        if answer.status_code == 200:
            return answer.json()
        assert answer.status_code == 202, answer.text
        assert answer.headers["x-progress"]
        time.sleep(0.1)
    raise AssertionError("the export did not finish")


def downloaded(http, manifest: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for item in manifest["output"]:
        answer = http.get(item["url"])
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/fhir+ndjson"
        lines = [orjson.loads(line) for line in answer.content.splitlines()]
        assert len(lines) == item["count"] and all(r["resourceType"] == item["type"] for r in lines)
        found.setdefault(item["type"], []).extend(lines)
    return found


def stored_ids(db, resource_type: str, *where) -> set[str]:
    return set(db.scalars(select(Resource.fhir_id).where(Resource.resource_type == resource_type, *where)))


def test_system_export(world, db):
    http = world
    status_url = kick_off(http, "/fhir/$export")
    manifest = finished(http, status_url)
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    assert manifest["request"].endswith("/fhir/$export")
    assert datetime.fromisoformat(manifest["transactionTime"]) <= datetime.now(UTC)
    exported = downloaded(http, manifest)

    stored = dict(db.execute(select(Resource.resource_type, func.count()).group_by(Resource.resource_type)).all())
    assert {t: len(v) for t, v in exported.items() if t != "Patient"} == stored
    assert "Practitioner" in stored and "Endpoint" in stored
    assert {r["id"] for r in exported["Observation"]} == stored_ids(db, "Observation")
    identities = db.scalars(select(LocalIdentity.id)).all()
    patients = db.scalars(select(GhtPatient.id)).all()
    assert sorted(r["id"] for r in exported["Patient"]) == sorted([str(i) for i in identities] + patients)
    local = next(r for r in exported["Patient"] if r["id"].isdigit())
    assert local["meta"]["source"].startswith("urn:finess:") and local["identifier"]

    # Files are the requester's only, with a token.
    assert http.get(manifest["output"][0]["url"], headers={"Authorization": ""}).status_code == 401


def test_patient_and_group_exports(world, db):
    http = world
    manifest = finished(http, kick_off(http, "/fhir/Patient/$export"))
    exported = downloaded(http, manifest)
    assert "Practitioner" not in exported and "Organization" not in exported  # outside the compartment
    assert {r["id"] for r in exported["Encounter"]} == stored_ids(db, "Encounter")

    establishment = db.scalars(select(Establishment).order_by(Establishment.finess_ej)).first()
    members = set(db.scalars(select(LocalIdentity.patient_id).where(LocalIdentity.establishment_id == establishment.id)))
    assert members and len(members) < len(db.scalars(select(GhtPatient.id)).all())
    manifest = finished(http, kick_off(http, f"/fhir/Group/{establishment.finess_ej}/$export"))
    assert manifest["request"].endswith(f"/fhir/Group/{establishment.finess_ej}/$export")
    exported = downloaded(http, manifest)
    assert {r["id"] for r in exported["Patient"] if not r["id"].isdigit()} == members
    local = {r["id"] for r in exported["Patient"] if r["id"].isdigit()}
    assert local == {str(i) for i in db.scalars(select(LocalIdentity.id).where(LocalIdentity.patient_id.in_(members)))}
    for resource_type in ("Observation", "Encounter", "DocumentReference"):
        # Their territory-wide record: from every establishment, not only the group's.
        assert {r["id"] for r in exported.get(resource_type, [])} == \
            stored_ids(db, resource_type, Resource.ght_patient_id.in_(members))
    assert "Practitioner" not in exported


def test_type_and_since_filters_and_post_parameters(world, db):
    http = world
    manifest = finished(http, kick_off(http, "/fhir/$export", params={"_type": "Observation,Encounter",
                                                                     "_outputFormat": "application/fhir+ndjson"}))
    assert sorted(Counter(o["type"] for o in manifest["output"])) == ["Encounter", "Observation"]

    since = datetime.now(UTC)
    time.sleep(0.01)
    changed = db.scalar(select(Resource).where(Resource.resource_type == "Observation").limit(1))
    body = {**changed.body, "status": "amended"}
    store.update(db, body, changed.fhir_id, store.WriteContext(actor="test"))
    db.commit()
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "_since", "valueInstant": since.isoformat()}, {"name": "_type", "valueString": "Observation"},
        {"name": "_outputFormat", "valueString": "ndjson"}]}
    manifest = finished(http, kick_off(http, "/fhir/$export", "POST", json=parameters,
                                       headers={"Content-Type": "application/fhir+json"}))
    exported = downloaded(http, manifest)
    assert [r["id"] for r in exported["Observation"]] == [changed.fhir_id]
    assert exported["Observation"][0]["status"] == "amended" and exported["Observation"][0]["meta"]["versionId"] == "2"


def test_kick_off_errors(world, live_server):
    http = world
    answer = http.get("/fhir/$export")
    assert answer.status_code == 400 and "respond-async" in answer.json()["issue"][0]["diagnostics"]
    for params in ({"_outputFormat": "text/csv"}, {"_type": "Spaceship"}, {"_since": "hier"}, {"_elements": "id"},
                   {"bogus": "1"}):
        answer = http.get("/fhir/$export", params=params, headers=ASYNC)
        assert answer.status_code == 400, params
        assert answer.json()["resourceType"] == "OperationOutcome"
    assert http.get("/fhir/Group/999999999/$export", headers=ASYNC).status_code == 404
    assert http.get("/fhir/$export-status/nope").status_code == 404
    with live_server.client() as other:
        other.headers["Authorization"] = f"Bearer {token(other, 'medecin')}"
        assert other.get("/fhir/$export", headers=ASYNC).status_code == 403


def test_cancel_and_delete(world, db):
    http = world
    status_url = kick_off(http, "/fhir/$export")
    assert http.delete(status_url).status_code == 202
    assert http.get(status_url).status_code == 404

    status_url = kick_off(http, "/fhir/$export", params={"_type": "Practitioner"})
    manifest = finished(http, status_url)
    assert http.delete(status_url).status_code == 202
    assert http.get(status_url).status_code == 404
    assert http.get(manifest["output"][0]["url"]).status_code == 404
    deadline = time.monotonic() + 10  # the cancelled job's thread removes its row
    while db.scalar(select(func.count()).select_from(BulkExportJob)) and time.monotonic() < deadline:
        time.sleep(0.05)
        db.expire_all()
    assert db.scalar(select(func.count()).select_from(BulkExportJob)) == 0


def test_a_job_interrupted_by_a_restart_reads_as_failed(world, engine, db, settings):
    http = world
    status_url = kick_off(http, "/fhir/$export", params={"_type": "Practitioner"})
    finished(http, status_url)
    job_id = status_url.rsplit("/", 1)[1]
    job = db.get(BulkExportJob, job_id)
    job.status = RUNNING  # as if its server process had died during the export
    job.worker = f"{export.HOST}:{os.getpid()}:gone"
    elsewhere = BulkExportJob(id=export.new_job_id(), status=RUNNING, level="system", request_url="x",
                              account_id=job.account_id, worker="other-host:1:abc")  # another instance's
    db.add(elsewhere)
    db.commit()
    assert export.recover_interrupted(engine, settings.var_dir / "bulk-export") == 1
    db.expire_all()
    assert db.get(BulkExportJob, elsewhere.id).status == RUNNING
    answer = http.get(status_url)
    assert answer.status_code == 500
    assert answer.json()["issue"][0]["diagnostics"] == export.INTERRUPTED
    assert not (settings.var_dir / "bulk-export" / job_id).exists()
