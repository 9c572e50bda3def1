"""The Parquet mirror of the stored RUMs and acts that DuckDB reads (var/dim/): one pair of
files per imported file, named by FINESS and period, written to a temporary name and renamed,
so that a replaced period is swapped whole; `rebuild` writes them all again from the database."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, select

from ght.db.engine import session_factory
from ght.dim.models import DimAct, DimImport, DimRum
from ght.directory.models import Establishment

RUM_SCHEMA = pa.schema([
    ("import_id", pa.int32()), ("line", pa.int32()), ("rss", pa.string()), ("nas", pa.string()),
    ("rum", pa.string()), ("ipp", pa.string()), ("ght_patient_id", pa.string()), ("link_method", pa.string()),
    ("chaining_key", pa.string()), ("birth_date", pa.date32()), ("sex", pa.string()), ("um", pa.string()),
    ("entry_date", pa.date32()), ("entry_mode", pa.string()), ("provenance", pa.string()),
    ("exit_date", pa.date32()), ("exit_mode", pa.string()), ("destination", pa.string()),
    ("postcode", pa.string()), ("sessions", pa.int16()), ("dp", pa.string()), ("dr", pa.string()),
    ("das", pa.string()), ("ghm", pa.string()),
])
ACT_SCHEMA = pa.schema([
    ("import_id", pa.int32()), ("line", pa.int32()), ("position", pa.int16()), ("act_date", pa.date32()),
    ("code", pa.string()), ("phase", pa.string()), ("activity", pa.string()), ("executions", pa.int16()),
])
PLACE_COLUMNS = (("establishment_id", pa.int32()), ("establishment", pa.string()), ("site_id", pa.int32()),
                 ("finess", pa.string()))


def directory(var_dir: Path) -> Path:
    return Path(var_dir) / "dim"


def _table(schema: pa.Schema, rows: list[tuple], place: tuple) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    arrays = [pa.array(column, type=f.type) for column, f in zip(columns, schema, strict=True)]
    arrays += [pa.array([value] * len(rows), type=kind) for value, (_, kind) in zip(place, PLACE_COLUMNS, strict=True)]
    return pa.Table.from_arrays(arrays, schema=pa.schema(list(schema) + [pa.field(n, t) for n, t in PLACE_COLUMNS]))


def _write(table: pa.Table, path: Path) -> None:
    temporary = path.with_suffix(".tmp")
    pq.write_table(table, temporary, compression="zstd")
    os.replace(temporary, path)


def write_import(var_dir: Path, record: DimImport, establishment: Establishment,
                 rum_rows: list[tuple], act_rows: list[tuple]) -> None:
    folder = directory(var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    place = (establishment.id, establishment.short_name, record.site_id, record.finess)
    stem = f"{record.finess}-{record.year:04d}{record.month:02d}"
    _write(_table(RUM_SCHEMA, rum_rows, place), folder / f"{stem}.rum.parquet")
    _write(_table(ACT_SCHEMA, act_rows, place), folder / f"{stem}.act.parquet")


def rebuild(engine: Engine, var_dir: Path) -> int:
    """Write the mirror again from the database (after a restore, say); the number of files."""
    folder = directory(var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.parquet"):
        stale.unlink()
    count = 0
    with session_factory(engine)() as db:
        for record in db.scalars(select(DimImport)):
            rums = db.execute(select(*(DimRum.__table__.c[n] for n in RUM_SCHEMA.names))
                              .where(DimRum.import_id == record.id).order_by(DimRum.line)).all()
            acts = db.execute(select(*(DimAct.__table__.c[n] for n in ACT_SCHEMA.names))
                              .where(DimAct.import_id == record.id).order_by(DimAct.line, DimAct.position)).all()
            write_import(var_dir, record, db.get(Establishment, record.establishment_id),
                         [tuple(r) for r in rums], [tuple(a) for a in acts])
            count += 1
    return count
