"""Reference tables of the generator (src/ght/demo/data/), loaded once per process.

- communes_49.tsv: communes of Maine-et-Loire (INSEE code, postcodes, name) from the
  Base Adresse Nationale postcode table (MIT licence), weighted by rounded population.
- communes_france.tsv: birth communes elsewhere (Paris arrondissements, big cities,
  Corsica 2A/2B, overseas départements), weighted by their share of births of residents.
- countries.tsv: INSEE country codes (99xxx) of persons born abroad, with ISO 3166 codes.
- surnames.tsv, given_names.tsv: uppercase names with diacritics as in civil records,
  weighted by frequency (given names per birth cohort and sex).
- streets.txt: street names for addresses.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import accumulate
from typing import Generic, TypeVar

T = TypeVar("T")


class Weighted(Generic[T]):
    """Weighted choice with a prebuilt cumulative table (faster than random.choices)."""

    __slots__ = ("items", "_cum", "_total")

    def __init__(self, items: list[T], weights: list[float]) -> None:
        if not items or len(items) != len(weights):
            raise ValueError("items and weights must be non-empty and of the same length")
        self.items = items
        self._cum = list(accumulate(weights))
        self._total = self._cum[-1]

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect_right(self._cum, rng.random() * self._total)]


@dataclass(frozen=True, slots=True)
class Commune:
    insee: str
    name: str
    postcodes: tuple[str, ...]
    weight: int


@dataclass(frozen=True, slots=True)
class Tables:
    communes: dict[str, Commune]  # territory (49), by INSEE code
    residence: Weighted[Commune]
    birth_local: Weighted[Commune]
    birth_france: Weighted[tuple[str, str]]  # (INSEE code, name)
    birth_abroad: Weighted[tuple[str, str]]  # (99xxx, country)
    country_iso3: dict[str, str]  # 99xxx -> ISO 3166 alpha-3
    surnames: Weighted[str]
    given: dict[tuple[int, str], Weighted[str]]  # (cohort start year, sex) -> names
    cohorts: tuple[int, ...]
    streets: tuple[str, ...]


def _rows(name: str) -> list[list[str]]:
    text = resources.files("ght.demo").joinpath("data", name).read_text(encoding="utf-8")
    lines = text.splitlines()
    return [line.split("\t") for line in lines[1:] if line]


@cache
def tables() -> Tables:
    communes = {
        insee: Commune(insee, name, tuple(postcodes.split()), int(weight))
        for insee, postcodes, name, weight in _rows("communes_49.tsv")
    }
    ordered = sorted(communes.values(), key=lambda c: c.insee)
    france = _rows("communes_france.tsv")
    abroad = _rows("countries.tsv")
    surnames = _rows("surnames.tsv")
    given: dict[tuple[int, str], tuple[list[str], list[float]]] = {}
    for cohort, sex, name, weight in _rows("given_names.tsv"):
        names, weights = given.setdefault((int(cohort), sex), ([], []))
        names.append(name)
        weights.append(float(weight))
    streets_text = resources.files("ght.demo").joinpath("data", "streets.txt").read_text("utf-8")
    return Tables(
        communes=communes,
        residence=Weighted(ordered, [c.weight for c in ordered]),
        # Births happen in maternity towns: big communes weigh more than their population.
        birth_local=Weighted(ordered, [c.weight**1.25 for c in ordered]),
        birth_france=Weighted([(r[0], r[1]) for r in france], [float(r[2]) for r in france]),
        birth_abroad=Weighted([(r[0], r[1]) for r in abroad], [float(r[2]) for r in abroad]),
        country_iso3={r[0]: r[3] for r in abroad},
        surnames=Weighted([r[0] for r in surnames], [float(r[1]) for r in surnames]),
        given={key: Weighted(names, weights) for key, (names, weights) in given.items()},
        cohorts=tuple(sorted({cohort for cohort, _ in given})),
        streets=tuple(line for line in streets_text.splitlines() if line),
    )


@cache
def _cohort_by_year() -> dict[int, int]:
    starts = tables().cohorts
    return {year: max((s for s in starts if s <= year), default=starts[0])
            for year in range(1850, 2200)}


def cohort_of(year: int) -> int:
    """The given-name cohort of a birth year."""
    return _cohort_by_year()[year]
