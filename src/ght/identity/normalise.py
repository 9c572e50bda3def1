"""Normalisation of identity traits as the RNIV (référentiel national d'identitovigilance) asks.

Two forms of each name:
- `rniv_name`: what RNIV wants recorded: upper case, no diacritics (Œ/Æ spelled out), hyphens
  and apostrophes kept, single spaces, no abbreviation ("ST" -> "SAINT"), particles kept.
- `match_key`: what comparisons use: the RNIV form without hyphens, apostrophes or spaces,
  so that "LE GOFF", "LE-GOFF" and "LEGOFF" compare equal, as do "JEAN-PIERRE" and "JEAN PIERRE".
Particles ("DE", "DE LA", "D'", "LE"...) are often dropped or glued by other software:
`without_particles` gives the key of the name without its leading particles, a second chance.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Letters that NFKD does not decompose into a base letter plus a mark.
_LIGATURES = str.maketrans({"Œ": "OE", "œ": "OE", "Æ": "AE", "æ": "AE", "ß": "SS", "Ø": "O", "ø": "O",
                            "Ð": "D", "ð": "D", "Þ": "TH", "þ": "TH", "Ł": "L", "ł": "L", "Đ": "D", "đ": "D"})
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"})
_HYPHENS = str.maketrans({"‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "_": "-"})
_ASCII_MARKS = {k: v for table in (_APOSTROPHES, _HYPHENS) for k, v in table.items() if k < 128}
# The three tables in one: their keys are distinct and none maps to another's key.
_ALL_MARKS = {**_LIGATURES, **_APOSTROPHES, **_HYPHENS}
_NOT_ALLOWED = re.compile(r"[^A-Z' -]")
_SPACED_HYPHEN = re.compile(r"\s*-\s*")
_SPACED_APOSTROPHE = re.compile(r"\s*'\s*")
_SEPARATORS = re.compile(r"[ '-]")
_NON_DIGITS = re.compile(r"\D")


class _CombiningMarks(dict):
    """A translation table that deletes the combining marks (accents), filled as characters are
    met: one str.translate instead of a Python test per character."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        self[code] = kept
        return kept


_COMBINING_MARKS = _CombiningMarks()
_ABBREVIATIONS = {"ST": "SAINT", "STE": "SAINTE", "STS": "SAINTS", "STES": "SAINTES"}

# Leading particles of French (and neighbouring) family names, longest first.
_PARTICLES = ("DE LA ", "DE L'", "DES ", "DU ", "DE ", "D'", "LE ", "LA ", "LES ", "L'",
              "VAN DER ", "VAN DEN ", "VAN ", "VON ", "DI ", "DA ", "DOS ", "DEL ", "DELLA ")


@lru_cache(maxsize=1 << 18)
def rniv_name(value: str | None) -> str:
    """The RNIV spelling of a name or given name ('' for an empty value)."""
    if not value:
        return ""
    if value.isascii():
        # Nothing to decompose: only the two ASCII marks of the tables below change.
        text = value.translate(_ASCII_MARKS).upper()
    else:
        text = unicodedata.normalize("NFKD", value.translate(_ALL_MARKS))
        text = text.translate(_COMBINING_MARKS).upper()
    text = _NOT_ALLOWED.sub(" ", text)
    if "-" in text:
        text = _SPACED_HYPHEN.sub("-", text)
    if "'" in text:
        text = _SPACED_APOSTROPHE.sub("'", text)
    # Abbreviations, also glued by a hyphen: "ST-ETIENNE" -> "SAINT-ETIENNE".
    words = ["-".join(_ABBREVIATIONS.get(part, part) for part in word.split("-")) if "-" in word
             else _ABBREVIATIONS.get(word, word) for word in text.split()]
    return " ".join(words).strip("-' ")


@lru_cache(maxsize=1 << 18)
def match_key(value: str | None) -> str:
    """The RNIV name without separators: the form names are compared in."""
    return _SEPARATORS.sub("", rniv_name(value))


@lru_cache(maxsize=1 << 18)
def without_particles(value: str | None) -> str:
    """The match key of a family name once its leading particles are removed."""
    name = rniv_name(value)
    stripped = True
    while stripped:
        stripped = False
        for particle in _PARTICLES:
            if name.startswith(particle) and len(name) > len(particle):
                name = name[len(particle):]
                stripped = True
                break
    return _SEPARATORS.sub("", name)


def given_names_list(value: str | None) -> list[str]:
    """The given names in order, RNIV-spelled; compound given names keep their hyphen.

    The list is space-separated as in the INS and in HL7 PID-5.3/XPN repetitions; a comma is
    accepted too because many GAM export it so.
    """
    return rniv_name((value or "").replace(",", " ")).split()


def first_given_name(value: str | None) -> str:
    names = given_names_list(value)
    return names[0] if names else ""


def given_names_key(value: str | None) -> str:
    """All given names glued: 'JEAN-PIERRE MARIE' and 'JEAN PIERRE MARIE' both give 'JEANPIERREMARIE'."""
    return "".join(match_key(name) for name in given_names_list(value))


def phone_key(value: str | None) -> str:
    """National significant number: '+33 6 12 34 56 78', '0612345678' -> '612345678'."""
    digits = _NON_DIGITS.sub("", value or "")
    if digits.startswith("0033"):
        digits = digits[4:]
    elif digits.startswith("33") and len(digits) == 11:
        digits = digits[2:]
    return digits[1:] if digits.startswith("0") and len(digits) == 10 else digits


def sex_code(value: str | None) -> str:
    """M, F or U (HL7 table 0001 as the INS uses it; 'H' for homme is accepted)."""
    v = (value or "").strip().upper()[:1]
    return {"M": "M", "H": "M", "1": "M", "F": "F", "2": "F"}.get(v, "U")
