"""Creating many new resources at once, for bulk loads.

The same rows as `store.create`, made by the store's own steps (extract, patient_of,
source_of, with_meta, index_rows), but inserted a batch at a time: one executemany (COPY on
PostgreSQL) per table instead of about ten statements per resource, most of the cost of a load.
Only for resources known not to exist (the caller checks); updates go through store.update.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import JSON, insert, select, text
from sqlalchemy.orm import Session

from ght.db.base import utcnow
from ght.directory.models import Establishment
from ght.identity import queries as identity_queries
from ght.record import store
from ght.record.indexing import extract
from ght.record.models import Resource, ResourceVersion


@dataclass(frozen=True, slots=True)
class Prepared:
    row: dict  # fhir_resource values
    extracted: object


class SourceCache:
    """store.source_of depends only on meta.source, the patient's establishment and the writer's:
    remembered for a batch, it saves two queries per resource."""

    def __init__(self) -> None:
        self.known: dict[tuple, store.Source] = {}
        self.establishments: list[Establishment] | None = None

    def source(self, db: Session, body: dict, compartment: store.Compartment,
               context: store.WriteContext) -> store.Source:
        key = ((body.get("meta") or {}).get("source"), compartment.establishment_id, context.establishment_id)
        if key not in self.known:
            if self.establishments is None:
                # The GHT's few establishments in one query, held here so that they stay in the
                # session's identity map: source_of's lookups by id then cost no query (a batch
                # spread over the territory asked one per establishment).
                self.establishments = list(db.scalars(select(Establishment)))
            self.known[key] = store.source_of(db, body, compartment, context)
        return self.known[key]


def prepare(db: Session, body: dict, fhir_id: str, context: store.WriteContext, sources: SourceCache, *,
            extracted=None, places: dict | None = None) -> Prepared:
    """What store.create would write for `body`; raises its FhirError (unknown patient or source).
    `extracted` and `places` when the caller has them already (see prepare_all)."""
    resource_type = body["resourceType"]
    extracted = extracted if extracted is not None else extract(body)
    compartment = store.patient_of(db, extracted, resource_type, body, places)
    store.attach_binaries(db, body, compartment)
    source = sources.source(db, body, compartment, context)
    context.check("create", resource_type, fhir_id, compartment, source.establishment_id, body, None)
    at = utcnow()
    stored = store.with_meta(body, fhir_id, 1, at, source)
    return Prepared(dict(resource_type=resource_type, fhir_id=fhir_id, version=1, last_updated=at, deleted=False,
                         ght_patient_id=compartment.ght_patient_id,
                         local_identity_id=compartment.local_identity_id,
                         source_establishment_id=source.establishment_id, body=stored), extracted)


def places_for(db: Session, bodies: list[dict]) -> tuple[list, dict]:
    """(extracted index values of each body, the places of every local identity they name):
    one query for the patients of a whole batch instead of one per resource."""
    extracted = [extract(body) for body in bodies]
    wanted = [i for body, e in zip(bodies, extracted, strict=True)
              for i in store.patient_references(body["resourceType"], e)]
    return extracted, identity_queries.places_of_identities(db, wanted) if wanted else {}


def insert_all(db: Session, prepared: list[Prepared]) -> None:
    """Insert prepared resources, their first version and their index rows."""
    if not prepared:
        return
    # Core inserts (the tables, not the ORM classes): nothing here needs the unit of work.
    ids = _insert_resources(db, [p.row for p in prepared])
    versions = [dict(resource_id=resource_id, version=1, resource_type=p.row["resource_type"],
                     last_updated=p.row["last_updated"], method="POST", deleted=False, body=p.row["body"])
                for resource_id, p in zip(ids, prepared, strict=True)]
    _insert_rows(db, ResourceVersion.__table__, versions)
    tables: dict[type, list[dict]] = {}
    for resource_id, p in zip(ids, prepared, strict=True):
        for table, rows in store.index_rows(resource_id, p.row["resource_type"], p.extracted).items():
            tables.setdefault(table, []).extend(rows)
    for table, rows in tables.items():
        if rows:
            _insert_rows(db, table.__table__, rows)


def _insert_resources(db: Session, rows: list[dict]) -> list[int]:
    """Insert fhir_resource rows; their ids, in order. On PostgreSQL the ids are drawn from the
    table's sequence first, then the rows go by COPY like the others (a multi-row INSERT ...
    RETURNING costs the driver a parse of the whole statement text for every batch)."""
    resources = Resource.__table__
    if db.get_bind().dialect.name != "postgresql":
        return list(db.execute(insert(resources).returning(resources.c.id, sort_by_parameter_order=True),
                               rows).scalars().all())
    ids = list(db.execute(text("SELECT nextval(pg_get_serial_sequence('fhir_resource', 'id')) "
                               "FROM generate_series(1, :n)"), {"n": len(rows)}).scalars().all())
    _insert_rows(db, resources, [{"id": i, **row} for i, row in zip(ids, rows, strict=True)])
    return ids


def _insert_rows(db: Session, table, rows: list[dict]) -> None:
    """Many rows of one table, in the session's transaction. On PostgreSQL by COPY: psycopg's
    executemany sends one INSERT per row, and the index rows are ten times as many as the
    resources. Elsewhere an executemany (SQLite's is a loop in C)."""
    if db.get_bind().dialect.name != "postgresql":
        db.execute(insert(table), rows)
        return
    from psycopg.types.json import Jsonb

    columns = list(rows[0])
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    cursor = db.connection().connection.driver_connection.cursor()
    try:
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([Jsonb(row[c]) if c in json_columns else row[c] for c in columns])
    finally:
        cursor.close()
