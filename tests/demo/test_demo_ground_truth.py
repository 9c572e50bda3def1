"""The generator's ground truth: error rates as configured, homonyms, establishments, IPP, INS."""

from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from ght.demo import ErrorCode, GeneratorConfig, IdentityErrorRates, generate
from ght.demo.records import build_est_contexts, has_accent, strip_accents
from ght.demo.territory import build_establishments, build_professionals
from ght.identity.ins import is_valid_nir

# High rates: a few thousand persons then measure each rate to about +-1 %.
HIGH_RATES = IdentityErrorRates(
    typo=0.15, accents_lost=0.30, day_month_swapped=0.20, married_name_as_birth_name=0.25,
    given_names_altered=0.20, ins_missing=0.30, provisional=0.10, duplicate=0.05,
)
PATIENTS = 4000
HOMONYM_PAIRS = 6


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


class Dataset:
    def __init__(self, out: Path, rates: IdentityErrorRates) -> None:
        self.out = out
        self.rates = rates
        self.identities = _read(out / "identities.csv")
        self.truth = _read(out / "ground_truth.csv")
        self.persons = {p["person_id"]: p for p in _read(out / "persons.csv")}
        self.by_key = {(r["source"], r["local_id"]): r for r in self.identities}

    def rows(self):
        """(ground truth row, recorded identity, true person) for every local identity."""
        for row in self.truth:
            yield row, self.by_key[(row["source"], row["local_id"])], self.persons[row["person_id"]]


def _generate(tmp_path_factory, name: str, rates: IdentityErrorRates, patients: int,
              seed: int) -> Dataset:
    out = tmp_path_factory.mktemp(name)
    generate(GeneratorConfig(patients=patients, seed=seed, rates=rates,
                             homonym_pairs=HOMONYM_PAIRS, clinical=False, workers=1), out)
    return Dataset(out, rates)


@pytest.fixture(scope="module")
def high(tmp_path_factory) -> Dataset:
    return _generate(tmp_path_factory, "high", HIGH_RATES, PATIENTS, seed=20250101)


@pytest.fixture(scope="module")
def default(tmp_path_factory) -> Dataset:
    return _generate(tmp_path_factory, "default", IdentityErrorRates(), PATIENTS, seed=7)


def _eligible(code: str, row: dict[str, str], person: dict[str, str]) -> bool:
    """Whether an identity could carry the error, from the TRUE person's traits."""
    if code == ErrorCode.ACCENTS_LOST:
        return any(has_accent(person[f]) for f in ("birth_name", "used_name", "given_names"))
    if code == ErrorCode.MARRIED_NAME_AS_BIRTH_NAME:
        return person["used_name"] != person["birth_name"]
    if code == ErrorCode.GIVEN_NAMES_ALTERED:
        given = person["given_names"].split(" ")
        return "-" in given[0] or len(given) >= 2
    if code == ErrorCode.DAY_MONTH_SWAPPED:
        _, month, day = map(int, person["birth_date"].split("-"))
        return day <= 12 and day != month
    if code == ErrorCode.INS_MISSING:
        return ErrorCode.PROVISIONAL not in row["errors"].split(";")
    return True  # typo, provisional


def _within(observed: int, n: int, p: float) -> tuple[bool, str]:
    """Binomial check: 4.5 standard deviations (a false alarm about once in 150,000 per
    rate), plus half a count for the rounding of small samples."""
    rate = observed / n
    tolerance = 4.5 * math.sqrt(p * (1 - p) / n) + 0.5 / n
    return abs(rate - p) <= tolerance, f"{observed}/{n} = {rate:.4f}, expected {p} +- {tolerance:.4f}"


PER_IDENTITY = [c for c in ErrorCode if c != ErrorCode.DUPLICATE]


