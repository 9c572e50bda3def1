"""True persons: traits as in the civil register, and their NIR.

Each person is drawn from its own RNG, derived from (seed, person index), so that a
person does not depend on how persons are split between processes. What spans persons
(true homonym pairs, NIR uniqueness) is planned here, in index order, before the
per-person work starts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from stdnum.fr.nir import calc_check_digits

from ght.demo.tables import Weighted, cohort_of, tables

# Streams of person_rng. A person draws its traits, then its local identities, then its
# clinical records from one RNG, in that order: the identity files do not depend on whether
# (or how much) clinical data is generated.
STREAM_PERSON = 1
STREAM_PLAN = 7
STREAM_IPP = 4
STREAM_CARE_TEAM = 2  # ght.demo.care_teams
STREAM_PMSI = 5  # ght.demo.pmsi


class FastRandom(random.Random):
    """random.Random with integer draws that cost one C call (randrange/randint are Python
    code several layers deep, and the generator makes millions of draws)."""

    def below(self, n: int) -> int:
        """Uniform in [0, n)."""
        return int(self.random() * n)

    def between(self, a: int, b: int) -> int:
        """Uniform in [a, b]."""
        return a + int(self.random() * (b - a + 1))


def person_rng(seed: int, index: int, stream: int) -> FastRandom:
    return FastRandom((seed << 40) + (index << 3) + stream)


# Age pyramid of the persons a territory's hospitals know (resident pyramid weighted by
# hospital use: births, and the elderly, are over-represented). (from, to, weight).
_AGES = Weighted(
    [(0, 1), (1, 5), (5, 15), (15, 25), (25, 35), (35, 45), (45, 55), (55, 65), (65, 75),
     (75, 85), (85, 95), (95, 104)],
    [3.0, 3.5, 6.0, 8.0, 10.0, 10.0, 11.0, 12.0, 13.0, 12.0, 7.0, 1.0],
)
_GIVEN_COUNT_OLD = Weighted([1, 2, 3, 4], [15, 40, 38, 7])  # born before 1960
_GIVEN_COUNT_MID = Weighted([1, 2, 3, 4], [25, 45, 27, 3])
_GIVEN_COUNT_NEW = Weighted([1, 2, 3, 4], [30, 45, 22, 3])  # born 2000 or later


def _woman_probability(age: int) -> float:
    if age < 15:
        return 0.49
    if age < 45:
        return 0.58  # maternity
    if age < 75:
        return 0.50
    if age < 85:
        return 0.56
    return 0.66


def _married_name_probability(age: int) -> float:
    """Share of women using their spouse's name, by age (fewer in younger cohorts)."""
    if age < 23:
        return 0.0
    if age < 30:
        return 0.25
    if age < 45:
        return 0.45
    if age < 65:
        return 0.60
    return 0.70


@dataclass(slots=True)
class TruePerson:
    index: int
    person_id: str
    sex: str  # "M" or "F"
    birth_date: date
    birth_name: str
    used_name: str  # the spouse's name for married women who use it, else the birth name
    given_names: tuple[str, ...]  # in civil-register order, the first may be compound
    birth_place: str  # INSEE code: commune (49007, 2A004, 97209) or country (99350)
    birth_place_name: str
    nir_place: str  # the place as written in the NIR (20xxx for Corsica before 1976)
    nir_order: int
    nir: str  # 15 characters with key
    address: str
    postcode: str
    city: str
    commune_insee: str
    phone: str  # "" when unknown
    homonym_of: str = ""  # person_id of the true homonym, if any

    @property
    def nir13(self) -> str:
        return self.nir[:13]


@dataclass(frozen=True, slots=True)
class Forced:
    """Traits copied from another person to make a true homonym."""

    sex: str
    birth_date: date
    birth_name: str
    first_given: str


def _nir(sex: str, birth: date, nir_place: str, order: int) -> str:
    nir13 = _Core(sex, birth, "", "", nir_place, order).nir13
    # stdnum's key (97 - n mod 97, Corsica 2A -> 19, 2B -> 18) without its input cleaning.
    return nir13 + calc_check_digits(nir13)


