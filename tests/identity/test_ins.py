"""NIR / INS key checks (ght.identity.ins)."""

from __future__ import annotations

import pytest

from ght.identity.ins import (
    InsError,
    NirProblem,
    is_valid_nir,
    nir_key,
    nir_problem,
    nir_with_key,
    parse_nir,
    validate_nir,
)

# Keys computed by hand: key = 97 - (13 first digits mod 97).
# 1 85 07 49 007 123: 1850749007123 mod 97 = 36 -> key 61 (man, July 1985, Angers).
VALID_ANGERS = "185074900712361"
# 2 95 07 99 350 123 (born in Morocco): 2950799350123 mod 97 = 91 -> key 06.
VALID_ABROAD = "295079935012306"
# Corsica: 2A counts as 19, 2B as 18.
# 2 55 08 2A 004 018: 2550819004018 mod 97 = 20 -> key 77 (Ajaccio).
VALID_2A = "255082A00401877"
# 1 78 05 2B 033 045: 1780518033045 mod 97 = 75 -> key 22 (Bastia).
VALID_2B = "178052B03304522"
# Born in Corsica before 1976: département still written 20, digits only.
# 1 76 07 20 004 017: 1760720004017 mod 97 = 71 -> key 26.
VALID_CORSICA_BEFORE_1976 = "176072000401726"


@pytest.mark.parametrize("nir13, key", [
    ("1850749007123", "61"),
    ("2950799350123", "06"),
    ("255082A004018", "77"),
    ("178052B033045", "22"),
    ("1760720004017", "26"),
])
def test_nir_key(nir13: str, key: str) -> None:
    assert nir_key(nir13) == key
    assert nir_with_key(nir13) == nir13 + key


@pytest.mark.parametrize("value", [
    VALID_ANGERS, VALID_ABROAD, VALID_2A, VALID_2B, VALID_CORSICA_BEFORE_1976,
    "1 85 07 49 007 123 61",  # as printed on a carte Vitale
    "255082a00401877",  # lowercase Corsican letter as typed
    "253072B07300470",  # python-stdnum's own examples
    "253072A07300443",
])
def test_valid(value: str) -> None:
    assert is_valid_nir(value)
    assert nir_problem(value) is None


def test_corsica_letter_matters() -> None:
    # Same digits, other Corsican département: the key no longer matches.
    assert not is_valid_nir("255082B00401877")
    assert nir_problem("255082B00401877") is NirProblem.KEY
    # And 2A read as 20 (no substitution) would give another key.
    assert nir_key("2550820004018") != "77"


@pytest.mark.parametrize("value, problem", [
    ("185074900712362", NirProblem.KEY),  # last digit off by one
    ("185074900712316", NirProblem.KEY),  # key digits swapped
    ("185074900713261", NirProblem.KEY),  # order digits swapped
    ("18507490071236", NirProblem.LENGTH),
    ("1850749007123611", NirProblem.LENGTH),
    ("", NirProblem.LENGTH),
    ("18507490071236X", NirProblem.CHARACTERS),
    ("185072C00712361", NirProblem.CHARACTERS),  # only 2A and 2B are letters
    ("18507A900712361", NirProblem.CHARACTERS),  # letter outside the département
    ("385074900712361", NirProblem.SEX),
    ("185004900712361", NirProblem.MONTH),
    ("185134900712361", NirProblem.MONTH),
])
def test_invalid(value: str, problem: NirProblem) -> None:
    assert not is_valid_nir(value)
    assert nir_problem(value) is problem
    with pytest.raises(InsError) as raised:
        validate_nir(value)
    assert raised.value.reason is problem
    assert raised.value.message_fr


def test_pseudo_month_of_incomplete_civil_record_is_accepted() -> None:
    nir13 = "1853049007123"  # month 30: INSEE pseudo-month
    assert is_valid_nir(nir_with_key(nir13))


def test_parse() -> None:
    parts = parse_nir(VALID_2A)
    assert (parts.sex, parts.year, parts.month, parts.place, parts.order, parts.key) == (
        "2", "55", "08", "2A004", "018", "77")


def test_nir_key_rejects_bad_input() -> None:
    with pytest.raises(InsError):
        nir_key("18507490071")
    with pytest.raises(InsError):
        nir_key("18507X9007123")
