"""The identity CSV contract of `ght identity link` and its checks, with line numbers."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

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


@dataclass(frozen=True)
class Row:
    line: int
    data: IdentityInput


def read_identities(path: Path, *, max_problems: int = 20) -> list[Row]:
    """Every row of the file, checked; the whole file is refused if any row is wrong."""
    rows: list[Row] = []
    problems: list[str] = []
    total = 0
    seen: dict[tuple[str, str], int] = {}

    def problem(text: str) -> None:
        nonlocal total
        total += 1
        if len(problems) < max_problems:
            problems.append(text)

    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise CsvProblem(path, ["ligne 1 : fichier vide (en-tête attendu)"], 1)
        header = [h.strip() for h in header]
        if tuple(header) != INPUT_COLUMNS:
            raise CsvProblem(path, [f"ligne 1 : en-tête attendu « {','.join(INPUT_COLUMNS)} », reçu « {','.join(header)} »"], 1)
        for line, values in enumerate(reader, start=2):
            if not values:
                continue
            if len(values) != len(INPUT_COLUMNS):
                problem(f"ligne {line} : {len(values)} colonnes au lieu de {len(INPUT_COLUMNS)}")
                continue
            record = dict(zip(INPUT_COLUMNS, (v.strip() for v in values), strict=True))
            for column in ("source", "local_id"):
                if not record[column]:
                    problem(f"ligne {line}, colonne {column} : valeur obligatoire absente")
            birth_date = None
            if record["birth_date"]:
                try:
                    birth_date = date.fromisoformat(record["birth_date"])
                except ValueError:
                    problem(f"ligne {line}, colonne birth_date : date invalide « {record['birth_date']} » (AAAA-MM-JJ attendu)")
            if record["sex"] and record["sex"].upper() not in ("M", "F", "U"):
                problem(f"ligne {line}, colonne sex : « {record['sex']} » au lieu de M, F ou U")
            key = (record["source"], record["local_id"])
            if key in seen:
                problem(f"ligne {line} : identité {key[0]}/{key[1]} déjà présente ligne {seen[key]}")
            seen[key] = line
            rows.append(Row(line, IdentityInput(
                finess=record["source"], ipp=record["local_id"], birth_name=record["birth_name"],
                used_name=record["used_name"], given_names=record["given_names"], birth_date=birth_date,
                sex=record["sex"], birth_place=record["birth_place"], ins=record["ins"],
                address=record["address"], postcode=record["postcode"], city=record["city"],
                phone=record["phone"],
            )))
    if total:
        raise CsvProblem(path, problems, total)
    return rows


def write_links(path: Path, results: Iterator[tuple[str, str, str, str]]) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(OUTPUT_COLUMNS)
        for row in results:
            writer.writerow(row)
            count += 1
    return count
