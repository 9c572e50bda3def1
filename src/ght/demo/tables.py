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


# The 261 commonest French surnames are borne by about 3 % of the population (their counts
# in surnames.tsv over 67 million); the other 97 % share over a million rarer names. Without
# that tail, one person in ten would be a MARTIN: homonyms everywhere and blocking keys of
# thousands. The listed names keep their national weight, and a synthetic tail of surname-like
# names (a stem of a listed name + a French ending) takes the rest, with a mild Zipf slope.
TOP_SURNAMES_SHARE = 0.05  # a little above the national 3 %: a territory is less mixed
_ENDINGS = (
    "AUD", "AULT", "AUX", "EAU", "ET", "ETTE", "IN", "INE", "OT", "OTTE", "IER", "IÈRE", "ON",
    "ARD", "EL", "ELLE", "OUX", "ERT", "AIS", "ANT", "ENS", "AC", "AT", "OIS", "OU", "Y", "IE",
    "ÉE", "É", "ÈS", "ERON", "ILLON", "OUARD", "AGNE", "ESSE", "IGNY", "ELIN", "ASSE", "ERET", "ONNET",
)


def _surnames_with_tail(top: list[tuple[str, float]]) -> Weighted[str]:
    listed = {name for name, _ in top}
    stems = sorted({name[:k] for name, _ in top if name.isalpha() for k in (3, 4, 5, 6) if len(name) > k + 1})
    tail = sorted({stem + ending for stem in stems for ending in _ENDINGS} - listed)
    top_total = sum(weight for _, weight in top)
    tail_total = top_total * (1 - TOP_SURNAMES_SHARE) / TOP_SURNAMES_SHARE
    # Deterministic but shuffled ranks (sorted order would favour the alphabet's start).
    ranks = sorted(range(len(tail)), key=lambda i: hash_rank(tail[i]))
    shape = [1.0 / (rank + 2000) for rank in range(len(tail))]
    scale = tail_total / sum(shape)
    weights = [0.0] * len(tail)
    for rank, index in enumerate(ranks):
        weights[index] = shape[rank] * scale
    return Weighted([n for n, _ in top] + tail, [w for _, w in top] + weights)


def hash_rank(name: str) -> int:
    """A stable pseudo-random rank for a name (Python's str hash is salted per process)."""
    value = 0
    for char in name:
        value = (value * 1_000_003 + ord(char)) % 2_147_483_647
    return value


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
        surnames=_surnames_with_tail([(r[0], float(r[1])) for r in surnames]),
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
