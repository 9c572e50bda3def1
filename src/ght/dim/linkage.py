"""Attaching each stay to its GHT patient through the identity server.

An RSS carries no IPP: the establishment's DIM sends with it the correspondence of its stays
(N° administratif de séjour → IPP, and the patient's traits when it has them). A stay is
linked by its IPP at the establishment (the identity server's local identity, following
merges); failing that, by its traits (birth name, first given name, birth date, sex) when
exactly one GHT patient of the group bears them; otherwise it stays unlinked (counted).

ATIH's anonymous chaining key is read from the output of ATIH's own tools (a file N° de
séjour → key): its hashing is not public and is never imitated here."""

from __future__ import annotations

import csv
import io
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from ght.identity.models import GhtPatient, LocalIdentity
from ght.identity.normalise import first_given_name, rniv_name
from ght.dim.parser import Report

CHAINING_KEY_LENGTH = 17


class Traits(NamedTuple):
    ipp: str
    birth_name: str = ""
    first_given_name: str = ""


def _rows(data: bytes, name: str, report: Report, columns: tuple[str, ...]):
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text), delimiter=";")
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header[:len(columns)]] != list(columns):
        report.add(1, name, f"en-tête « {';'.join(columns)} » attendu")
        return
    for number, row in enumerate(reader, 2):
        if row:
            yield number, [cell.strip() for cell in row]


def read_correspondence(data: bytes, report: Report) -> dict[str, Traits]:
    """`nas;ipp[;nom;prenom]` (CSV, ';'), one line per stay."""
    found: dict[str, Traits] = {}
    for number, row in _rows(data, "Correspondance séjour-IPP", report, ("nas", "ipp")):
        if len(row) < 2 or not row[0] or not row[1]:
            report.add(number, "Correspondance séjour-IPP", "N° de séjour et IPP obligatoires")
            continue
        found[row[0]] = Traits(row[1], *(row[2:4] + ["", ""])[:2])
    return found


def read_chaining_keys(data: bytes, report: Report) -> dict[str, str]:
    """`nas;cle` from the output of ATIH's anonymisation tools (17 characters a key)."""
    found: dict[str, str] = {}
    for number, row in _rows(data, "Clés de chaînage ATIH", report, ("nas", "cle")):
        if len(row) < 2 or len(row[1]) != CHAINING_KEY_LENGTH:
            report.add(number, "Clés de chaînage ATIH", f"clé de {CHAINING_KEY_LENGTH} caractères attendue")
            continue
        found[row[0]] = row[1]
    return found


class Linker:
    """The GHT patient of an establishment's IPPs (one query), and by traits when needed."""

    def __init__(self, db: Session, establishment_id: int) -> None:
        self.db = db
        rows = db.execute(
            select(LocalIdentity.ipp, LocalIdentity.patient_id, GhtPatient.merged_into)
            .join(GhtPatient, GhtPatient.id == LocalIdentity.patient_id)
            .where(LocalIdentity.establishment_id == establishment_id))
        self.by_ipp = {ipp: merged or patient for ipp, patient, merged in rows}
        self._traits: dict[tuple, str | None] = {}

    def link(self, traits: Traits | None, birth_date, sex: str) -> tuple[str | None, str | None]:
        """(GHT patient id, method: "ipp" or "traits") or (None, None)."""
        if traits is None:
            return None, None
        found = self.by_ipp.get(traits.ipp)
        if found:
            return found, "ipp"
        if not traits.birth_name or not traits.first_given_name:
            return None, None
        key = (rniv_name(traits.birth_name), first_given_name(traits.first_given_name), birth_date, sex)
        if key not in self._traits:
            candidates = set(self.db.scalars(
                select(LocalIdentity.patient_id).where(
                    LocalIdentity.birth_name == key[0], LocalIdentity.first_given_name == key[1],
                    LocalIdentity.birth_date == birth_date, LocalIdentity.sex == {"1": "M", "2": "F"}.get(sex, "U"))))
            self._traits[key] = candidates.pop() if len(candidates) == 1 else None
        patient = self._traits[key]
        return (patient, "traits") if patient else (None, None)
