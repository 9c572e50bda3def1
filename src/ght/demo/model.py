"""What the synthetic-territory generator produces, as plain data.

The directory part (establishments, sites, units, professionals) is loaded into the
database by `ght.directory.seed`; persons, local identities and clinical resources are
written as files (see `ght.demo.writer`) for the identity server and the record to ingest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class FunctionalUnit:
    code: str  # UF code, unique within the establishment (4 digits, as in most French GAM)
    name: str
    specialty: str  # e.g. "Cardiologie"
    activity: str  # PMSI field: MCO, SSR, PSY, HAD, URG


@dataclass(frozen=True, slots=True)
class Site:
    finess_et: str  # FINESS géographique (9 characters, Luhn key)
    name: str
    commune_insee: str
    postcode: str
    city: str
    units: tuple[FunctionalUnit, ...]


@dataclass(frozen=True, slots=True)
class Establishment:
    finess_ej: str  # FINESS juridique
    name: str
    short_name: str
    role: str  # "support" or "partie"
    sites: tuple[Site, ...]  # the first site is the main one


@dataclass(frozen=True, slots=True)
class Exercise:
    """Where a professional works: an establishment, optionally a unit of one of its sites."""

    finess_ej: str
    site_finess_et: str | None = None
    uf_code: str | None = None


@dataclass(frozen=True, slots=True)
class Professional:
    rpps: str | None  # 11 digits, Luhn key
    adeli: str | None  # 9 characters
    family_name: str
    given_name: str
    profession: str  # code of ght.directory.vocab.PROFESSIONS, e.g. "medecin", "infirmier"
    specialty: str | None  # e.g. "Cardiologie", None when not applicable
    external: bool  # GP, home nurse... outside the group's establishments
    exercises: tuple[Exercise, ...] = field(default=())
    # Suggested account role, a ght.directory.vocab.Role value (DIM physician, identity
    # vigilance...): the profession alone does not tell it.
    role: str | None = None
    # The GHT directory's identifier when there is no RPPS or ADELI (DAC coordinators).
    directory_id: str | None = None


@dataclass(slots=True)
class Territory:
    establishments: list[Establishment]
    professionals: list[Professional]
    person_count: int
    identity_count: int
    files: dict[str, int]  # file name (relative to the output folder) -> number of records
    seed: int
    generated_on: date
