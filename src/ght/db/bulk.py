"""Fast bulk insert for initial loads (hundreds of thousands of rows): COPY on PostgreSQL,
a plain DBAPI executemany on SQLite. Values go through each column's own SQLAlchemy bind
processor first, so they are stored exactly as an ORM insert would store them."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import repeat
from operator import itemgetter

from sqlalchemy import Connection, Date, Table

# SQLite page cache during a load, in KiB (negative: a size, not a page count). The default
# 2 MB makes every insert into a large table's indexes go through page recycling.
_LOAD_CACHE_KIB = 1_000_000


def _converters(table: Table, columns: list[str], dialect):
    return [table.c[name].type._cached_bind_processor(dialect) for name in columns]


def _converted(values: tuple, convert, repeats: bool) -> list:
    """A column's values through its bind processor (None stays None); `repeats`: convert
    each distinct value once (dates)."""
    if not repeats:
        return [None if value is None else convert(value) for value in values]
    distinct = {value: None if value is None else convert(value) for value in set(values)}
    return list(map(distinct.__getitem__, values))


def bulk_insert(connection: Connection, table: Table, rows: list, chunk: int = 50_000,
                *, constants: dict | None = None, columns: list[str] | None = None) -> None:
    """Insert `rows` (dicts with the same keys, or, when `columns` names them, tuples of those
    columns' values in that order: no dict to build and read back per row); `constants` are
    values shared by every row (a load's timestamp, actor...), converted once instead of once
    per row."""
    if not rows:
        return
    as_tuples = columns is not None
    columns = list(columns) if as_tuples else list(rows[0])
    shared = dict(constants or {})
    # Python-side defaults (default=...) that an ORM insert would apply, evaluated once per call.
    for column in table.columns:
        if column.name not in columns and column.name not in shared and column.default is not None \
                and not column.default.is_sequence:
            shared[column.name] = column.default.arg(None) if column.default.is_callable else column.default.arg
    dialect = connection.dialect
    converters = _converters(table, columns, dialect)
    tail = tuple(
        convert(value) if convert and value is not None else value
        for value, convert in zip(shared.values(), _converters(table, list(shared), dialect), strict=True)
    )
    all_columns = columns + list(shared)

    # Read every column at once (itemgetter runs in C); convert only the columns whose type
    # has a bind processor (dates, booleans, JSON...), most have none.
    if as_tuples:
        getter = tuple
    else:
        getter = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    converted = [(index, convert, isinstance(table.c[columns[index]].type, Date))
                 for index, convert in enumerate(converters) if convert]

    def tuples(part: list) -> Iterable[tuple]:
        if not converted:
            rows_ = part if as_tuples else map(getter, part)
            return (values + tail for values in rows_) if tail else rows_
        # Column by column: a date column (a load repeats its dates) converts each distinct
        # value once.
        by_column = list(zip(*(part if as_tuples else map(getter, part)), strict=True))
        for index, convert, repeats in converted:
            by_column[index] = _converted(by_column[index], convert, repeats)
        return zip(*by_column, *map(repeat, tail)) if tail else zip(*by_column, strict=True)

    quoted = ", ".join(dialect.identifier_preparer.quote(name) for name in all_columns)
    name = dialect.identifier_preparer.format_table(table)
    if dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {name} ({quoted}) FROM STDIN") as copy:
            for values in tuples(rows):
                copy.write_row(values)
        autoincrement = table.autoincrement_column
        if autoincrement is not None and autoincrement.name in all_columns:
            # Ids given explicitly do not advance the column's sequence: move it past them,
            # or the next ordinary insert would collide.
            connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{autoincrement.name}'), "
                f"(SELECT max({autoincrement.name}) FROM {name}))"
            )
        return
    statement = f"INSERT INTO {name} ({quoted}) VALUES ({', '.join('?' for _ in all_columns)})"
    cursor = connection.connection.driver_connection.cursor()
    try:
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            # The DBAPI cursor of the connection's transaction, without SQLAlchemy's per-call
            # bookkeeping: the same statement and parameters.
            cursor.executemany(statement, tuples(part))
    finally:
        cursor.close()


@contextmanager
def load_cache(connection: Connection) -> Iterator[None]:
    """On SQLite, a large page cache for the statements of a load (the default 2 MB makes
    every insert into a large index go through page recycling); nothing elsewhere."""
    if connection.dialect.name != "sqlite":
        yield
        return
    previous_cache = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{_LOAD_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(previous_cache)}")


@contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """Python's cyclic garbage collector paused during a load that builds millions of small
    containers (rows, values) none of which forms a cycle: each collection would walk them
    all again. Reference counting still frees them; the collector resumes afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def bulk_load(connection: Connection, tables: Iterable[Table]) -> Iterator[None]:
    """Around the bulk inserts of an initial load into empty tables: their secondary indexes
    are dropped, then built once from the loaded rows (a sort, instead of one B-tree insert per
    row), and on SQLite the page cache is enlarged for the load. All of it in the caller's
    transaction: a rollback restores the indexes. Primary keys and unique constraints stay, so
    every row is still checked as it arrives; nothing is made less durable."""
    tables = list(tables)
    indexes = [index for table in tables for index in sorted(table.indexes, key=lambda i: i.name or "")]
    with load_cache(connection):
        for index in indexes:
            index.drop(connection)
        yield
        for index in indexes:
            index.create(connection)
