"""Loading NDJSON into the shared record: a generated demo territory (counts, Patient references
rewritten to the identity server's local identities, an idempotent re-run) and the CLI's
line-numbered error that keeps what came before."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from ght.config import Settings
from ght.demo.bootstrap import generate_and_load, load_identities
from ght.directory.models import Establishment
from ght.identity import service
from ght.identity.models import LocalIdentity
from ght.record.loader import LoadError, load
from ght.record.models import ReferenceIndex, Resource, ResourceVersion
from support import add_establishments, marie

CHU, CH = "490000031", "490000049"


def load_territory(engine, directory: Path, patients: int = 30) -> Path:
    """A generated territory with its directory, demo accounts and identities in the database."""
    settings = Settings(database_url=str(engine.url), var_dir=directory)
    generate_and_load(settings, patients=patients, seed=11, out_dir=directory / "territory", load=True, engine=engine)
    load_identities(engine, directory / "territory")
    return directory / "territory"


def lines_by_type(fhir_dir: Path) -> Counter:
    counts = Counter()
    for path in fhir_dir.glob("*.ndjson"):
        for raw in path.read_bytes().splitlines():
            counts[orjson.loads(raw)["resourceType"]] += 1
    return counts


def test_demo_territory_loads_with_rewritten_references_and_reruns_idempotently(engine, db, tmp_path):
    territory = load_territory(engine, tmp_path)
    expected = lines_by_type(territory / "fhir")
    seen = []
    result = load(engine, [territory / "fhir"], batch=200, progress=lambda done, total: seen.append((done, total)))

    assert result.patients_skipped == expected.pop("Patient")
    assert result.created == sum(expected.values()) and result.updated == result.unchanged == 0
    assert seen[-1] == (sum(expected.values()) + result.patients_skipped,) * 2
    stored = dict(db.execute(select(Resource.resource_type, func.count()).group_by(Resource.resource_type)).all())
    assert stored == dict(expected)

    # Every Patient reference now names a local identity; the resource sits in its GHT patient's compartment.
    targets = db.scalars(select(ReferenceIndex.target_id).where(ReferenceIndex.target_type == "Patient")).all()
    assert targets and all(t.isdigit() for t in targets)
    rows = list(csv.DictReader((territory / "identities.csv").open(encoding="utf-8")))
    sample = orjson.loads((territory / "fhir" / "Observation.ndjson").read_bytes().splitlines()[0])
    finess, ipp = sample["subject"]["reference"].removeprefix("Patient/").split("-", 1)
    assert any(r["source"] == finess and r["local_id"] == ipp for r in rows)
    identity = db.scalar(select(LocalIdentity).join(Establishment).where(
        Establishment.finess_ej == finess, LocalIdentity.ipp == ipp))
    observation = db.scalar(select(Resource).where(Resource.resource_type == "Observation",
                                                   Resource.fhir_id == sample["id"]))
    assert observation.body["subject"]["reference"] == f"Patient/{identity.id}"
    assert observation.local_identity_id == identity.id and observation.ght_patient_id == identity.patient_id
    assert observation.body["meta"]["source"] == f"urn:finess:{finess}" and observation.body["meta"]["versionId"] == "1"
    assert observation.body["valueQuantity"] == sample["valueQuantity"]  # the rest as sent
    practitioner = db.scalar(select(Resource).where(Resource.resource_type == "Practitioner").limit(1))
    assert practitioner.ght_patient_id is None and practitioner.body["meta"]["source"].startswith("urn:finess:")

    versions = db.scalar(select(func.count()).select_from(ResourceVersion))
    again = load(engine, [territory / "fhir"])
    assert again.created == again.updated == 0 and again.unchanged == sum(expected.values())
    assert db.scalar(select(func.count()).select_from(ResourceVersion)) == versions


# ------------------------------------------------------------------------------ errors


def observation(fhir_id: str, patient: str, **extra) -> bytes:
    return orjson.dumps({
        "resourceType": "Observation", "id": fhir_id, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
        "subject": {"reference": patient}, "effectiveDateTime": "2025-03-02T08:30:00+01:00", **extra})


@pytest.fixture
def marie_at_chu(db):
    add_establishments(db, CHU, CH)
    found = service.record_identity(db, marie(CHU), actor="t", channel="api")
    db.commit()
    return found


def test_a_faulty_line_stops_the_load_keeping_the_lines_before(engine, db, tmp_path, marie_at_chu):
    ours = f"Patient/{CHU}-100001"
    path = tmp_path / "Observation.ndjson"
    path.write_bytes(b"\n".join([
        observation("o1", ours), observation("o2", ours), observation("o3", ours),
        observation("o4", f"Patient/{CHU}-999"), observation("o5", ours)]) + b"\n")
    with pytest.raises(LoadError) as caught:
        load(engine, [path], batch=2)
    assert caught.value.line == 4 and caught.value.committed == 3
    assert str(caught.value) == (f"{path}:4 : patient inconnu : Patient/{CHU}-999 "
                                 f"(IPP 999 inconnu du serveur d'identité pour le FINESS {CHU})")
    stored = db.scalars(select(Resource.fhir_id).order_by(Resource.fhir_id)).all()
    assert stored == ["o1", "o2", "o3"]  # o3, in the failing batch, was replayed and kept

    path.write_bytes(b"\n".join([observation("o1", ours), observation("o2", ours, effectiveDateTime="hier")]) + b"\n")
    with pytest.raises(LoadError) as caught:
        load(engine, [path])
    assert caught.value.line == 2 and "(Observation.effectiveDateTime)" in caught.value.reason


def test_cli_loads_a_folder_and_reports_the_faulty_line(engine, db, database_url, tmp_path, marie_at_chu):
    folder = tmp_path / "ndjson"
    folder.mkdir()
    (folder / "Patient.ndjson").write_bytes(orjson.dumps({"resourceType": "Patient", "id": f"{CHU}-100001"}) + b"\n")
    (folder / "Observation.ndjson").write_bytes(observation("a1", f"Patient/{CHU}-100001") + b"\n")
    environment = {**os.environ, "GHT_DATABASE_URL": database_url, "GHT_LOG_JSON": "false"}
    run = [sys.executable, "-m", "ght", "record", "load"]
    done = subprocess.run([*run, str(folder)], capture_output=True, text=True, env=environment, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1 ressources chargées" in done.stdout and "1 créées" in done.stdout and "1 Patient ignorés" in done.stdout
    body = db.scalar(select(Resource.body).where(Resource.fhir_id == "a1"))
    assert body["subject"]["reference"] == f"Patient/{marie_at_chu.identity_id}"

    (folder / "Observation.ndjson").write_bytes(observation("a1", f"Patient/{CHU}-100001") + b"\n{not json\n")
    failed = subprocess.run([*run, str(folder)], capture_output=True, text=True, env=environment, timeout=120)
    assert failed.returncode == 2
    assert f"{folder / 'Observation.ndjson'}:2 : JSON illisible" in " ".join(failed.stderr.split())
    assert "Traceback" not in failed.stderr


def test_a_failed_multi_row_insert_falls_back_to_one_resource_at_a_time(engine, db, tmp_path, marie_at_chu,
                                                                        monkeypatch):
    from sqlalchemy.exc import OperationalError

    from ght.record import bulk_store

    def broken(*_):
        raise OperationalError("INSERT ...", {}, Exception("simulated"))

    monkeypatch.setattr(bulk_store, "insert_all", broken)
    path = tmp_path / "Observation.ndjson"
    path.write_bytes(b"\n".join(observation(f"b{i}", f"Patient/{CHU}-100001") for i in range(5)) + b"\n")
    result = load(engine, [path])
    assert result.created == 5
    assert db.scalar(select(func.count()).select_from(Resource)) == 5
