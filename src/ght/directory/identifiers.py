"""Checks of the national identifiers of the directory: FINESS, RPPS, ADELI.

All three end with a Luhn check digit (`stdnum.luhn`):
- FINESS (juridique or géographique): 9 characters, the first two are the département
  (2A/2B in Corsica), the last is the key. For Corsican numbers the letter is read as 0
  for the key: an assumption, no public specification of that case was found.
- RPPS: 11 digits, the first is 1 ("10..." for the numbers issued so far), the last is the key.
- ADELI: 9 digits (département, profession, order), the last is the key.
"""

from __future__ import annotations

from stdnum import luhn

_DIGITS = frozenset("0123456789")


def _digits(value: str) -> bool:
    return bool(value) and set(value) <= _DIGITS


def _finess_luhn_body(finess: str) -> str | None:
    """The digits the FINESS key is computed on, None if the format is wrong."""
    dept, rest = finess[:2], finess[2:]
    if dept in ("2A", "2B"):
        dept = "20"
    body = dept + rest
    return body if _digits(body) else None


def finess_with_key(finess8: str) -> str:
    """The 9-character FINESS for its first 8 characters."""
    body = _finess_luhn_body(finess8)
    if len(finess8) != 8 or body is None:
        raise ValueError(f"FINESS without key must be 8 characters: {finess8!r}")
    return finess8 + luhn.calc_check_digit(body)


def finess_is_valid(value: str) -> bool:
    if len(value) != 9:
        return False
    body = _finess_luhn_body(value)
    return body is not None and luhn.is_valid(body)


def rpps_with_key(rpps10: str) -> str:
    """The 11-digit RPPS for its first 10 digits."""
    if len(rpps10) != 10 or not _digits(rpps10) or rpps10[0] != "1":
        raise ValueError(f"RPPS without key must be 10 digits starting with 1: {rpps10!r}")
    return rpps10 + luhn.calc_check_digit(rpps10)


def rpps_is_valid(value: str) -> bool:
    return len(value) == 11 and _digits(value) and value[0] == "1" and luhn.is_valid(value)


def adeli_with_key(adeli8: str) -> str:
    """The 9-digit ADELI number for its first 8 digits."""
    if len(adeli8) != 8 or not _digits(adeli8):
        raise ValueError(f"ADELI without key must be 8 digits: {adeli8!r}")
    return adeli8 + luhn.calc_check_digit(adeli8)


def adeli_is_valid(value: str) -> bool:
    return len(value) == 9 and _digits(value) and luhn.is_valid(value)
