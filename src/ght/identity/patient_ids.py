"""GHT patient ids: 11 random characters and an ISO 7064 MOD 37-36 check character.

Opaque (nothing about the person can be read from it), never reused (random, 56 bits), and
a mistyped id is caught by its check character before any lookup.
"""

from __future__ import annotations

import secrets

from stdnum.iso7064 import mod_37_36

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_BODY = 11
# A random byte below 252 (7 x 36) gives a uniform character: byte % 36. Bytes 252-255 are
# dropped (rejection sampling), so every character stays uniform over the 36 of the alphabet.
_ACCEPTED = 252
_TO_CHARACTER = bytes(ord(ALPHABET[b % 36]) if b < _ACCEPTED else 0 for b in range(256))
_REJECTED = bytes(range(_ACCEPTED, 256))


def new_patient_id() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(_BODY))
    return body + mod_37_36.calc_check_digit(body)


def new_patient_ids(count: int) -> list[str]:
    """`count` ids drawn as `new_patient_id` draws them (each character uniform over the
    alphabet, from the operating system's CSPRNG), for a batch: one random read for all of
    them instead of eleven per id."""
    needed = count * _BODY
    characters = b""
    while len(characters) < needed:
        # 256/252 bytes per character on average, and a margin: rarely a second read.
        chunk = secrets.token_bytes((needed - len(characters)) * 33 // 32 + 64)
        characters += chunk.translate(None, _REJECTED).translate(_TO_CHARACTER)
    text = characters[:needed].decode("ascii")
    check = mod_37_36.calc_check_digit
    return [body + check(body) for body in (text[i:i + _BODY] for i in range(0, needed, _BODY))]


def is_valid_patient_id(value: str) -> bool:
    return len(value) == 12 and all(c in ALPHABET for c in value) and mod_37_36.is_valid(value)
