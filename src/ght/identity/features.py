"""The comparison features of an identity, computed once from its stored RNIV traits.

The same features are columns in the batch (DuckDB/Splink) tables and attributes here, so
that training, batch linkage and the online matcher compare exactly the same things.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ght.identity.normalise import match_key, phone_key, without_particles


@dataclass(frozen=True, slots=True)
class Features:
    bn: str  # birth name key
    bnp: str  # birth name key without leading particles
    un: str  # used name key
    gk: str  # all given names glued
    fg: str  # first given name key
    bd: str  # birth date, ISO 8601, or ""
    sx: str  # M, F, or "" when unknown
    bp: str  # birth place INSEE code
    pc: str  # postcode
    ph: str  # phone, national significant number
    ins: str  # INS with a valid key, else ""


FEATURE_COLUMNS = tuple(Features.__slots__)


def features(
    *,
    birth_name: str,
    used_name: str,
    given_names: str,
    birth_date: date | str | None,
    sex: str,
    birth_place: str,
    postcode: str,
    phone: str,
    ins: str | None,
    ins_valid: bool,
) -> Features:
    given = [match_key(name) for name in (given_names or "").split()]
    if isinstance(birth_date, date):
        birth_date = birth_date.isoformat()
    return Features(
        bn=match_key(birth_name),
        bnp=without_particles(birth_name),
        un=match_key(used_name),
        gk="".join(given),
        fg=given[0] if given else "",
        bd=birth_date or "",
        sx=sex if sex in ("M", "F") else "",
        bp=(birth_place or "").upper(),
        pc=(postcode or "").strip(),
        ph=phone_key(phone),
        ins=(ins or "") if ins_valid else "",
    )


def swapped_date(bd: str) -> str | None:
    """The date with day and month exchanged, when that is still a date and a different one."""
    if len(bd) != 10:
        return None
    year, month, day = bd[:4], bd[5:7], bd[8:10]
    if day == month or int(day) > 12:
        return None
    return f"{year}-{day}-{month}"


def blocking_keys(f: Features) -> list[str]:
    """Keys under which an identity is indexed; two identities are compared only when they
    share one. Several partial keys so that one error in any single trait still leaves
    another key in common (name typo: date and sex key; date typo: name key; swapped date: its
    swapped key; married name keyed as birth name: used-name key; INS and phone)."""
    year = f.bd[:4]
    keys = []
    if f.bd:
        # The date block is the largest (about 30 identities a day per million): split by sex.
        # A pair whose sexes differ is never linked automatically (a veto level) and one that
        # shares a name keeps its name keys; an unknown sex goes into both halves.
        sexes = (f.sx,) if f.sx else ("M", "F")
        swapped = swapped_date(f.bd)
        for sx in sexes:
            keys.append(f"D:{f.bd}:{sx}")
            if swapped:
                keys.append(f"D:{swapped}:{sx}")
    if f.bn and year:
        keys.append(f"N:{f.bn}:{year}")
        if f.bnp != f.bn:
            keys.append(f"N:{f.bnp}:{year}")
    if f.un and year and f.un != f.bn:
        keys.append(f"N:{f.un}:{year}")
    if f.fg and f.bnp and year:
        # Names keyed with a typo and a wrong day or month: first given name, start of the
        # birth name and birth year. The year keeps the block small (a few identities) even
        # for the commonest given names.
        keys.append(f"G:{f.fg}:{f.bnp[:3]}:{year}")
    if f.ins:
        keys.append(f"I:{f.ins}")
    if f.ph:
        keys.append(f"P:{f.ph}")
    return keys
