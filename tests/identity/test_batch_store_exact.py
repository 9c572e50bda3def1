"""The batch's fast storing path (rows built as tuples, raw DBAPI executemany or COPY, patient
ids drawn in bulk) stores exactly what SQLAlchemy Core inserts of the same rows as dicts store:
same tables, same rows, same stored values, on each backend."""

from datetime import UTC, datetime
from itertools import count

from sqlalchemy import insert

import ght.identity.batch as batch
from ght.demo import GeneratorConfig, generate
from ght.identity.csvio import read_identities
from ght.identity.patient_ids import is_valid_patient_id, new_patient_ids

# Loaded by the batch, children first (for deleting between the two runs).
TABLES = ("review_item", "blocking_key", "identity_features", "link_event", "identity_change",
          "local_identity", "ght_patient")
SERIAL = {"review_item", "link_event", "identity_change"}  # ids from a sequence


def _reference_insert(connection, table, rows, chunk=50_000, *, constants=None, columns=None):
    """The plain way: one Core insert of dicts, every default and bind processor SQLAlchemy's."""
    if not rows:
        return
    if columns is not None:
        rows = [dict(zip(columns, row, strict=True)) for row in rows]
    connection.execute(insert(table), [{**row, **(constants or {})} for row in rows])


def _stored(db) -> dict[str, list[tuple]]:
    connection = db.connection()
    stored = {}
    for name in TABLES:
        cursor = connection.exec_driver_sql(f"SELECT * FROM {name}")
        columns = [c[0] for c in cursor.cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        if name in SERIAL:  # compared in id order, without the sequence's own numbers
            rows.sort(key=lambda r: r["id"])
            rows = [{k: v for k, v in r.items() if k != "id"} for r in rows]
        stored[name] = sorted(repr(sorted(r.items())) for r in rows) if name not in SERIAL else \
            [repr(sorted(r.items())) for r in rows]
    return stored


def test_fast_store_equals_core_inserts(db, tmp_path, monkeypatch):
    generate(GeneratorConfig(patients=400, seed=11, clinical=False), tmp_path)
    path = tmp_path / "identities.csv"
    rows = read_identities(path)
    now = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
    monkeypatch.setattr(batch, "utcnow", lambda: now)
    ids = new_patient_ids(len(rows))

    def run(insert_function):
        drawn = count()
        monkeypatch.setattr(batch, "new_patient_ids", lambda n: [ids[next(drawn)] for _ in range(n)])
        monkeypatch.setattr(batch, "bulk_insert", insert_function)
        patient_ids, linkage, _ = batch.link_rows(db, path, rows, actor="test", register_unknown=True, train=False)
        db.flush()
        stored = _stored(db)
        for name in (*TABLES, "match_model"):  # the model is stored by the ORM on both runs
            db.connection().exec_driver_sql(f"DELETE FROM {name}")
        return patient_ids, linkage.decisions, stored

    fast = run(batch.bulk_insert)
    reference = run(_reference_insert)
    assert fast[:2] == reference[:2]
    for name in TABLES:
        assert fast[2][name] == reference[2][name], name
    assert sum(map(len, fast[2].values())) > 5 * len(rows)


def test_patient_ids_in_bulk_are_valid_distinct_and_uniform():
    ids = new_patient_ids(20_000)
    assert len(set(ids)) == len(ids) and all(map(is_valid_patient_id, ids))
    characters = "".join(i[:11] for i in ids)
    expected = len(characters) / 36
    counts = [characters.count(c) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
    assert max(abs(c - expected) for c in counts) < 0.05 * expected
    assert new_patient_ids(0) == []
