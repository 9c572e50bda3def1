"""Fast bulk insert for initial loads (hundreds of thousands of rows): COPY on PostgreSQL,
a plain DBAPI executemany on SQLite. Values go through each column's own SQLAlchemy bind
processor first, so they are stored exactly as an ORM insert would store them."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, Table


def _converters(table: Table, columns: list[str], dialect):
    return [table.c[name].type._cached_bind_processor(dialect) for name in columns]


def bulk_insert(connection: Connection, table: Table, rows: list[dict], chunk: int = 50_000) -> None:
    if not rows:
        return
    columns = list(rows[0])
    # Python-side defaults (default=...) that an ORM insert would apply, evaluated once per call.
    defaults = {
        column.name: (column.default.arg(None) if column.default.is_callable else column.default.arg)
        for column in table.columns
        if column.name not in columns and column.default is not None and not column.default.is_sequence
    }
    if defaults:
        rows = [{**row, **defaults} for row in rows]
        columns += list(defaults)
    dialect = connection.dialect
    converters = _converters(table, columns, dialect)

    def tuples(part: Iterable[dict]):
        for row in part:
            yield tuple(
                convert(row[name]) if convert and row[name] is not None else row[name]
                for name, convert in zip(columns, converters, strict=True)
            )

    quoted = ", ".join(dialect.identifier_preparer.quote(name) for name in columns)
    name = dialect.identifier_preparer.format_table(table)
    if dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {name} ({quoted}) FROM STDIN") as copy:
            for values in tuples(rows):
                copy.write_row(values)
        autoincrement = table.autoincrement_column
        if autoincrement is not None and autoincrement.name in columns:
            # Ids given explicitly do not advance the column's sequence: move it past them,
            # or the next ordinary insert would collide.
            connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{autoincrement.name}'), "
                f"(SELECT max({autoincrement.name}) FROM {name}))"
            )
        return
    statement = f"INSERT INTO {name} ({quoted}) VALUES ({', '.join('?' for _ in columns)})"
    for start in range(0, len(rows), chunk):
        connection.exec_driver_sql(statement, list(tuples(rows[start:start + chunk])))