@pytest.mark.parametrize("dataset_name", ["high", "default"])
@pytest.mark.parametrize("code", PER_IDENTITY, ids=str)
def test_error_rate_as_configured(request, dataset_name: str, code: ErrorCode) -> None:
    data: Dataset = request.getfixturevalue(dataset_name)
    eligible = observed = 0
    for row, _, person in data.rows():
        errors = row["errors"].split(";") if row["errors"] else []
        if _eligible(code, row, person):
            eligible += 1
            observed += code in errors
        else:
            assert code not in errors, (row, person)
    assert eligible > 300
    ok, detail = _within(observed, eligible, getattr(data.rates, code.value))
    assert ok, f"{code}: {detail}"


@pytest.mark.parametrize("dataset_name", ["high", "default"])
def test_duplicate_rate_as_configured(request, dataset_name: str) -> None:
    data: Dataset = request.getfixturevalue(dataset_name)
    with_duplicate = {row["person_id"] for row in data.truth if "duplicate" in row["errors"]}
    ok, detail = _within(len(with_duplicate), len(data.persons), data.rates.duplicate)
    assert ok, detail


def test_errors_are_visible_in_the_recorded_identity(high: Dataset) -> None:
    seen = Counter()
    for row, recorded, person in high.rows():
        errors = set(row["errors"].split(";")) - {""}
        seen.update(errors)
        names = (recorded["birth_name"], recorded["used_name"], recorded["given_names"])
        true_names = (person["birth_name"], person["used_name"], person["given_names"])
        if ErrorCode.ACCENTS_LOST in errors:
            assert not any(has_accent(n) for n in names)
        if ErrorCode.DAY_MONTH_SWAPPED in errors:
            y, m, d = person["birth_date"].split("-")
            assert recorded["birth_date"] == f"{y}-{d}-{m}"
        else:
            assert recorded["birth_date"] == person["birth_date"]
        if not errors & {ErrorCode.ACCENTS_LOST, ErrorCode.MARRIED_NAME_AS_BIRTH_NAME,
                         ErrorCode.GIVEN_NAMES_ALTERED, ErrorCode.TYPO}:
            assert names == true_names
        if ErrorCode.MARRIED_NAME_AS_BIRTH_NAME in errors and ErrorCode.TYPO not in errors:
            # The spouse's name, accents lost or not, in place of the birth name.
            assert strip_accents(recorded["birth_name"]) == strip_accents(person["used_name"])
            assert recorded["birth_name"] == recorded["used_name"]
        if ErrorCode.GIVEN_NAMES_ALTERED in errors and not errors & {ErrorCode.TYPO}:
            assert recorded["given_names"] != person["given_names"]
        if errors & {ErrorCode.TYPO} and not errors & {
                ErrorCode.ACCENTS_LOST, ErrorCode.MARRIED_NAME_AS_BIRTH_NAME,
                ErrorCode.GIVEN_NAMES_ALTERED}:
            assert names != true_names
        if ErrorCode.PROVISIONAL in errors:
            assert row["identity_status"] == "PROV"
        elif ErrorCode.INS_MISSING in errors:
            assert row["identity_status"] == "VALI" and recorded["ins"] == ""
        else:
            assert row["identity_status"] in ("QUAL", "RECUP") and recorded["ins"] == person["ins"]
    assert set(seen) == set(ErrorCode)


def test_every_identity_of_the_truth_is_in_identities_csv(high: Dataset) -> None:
    assert [(r["source"], r["local_id"]) for r in high.truth] == [
        (r["source"], r["local_id"]) for r in high.identities]
    assert set(high.persons) == {r["person_id"] for r in high.truth}
    assert len(high.persons) == PATIENTS


def test_identities_header_is_exact(high: Dataset) -> None:
    first = (high.out / "identities.csv").read_text(encoding="utf-8").split("\n", 1)[0]
    assert first == ("source,local_id,birth_name,used_name,given_names,birth_date,sex,"
                     "birth_place,ins,address,postcode,city,phone")


