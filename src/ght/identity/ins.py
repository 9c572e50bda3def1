"""INS (Identité Nationale de Santé) checks: the NIR and its key.

The INS matricule is the person's NIR (or NIA, same layout, for persons awaiting a
NIR): 13 characters + a 2-digit key = 97 - (number mod 97). Positions:

    sex(1) year(2) month(2) place(5: département 2 + commune 3, or 99 + country) order(3) key(2)

Corsica: a person born there since 1976 has département 2A or 2B in the place; for the
key, 2A counts as 19 and 2B as 18 (before 1976 the département was written 20, digits
only). The key arithmetic is python-stdnum's (`stdnum.fr.nir`); this module adds the
reason a value is refused, which the identity server shows to identity-vigilance staff.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from stdnum.fr import nir as _stdnum_nir
from stdnum.util import clean as _stdnum_clean

# OIDs of the INS assigning authorities (FR Core identifier systems).
INS_NIR_OID = "1.2.250.1.213.1.4.8"  # production INS-NIR
INS_NIR_DEMO_OID = "1.2.250.1.213.1.4.11"  # demo INS-NIR, the only one synthetic data may use
INS_NIR_DEMO_SYSTEM = f"urn:oid:{INS_NIR_DEMO_OID}"


class NirProblem(StrEnum):
    """Why a NIR is refused, from the coarsest check to the finest."""

    LENGTH = "length"  # not 15 characters once spaces are removed
    CHARACTERS = "characters"  # something else than digits (and 2A/2B at the département)
    SEX = "sex"  # first digit is not 1 or 2
    MONTH = "month"  # 00 or 13-19: no month nor INSEE pseudo-month
    KEY = "key"  # the key does not match the first 13 characters


_MESSAGES_FR: dict[NirProblem, str] = {
    NirProblem.LENGTH: "Le NIR doit comporter 15 caractères (13 + clé).",
    NirProblem.CHARACTERS: "Le NIR ne doit contenir que des chiffres (2A/2B pour la Corse).",
    NirProblem.SEX: "Le premier chiffre du NIR (sexe) doit être 1 ou 2.",
    NirProblem.MONTH: "Le mois de naissance du NIR est impossible.",
    NirProblem.KEY: "La clé du NIR ne correspond pas aux 13 premiers caractères.",
}


class InsError(ValueError):
    """A value refused as INS matricule; `reason` says why."""

    def __init__(self, reason: NirProblem, value: str) -> None:
        super().__init__(_MESSAGES_FR[reason])
        self.reason = reason
        self.value = value

    @property
    def message_fr(self) -> str:
        return _MESSAGES_FR[self.reason]


@dataclass(frozen=True, slots=True)
class NirParts:
    sex: str  # "1" man, "2" woman
    year: str  # last two digits of the birth year
    month: str  # 01-12, or an INSEE pseudo-month (20-42, 50+) for incomplete civil records
    place: str  # INSEE code of the birth commune (2A004...), or 99 + country code
    order: str
    key: str


# What stdnum's compact does to each ASCII character (its Unicode clean-up, then the removal of
# spaces and dots), as one translation table: a batch compacts hundreds of thousands of INS.
_ASCII_COMPACT = {c: _stdnum_clean(chr(c), " .") for c in range(128)}


def compact(value: str) -> str:
    """Remove the spaces and dots people type, uppercase the Corsican letters."""
    if value.isascii():  # stdnum's clean-up is character by character: the same, faster
        return value.translate(_ASCII_COMPACT).strip().upper()
    return _stdnum_nir.compact(value)


def nir_key(nir13: str) -> str:
    """The 2-digit key of a 13-character NIR (2A/2B allowed), e.g. '255082A004018' -> '77'."""
    nir13 = compact(nir13)
    if len(nir13) != 13:
        raise InsError(NirProblem.LENGTH, nir13)
    if _characters_problem(nir13):
        raise InsError(NirProblem.CHARACTERS, nir13)
    return _stdnum_nir.calc_check_digits(nir13)


def _characters_problem(nir: str) -> bool:
    dept = nir[5:7]
    if not (_digits(dept) or dept in ("2A", "2B")):
        return True
    return not (_digits(nir[:5]) and _digits(nir[7:]))


def _digits(text: str) -> bool:
    """Only ASCII digits (str.isdigit alone takes other scripts' digits and superscripts)."""
    return not text or (text.isascii() and text.isdigit())


def nir_problem(value: str) -> NirProblem | None:
    """None when `value` is a well-formed NIR/NIA with its key, else the first problem found."""
    return compact_nir_problem(compact(value))


def compact_nir_problem(nir: str) -> NirProblem | None:
    """`nir_problem` of a value already compacted (`compact`): not compacted a second time."""
    if len(nir) != 15:
        return NirProblem.LENGTH
    if not (nir.isascii() and nir.isdigit()) and _characters_problem(nir):  # (all digits: none)
        return NirProblem.CHARACTERS
    if nir[0] not in "12":
        return NirProblem.SEX
    month = int(nir[3:5])
    # 20-42 and 50-99 are INSEE pseudo-months for persons registered from incomplete records.
    if month == 0 or 13 <= month <= 19:
        return NirProblem.MONTH
    if _stdnum_nir.calc_check_digits(nir) != nir[13:]:
        return NirProblem.KEY
    return None


def validate_nir(value: str) -> str:
    """The compact NIR, or InsError with the reason."""
    problem = nir_problem(value)
    if problem is not None:
        raise InsError(problem, value)
    return compact(value)


def is_valid_nir(value: str) -> bool:
    """True for a 15-character NIR (or NIA) whose key is right; Corsica 2A/2B handled."""
    return nir_problem(value) is None


def parse_nir(value: str) -> NirParts:
    """Split a valid NIR into its parts (raises InsError otherwise)."""
    nir = validate_nir(value)
    return NirParts(nir[0], nir[1:3], nir[3:5], nir[5:10], nir[10:13], nir[13:15])


def nir_with_key(nir13: str) -> str:
    """The 15-character NIR for 13 characters."""
    nir13 = compact(nir13)
    return nir13 + nir_key(nir13)
