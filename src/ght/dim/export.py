"""CSV and Parquet exports of the report's tables (what the viewer may see: masked for every
role but the DIM physician, ght.dim.analysis.masked)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ght.dim.analysis import Table


def csv_text(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow([c.label for c in table.columns])
    for row in table.rows:
        writer.writerow(["< 10" if v is None else v for v in row])
    return buffer.getvalue()


def write(tables: list[Table], folder: Path) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for table in tables:
        path = folder / f"{table.name}.csv"
        path.write_text(csv_text(table), encoding="utf-8")
        columns = {c.name: [row[i] for row in table.rows] for i, c in enumerate(table.columns)}
        pq.write_table(pa.table(columns) if table.rows else pa.table({c.name: pa.array([], pa.string())
                                                                      for c in table.columns}),
                       folder / f"{table.name}.parquet")
        written += [path, folder / f"{table.name}.parquet"]
    return written