@pytest.mark.parametrize("dataset_name", ["high", "default"])
def test_each_person_at_one_to_three_establishments(request, dataset_name: str) -> None:
    data: Dataset = request.getfixturevalue(dataset_name)
    establishments = defaultdict(set)
    for row in data.truth:
        establishments[row["person_id"]].add(row["source"])
    counts = Counter(len(e) for e in establishments.values())
    assert set(counts) <= {1, 2, 3}
    assert counts[1] > counts[2] > counts[3] > 0  # most persons at one establishment
    support = Counter(row["source"] for row in data.truth).most_common(1)[0][0]
    assert support == "490991015"  # the support CHU sees the most persons


@pytest.mark.parametrize("dataset_name", ["high", "default"])
def test_ipp_unique_within_each_establishment(request, dataset_name: str) -> None:
    data: Dataset = request.getfixturevalue(dataset_name)
    keys = [(r["source"], r["local_id"]) for r in data.identities]
    assert len(keys) == len(set(keys))
    ipps = [ipp for _, ipp in keys]
    assert all(ipp.isdigit() and len(ipp) == 9 for ipp in ipps)
    # Not a sequence: consecutive persons do not get consecutive numbers.
    by_source = defaultdict(list)
    for source, ipp in keys:
        by_source[source].append(int(ipp))
    for values in by_source.values():
        steps = {b - a for a, b in zip(values, values[1:], strict=False)}
        assert len(steps) > len(values) // 2


@pytest.mark.parametrize("dataset_name", ["high", "default"])
def test_present_ins_is_valid_and_matches_the_true_person(request, dataset_name: str) -> None:
    data: Dataset = request.getfixturevalue(dataset_name)
    present = 0
    for _, recorded, person in data.rows():
        ins = recorded["ins"]
        if not ins:
            continue
        present += 1
        assert is_valid_nir(ins), ins
        assert ins == person["ins"]
        year, month, _ = person["birth_date"].split("-")
        assert ins[0] == ("1" if person["sex"] == "M" else "2")
        assert ins[1:3] == year[2:] and ins[3:5] == month
    assert present > len(data.truth) // 2
    nirs = [p["ins"] for p in data.persons.values()]
    assert all(is_valid_nir(n) for n in nirs)
    assert len(set(nirs)) == len(nirs)  # one NIR per person


def test_birth_places(high: Dataset) -> None:
    places = Counter()
    for person in high.persons.values():
        place, nir = person["birth_place"], person["ins"]
        year = int(person["birth_date"][:4])
        if place[:2] in ("2A", "2B"):
            places["corsica"] += 1
            # The NIR keeps the département of the day of birth: 20 before 1976.
            assert nir[5:10] == (("20" + place[2:]) if year < 1976 else place)
        else:
            assert nir[5:10] == place
        places["abroad" if place.startswith("99") else "49" if place.startswith("49") else "france"] += 1
    assert places["49"] > places["france"] > places["abroad"] > 0
    assert places["corsica"] > 0


def test_homonym_pairs(high: Dataset) -> None:
    pairs = {tuple(sorted((p["person_id"], p["homonym_of"])))
             for p in high.persons.values() if p["homonym_of"]}
    assert len(pairs) == HOMONYM_PAIRS
    for a_id, b_id in pairs:
        a, b = high.persons[a_id], high.persons[b_id]
        assert a_id != b_id
        assert (a["birth_name"], a["given_names"].split()[0], a["sex"], a["birth_date"]) == (
            b["birth_name"], b["given_names"].split()[0], b["sex"], b["birth_date"])
        assert a["ins"] != b["ins"]
    marked = {row["person_id"] for row in high.truth if row["homonym_of"]}
    assert marked == {pid for pair in pairs for pid in pair}


def test_ipp_permutation_never_collides() -> None:
    establishments = build_establishments()
    contexts = build_est_contexts(establishments, build_professionals(establishments), seed=5)
    for ctx in contexts[:2]:
        values = {ctx.ipp(index, slot) for index in range(50_000) for slot in (0, 1)}
        assert len(values) == 100_000
