"""Numbers read from a request (URL, search value, reference) before they reach SQL.

`str.isdigit()` is true for "³" or "٣" (Unicode digits that int() refuses or SQL never stores),
and a row number of a few more digits overflows the database's integer (PostgreSQL refuses
an INTEGER beyond 2³¹−1 and a BIGINT beyond 2⁶³−1; SQLite a value beyond 2⁶³−1): both used to
reach the database and answer 500. Every such number goes through `parse_int`."""

from __future__ import annotations

INT4_MAX = 2**31 - 1  # INTEGER: the primary keys of the identity and directory tables, versions
INT8_MAX = 2**63 - 1  # BIGINT


def parse_int(text: str, maximum: int = INT4_MAX) -> int | None:
    """`text` as a non-negative integer of at most `maximum`, written with the ASCII digits
    0-9 only; None for anything else."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > len(str(maximum)):
        return None
    value = int(text)
    return value if value <= maximum else None
