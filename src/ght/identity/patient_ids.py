"""GHT patient ids: 11 random characters and an ISO 7064 MOD 37-36 check character.

Opaque (nothing about the person can be read from it), never reused (random, 56 bits), and
a mistyped id is caught by its check character before any lookup.
"""

from __future__ import annotations

import secrets

from stdnum.iso7064 import mod_37_36

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def new_patient_id() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(11))
    return body + mod_37_36.calc_check_digit(body)


def is_valid_patient_id(value: str) -> bool:
    return len(value) == 12 and all(c in ALPHABET for c in value) and mod_37_36.is_valid(value)