def _nir_place(birth_place: str, year: int) -> str:
    # The NIR keeps the département of the day of birth: Corsica was 20 until 1976.
    if birth_place[:2] in ("2A", "2B") and year < 1976:
        return "20" + birth_place[2:]
    return birth_place


class _Core(NamedTuple):
    """The draws that decide the NIR, made first so that the plan can make them alone."""

    sex: str
    birth: date
    birth_place: str
    birth_place_name: str
    nir_place: str
    order: int

    @property
    def nir13(self) -> str:
        sex = "1" if self.sex == "M" else "2"
        return f"{sex}{self.birth.year % 100:02d}{self.birth.month:02d}{self.nir_place}{self.order:03d}"


def _draw_core(rng: FastRandom, as_of: date, forced: Forced | None) -> _Core:
    t = tables()
    if forced is None:
        lo, hi = _AGES.pick(rng)
        birth = date.fromordinal(as_of.toordinal() - 1 - int(rng.uniform(lo, hi) * 365.2425))
        sex = "F" if rng.random() < _woman_probability((as_of - birth).days // 365) else "M"
    else:
        sex, birth = forced.sex, forced.birth_date
    age = (as_of - birth).days // 365
    draw = rng.random()
    abroad = 0.10 if 25 <= age < 75 else 0.05
    if draw < abroad:
        birth_place, birth_place_name = t.birth_abroad.pick(rng)
    elif draw < abroad + 0.20:
        birth_place, birth_place_name = t.birth_france.pick(rng)
    else:
        commune = t.birth_local.pick(rng)
        birth_place, birth_place_name = commune.insee, commune.name
    # Order numbers follow the births registered in the commune in the month: small
    # communes only have small numbers.
    if birth_place.startswith("99"):
        max_order = 999
    else:
        weight = t.communes[birth_place].weight if birth_place in t.communes else 60_000
        max_order = min(999, max(3, weight // 150))
    order = rng.between(1, max_order)
    return _Core(sex, birth, birth_place, birth_place_name, _nir_place(birth_place, birth.year),
                 order)


def nir13_of(seed: int, index: int, as_of: date, forced: Forced | None = None) -> str:
    """The NIR (without key) make_person gives, drawing only what decides it."""
    return _draw_core(person_rng(seed, index, STREAM_PERSON), as_of, forced).nir13


def make_person(seed: int, index: int, as_of: date, forced: Forced | None = None,
                order: int | None = None) -> TruePerson:
    """The person of this index; `order` overrides the NIR order number (see plan_persons)."""
    return make_person_rng(seed, index, as_of, forced, order)[0]


def make_person_rng(seed: int, index: int, as_of: date, forced: Forced | None = None,
                    order: int | None = None) -> tuple[TruePerson, FastRandom]:
    """The person, and the person's RNG to draw the rest of its records from."""
    t = tables()
    rng = person_rng(seed, index, STREAM_PERSON)
    core = _draw_core(rng, as_of, forced)
    sex, birth = core.sex, core.birth
    age = (as_of - birth).days // 365
    if forced is None:
        birth_name = t.surnames.pick(rng)
        if birth.year >= 2005 and rng.random() < 0.08:
            # Double family name allowed since 2005 (the father's and the mother's).
            other = t.surnames.pick(rng)
            if other != birth_name:
                birth_name = f"{birth_name} {other}"
    else:
        birth_name = forced.birth_name

    cohort = cohort_of(birth.year)
    given_table = t.given[(cohort, sex)]
    first = forced.first_given if forced else given_table.pick(rng)
    counts = (_GIVEN_COUNT_OLD if birth.year < 1960
              else _GIVEN_COUNT_NEW if birth.year >= 2000 else _GIVEN_COUNT_MID)
    wanted = counts.pick(rng)
    given = [first]
    older = t.given[(cohort_of(birth.year - 30), sex)]
    attempts = 0
    while len(given) < wanted and attempts < 12:
        attempts += 1
        if sex == "F" and len(given) == 1 and birth.year < 1990 and rng.random() < 0.25:
            name = "MARIE"
        else:
            name = (older if rng.random() < 0.5 else given_table).pick(rng)
        if name not in given and name not in first.split("-"):
            given.append(name)

    used_name = birth_name
    if sex == "F" and rng.random() < _married_name_probability(age):
        spouse = t.surnames.pick(rng)
        if spouse != birth_name:
            used_name = spouse

    home = t.residence.pick(rng)
    street = t.streets[rng.below(len(t.streets))]
    address = f"{rng.between(1, 120)} {street}"
    postcode = home.postcodes[rng.below(len(home.postcodes))]
    phone_draw = rng.random()
    if phone_draw < 0.62:
        phone = f"0{'67'[rng.below(2)]}{rng.below(10**8):08d}"
    elif phone_draw < 0.92:
        phone = f"02{rng.between(40, 53)}{rng.below(10**6):06d}"
    else:
        phone = ""
    nir_order = core.order if order is None else order

    person = TruePerson(
        index=index,
        person_id=person_id(index),
        sex=sex,
        birth_date=birth,
        birth_name=birth_name,
        used_name=used_name,
        given_names=tuple(given),
        birth_place=core.birth_place,
        birth_place_name=core.birth_place_name,
        nir_place=core.nir_place,
        nir_order=nir_order,
        nir=_nir(sex, birth, core.nir_place, nir_order),
        address=address,
        postcode=postcode,
        city=home.name,
        commune_insee=home.insee,
        phone=phone,
    )
    return person, rng


def plan_homonyms(seed: int, patients: int, pairs: int) -> list[tuple[int, int]]:
    """Pairs (model, copy) of person indexes: the copy takes the model's homonym traits."""
    if pairs == 0:
        return []
    rng = person_rng(seed, 0, STREAM_PLAN)
    chosen = rng.sample(range(patients), 2 * pairs)
    return sorted((min(a, b), max(a, b)) for a, b in zip(chosen[::2], chosen[1::2], strict=True))


@dataclass(frozen=True, slots=True)
class PersonPlan:
    """What a person's draws alone cannot decide: homonym copies and NIR order fixes."""

    forced: dict[int, Forced]  # copy index -> traits of its model
    homonym_of: dict[int, str]  # index -> person_id of the other person of the pair
    orders: dict[int, int]  # index -> NIR order number replacing the drawn one

    def subset(self, start: int, stop: int) -> PersonPlan:
        """The part of the plan about persons [start, stop), to ship to a worker."""
        return PersonPlan(
            {i: f for i, f in self.forced.items() if start <= i < stop},
            {i: p for i, p in self.homonym_of.items() if start <= i < stop},
            {i: o for i, o in self.orders.items() if start <= i < stop},
        )

    def person(self, seed: int, index: int, as_of: date) -> tuple[TruePerson, FastRandom]:
        """The person and its RNG, positioned after the traits: the records draw from it."""
        person, rng = make_person_rng(seed, index, as_of, self.forced.get(index),
                                      self.orders.get(index))
        person.homonym_of = self.homonym_of.get(index, "")
        return person, rng


def person_id(index: int) -> str:
    return f"P{index + 1:07d}"


def nir13s(seed: int, indexes: range, as_of: date) -> list[str]:
    return [nir13_of(seed, i, as_of) for i in indexes]


def plan_persons(seed: int, as_of: date, nirs: list[str],
                 homonyms: list[tuple[int, int]]) -> PersonPlan:
    """The plan from every person's drawn NIR (index order) and the homonym pairs."""
    forced: dict[int, Forced] = {}
    homonym_of: dict[int, str] = {}
    for model_index, copy_index in homonyms:
        model = make_person(seed, model_index, as_of)
        forced[copy_index] = Forced(model.sex, model.birth_date, model.birth_name,
                                    model.given_names[0])
        nirs[copy_index] = nir13_of(seed, copy_index, as_of, forced[copy_index])
        homonym_of[model_index] = person_id(copy_index)
        homonym_of[copy_index] = person_id(model_index)
    orders: dict[int, int] = {}
    seen: set[str] = set()
    for index, nir13 in enumerate(nirs):
        if nir13 in seen:
            # Same sex, month and place drew the same order number: take the next free one.
            order = int(nir13[10:13])
            while nir13 in seen:
                order = order % 999 + 1
                nir13 = f"{nir13[:10]}{order:03d}"
            orders[index] = order
        seen.add(nir13)
    return PersonPlan(forced, homonym_of, orders)
