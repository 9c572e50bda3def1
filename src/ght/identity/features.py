"""The comparison features of an identity, computed once from its stored RNIV traits.

The same features are columns in the batch (DuckDB/Splink) tables and attributes here, so
that training, batch linkage and the online matcher compare exactly the same things.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ght.identity.normalise import match_key, phone_key, without_particles
from ght.identity.rules import Rule, apply_rules


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


def given_name_keys(given_names: str) -> tuple[str, str]:
    """All given names glued, and the first one, as keys."""
    given = [match_key(name) for name in (given_names or "").split()]
    return "".join(given), given[0] if given else ""


def birth_date_key(birth_date: date | str | None) -> str:
    if isinstance(birth_date, date):
        birth_date = birth_date.isoformat()
    return birth_date or ""


def sex_key(sex: str) -> str:
    return sex if sex in ("M", "F") else ""


def birth_place_key(birth_place: str) -> str:
    return (birth_place or "").upper()


def postcode_key(postcode: str) -> str:
    return (postcode or "").strip()


def ins_key(ins: str | None, ins_valid: bool) -> str:
    return (ins or "") if ins_valid else ""


# (features, traits, function): each feature a function of its own trait(s) alone, so that the
# batch computes it once per distinct value (batch.prepare); a tuple for several features.
FEATURE_RULES: tuple[Rule, ...] = (
    (("bn",), ("birth_name",), match_key),
    (("bnp",), ("birth_name",), without_particles),
    (("un",), ("used_name",), match_key),
    (("gk", "fg"), ("given_names",), given_name_keys),
    (("bd",), ("birth_date",), birth_date_key),
    (("sx",), ("sex",), sex_key),
    (("bp",), ("birth_place",), birth_place_key),
    (("pc",), ("postcode",), postcode_key),
    (("ph",), ("phone",), phone_key),
    (("ins",), ("ins", "ins_valid"), ins_key),
)


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
    return Features(**apply_rules(FEATURE_RULES, locals().__getitem__))


def swapped_date(bd: str) -> str | None:
    """The date with day and month exchanged, when that is still a date and a different one."""
    if len(bd) != 10:
        return None
    year, month, day = bd[:4], bd[5:7], bd[8:10]
    if day == month or int(day) > 12:
        return None
    return f"{year}-{day}-{month}"


# The width of a stored key (models.BlockingKey.key).
KEY_LENGTH = 80
# The features the blocking keys are made of, in the order of keys_of's arguments.
BLOCKING_FEATURES = ("bd", "sx", "bn", "bnp", "un", "fg", "ins", "ph")


def blocking_keys(f: Features) -> list[str]:
    """Keys under which an identity is indexed, as stored (keys_of)."""
    return keys_of(f.bd, f.sx, f.bn, f.bnp, f.un, f.fg, f.ins, f.ph)


def keys_of(bd: str, sx: str, bn: str, bnp: str, un: str, fg: str, ins: str, ph: str) -> list[str]:
    """The blocking keys of the features given (BLOCKING_FEATURES; the batch maps it over their
    columns): two identities are compared only when they share one. Several partial keys so
    that one error in any single trait still leaves another key in common (name typo: date and
    sex key; date typo: name key; swapped date: its swapped key; married name keyed as birth
    name: used-name key; INS and phone). Each once, sorted, cut to KEY_LENGTH characters."""
    year = bd[:4]
    keys = []
    if bd:
        # The date block is the largest (about 30 identities a day per million): split by sex.
        # A pair whose sexes differ is never linked automatically (a veto level) and one that
        # shares a name keeps its name keys; an unknown sex goes into both halves.
        sexes = (sx,) if sx else ("M", "F")
        swapped = swapped_date(bd)
        for s in sexes:
            keys.append(f"D:{bd}:{s}")
            if swapped:
                keys.append(f"D:{swapped}:{s}")
    if bn and year:
        keys.append(f"N:{bn}:{year}")
        if bnp != bn:
            keys.append(f"N:{bnp}:{year}")
    if un and year and un != bn:
        keys.append(f"N:{un}:{year}")
    if fg and bnp and year:
        # Names keyed with a typo and a wrong day or month: first given name, start of the
        # birth name and birth year. The year keeps the block small (a few identities) even
        # for the commonest given names.
        keys.append(f"G:{fg}:{bnp[:3]}:{year}")
    if ins:
        keys.append(f"I:{ins}")
    if ph:
        keys.append(f"P:{ph}")
    return sorted({k[:KEY_LENGTH] for k in keys})
