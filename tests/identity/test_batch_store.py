"""The batch load stores the identity base as the ORM would (bulk COPY on PostgreSQL, raw
executemany on SQLite): every table readable back, defaults applied, online linking works on it."""

import csv
from dataclasses import replace
from datetime import UTC

from sqlalchemy import func, select

from ght.demo import GeneratorConfig, generate
from ght.directory.models import Establishment
from ght.identity.batch import link_rows
from ght.identity.csvio import read_identities
from ght.identity.models import BlockingKey, GhtPatient, IdentityChange, LinkEvent, LocalIdentity, MatchModel
from ght.identity.service import record_identity


def test_batch_store_reads_back_and_serves_online_linking(db, tmp_path):
    generate(GeneratorConfig(patients=300, seed=5, clinical=False), tmp_path)
    path = tmp_path / "identities.csv"
    with path.open() as handle:
        sources = sorted({row["source"] for row in csv.DictReader(handle)})
    db.add_all(Establishment(finess_ej=f, name=f, short_name=f, role="partie") for f in sources)
    db.commit()
    rows = read_identities(path)
    patient_ids, linkage, _ = link_rows(db, path, rows, actor="test", register_unknown=False)
    db.commit()

    assert db.scalar(select(func.count()).select_from(LocalIdentity)) == len(rows)
    assert db.scalar(select(func.count()).select_from(GhtPatient)) == len(set(patient_ids))
    assert db.scalar(select(func.count()).select_from(IdentityChange)) == len(rows)
    assert db.scalar(select(func.count()).select_from(LinkEvent)) == len(rows)
    assert db.scalar(select(func.count()).select_from(BlockingKey)) > len(rows)
    assert db.scalar(select(MatchModel.method)) == "splink-em"
    first = db.scalar(select(LocalIdentity).order_by(LocalIdentity.id))
    assert (first.ipp, first.patient_id) == (rows[0].data.ipp, patient_ids[0])
    assert first.created_at.tzinfo == UTC and first.active is True and first.version == 1
    change = db.scalar(select(IdentityChange).where(IdentityChange.identity_id == first.id))
    assert change.snapshot["ipp"] == first.ipp and change.reference == "ligne 2"
    event = db.scalar(select(LinkEvent).where(LinkEvent.identity_id == first.id))
    assert event.details == {} and event.undone_by is None

    # A known person arriving again through a feed is linked to the patient the batch made.
    again = replace(rows[0].data, ipp="NEW-1")  # IdentityInput has slots, no __dict__
    result = record_identity(db, again, actor="test", channel="hl7")
    assert (result.decision, result.patient_id) == ("linked", patient_ids[0])
