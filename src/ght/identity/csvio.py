"""The identity CSV contract of `ght identity link` and its checks, with line numbers."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from itertools import islice
from pathlib import Path

from ght.db.bulk import without_cyclic_gc
from ght.identity.rules import frozen_instances
from ght.identity.service import IdentityInput

INPUT_COLUMNS = (
    "source", "local_id", "birth_name", "used_name", "given_names", "birth_date", "sex",
    "birth_place", "ins", "address", "postcode", "city", "phone",
)
OUTPUT_COLUMNS = ("source", "local_id", "patient_id", "decision")


class CsvProblem(ValueError):
    """Errors found in an input file, each with its line and column (French)."""

    def __init__(self, path: Path, problems: list[str], total: int) -> None:
        shown = "\n".join(f"  {p}" for p in problems)
        more = f"\n  … et {total - len(problems)} autre(s)" if total > len(problems) else ""
        super().__init__(f"{path} : {total} erreur(s), rien n'a été lié :\n{shown}{more}")


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    data: IdentityInput


# Rows read and checked at a time: columns that stay in the processor caches (measured: 1,000
# rows a chunk read a million in 3.5 s, 50,000 in 7 s).
_CHUNK = 1_000
_WIDTH = len(INPUT_COLUMNS)
# The IdentityInput field of each column.
_FIELDS = {"source": "finess", "local_id": "ipp"}


def read_identities(path: Path, *, max_problems: int = 20) -> list[Row]:
    """Every row of the file, checked; the whole file is refused if any row is wrong.

    Read a chunk of rows at a time, column by column; at the first problem, the file is read
    again row by row (_problems) for the messages, in the order and number they have always had."""
    rows: list[Row] = []
    seen: set[tuple[str, str]] = set()
    dates: dict[str, date | None] = {}
    with without_cyclic_gc(), path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        _check_header(path, next(reader, None))
        line = 2  # of the next record: records are counted, as they always were, not physical lines
        while records := list(islice(reader, _CHUNK)):
            chunk = _checked_chunk(records, line, seen, dates)
            if chunk is None:
                break
            rows += chunk
            line += len(records)
        else:
            return rows
    problems, total = _problems(path, max_problems)
    raise CsvProblem(path, problems, total)


def _check_header(path: Path, header: list[str] | None) -> None:
    if header is None:
        raise CsvProblem(path, ["ligne 1 : fichier vide (en-tête attendu)"], 1)
    header = [h.strip() for h in header]
    if tuple(header) != INPUT_COLUMNS:
        raise CsvProblem(path, [f"ligne 1 : en-tête attendu « {','.join(INPUT_COLUMNS)} », reçu « {','.join(header)} »"], 1)


def _birth_date(value: str) -> date | None:
    """The date of a (stripped) birth_date value; ValueError when it is not one."""
    return date.fromisoformat(value) if value else None


def _sex_ok(value: str) -> bool:
    return not value or value.upper() in ("M", "F", "U")


def _birth_dates(values: list[str], dates: dict[str, date | None]) -> list[date | None]:
    """The dates of `values`, each distinct one parsed once (a few tens of thousands in a file)."""
    try:
        return list(map(dates.__getitem__, values))
    except KeyError:  # some not met yet
        dates.update((value, _birth_date(value)) for value in values if value not in dates)
        return list(map(dates.__getitem__, values))


def _checked_chunk(records: list[list[str]], first_line: int, seen: set[tuple[str, str]],
                   dates: dict[str, date | None]) -> list[Row] | None:
    """The rows of `records` (the first on `first_line`), or None if any has a problem; `seen`
    (identity keys) and `dates` (each distinct birth_date parsed once) go on from chunk to chunk."""
    lines: range | list[int] = range(first_line, first_line + len(records))
    if not all(records):  # empty lines are skipped, and counted
        lines = [line for line, values in zip(lines, records) if values]
        records = [values for values in records if values]
    if not records:
        return []
    if set(map(len, records)) != {_WIDTH}:
        return None
    columns = {name: list(map(str.strip, values)) for name, values in zip(INPUT_COLUMNS, zip(*records))}
    if "" in columns["source"] or "" in columns["local_id"] or not all(map(_sex_ok, set(columns["sex"]))):
        return None
    try:
        columns["birth_date"] = _birth_dates(columns["birth_date"], dates)
    except ValueError:
        return None
    before = len(seen)
    seen.update(zip(columns["source"], columns["local_id"]))
    if len(seen) != before + len(records):  # a key already seen, in this chunk or before
        return None
    data = frozen_instances(IdentityInput, len(records), {_FIELDS.get(name, name): values for name, values in columns.items()})
    return frozen_instances(Row, len(records), {"line": lines, "data": data})


def _problems(path: Path, max_problems: int) -> tuple[list[str], int]:
    """The problems of the file, row by row: the first `max_problems` of them, and their number."""
    problems: list[str] = []
    total = 0
    seen: dict[tuple[str, str], int] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        next(reader)  # the header, checked
        for line, values in enumerate(reader, start=2):
            for problem in _row_problems(line, values, seen):
                total += 1
                if len(problems) < max_problems:
                    problems.append(problem)
    return problems, total


def _row_problems(line: int, values: list[str], seen: dict[tuple[str, str], int]) -> Iterator[str]:
    if not values:
        return
    if len(values) != _WIDTH:
        yield f"ligne {line} : {len(values)} colonnes au lieu de {_WIDTH}"
        return
    record = dict(zip(INPUT_COLUMNS, (v.strip() for v in values), strict=True))
    for column in ("source", "local_id"):
        if not record[column]:
            yield f"ligne {line}, colonne {column} : valeur obligatoire absente"
    try:
        _birth_date(record["birth_date"])
    except ValueError:
        yield f"ligne {line}, colonne birth_date : date invalide « {record['birth_date']} » (AAAA-MM-JJ attendu)"
    if not _sex_ok(record["sex"]):
        yield f"ligne {line}, colonne sex : « {record['sex']} » au lieu de M, F ou U"
    key = (record["source"], record["local_id"])
    if key in seen:
        yield f"ligne {line} : identité {key[0]}/{key[1]} déjà présente ligne {seen[key]}"
    seen[key] = line


def write_links(path: Path, results: Iterator[tuple[str, str, str, str]]) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(OUTPUT_COLUMNS)
        for row in results:
            writer.writerow(row)
            count += 1
    return count
