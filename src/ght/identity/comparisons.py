"""French-aware comparisons for Fellegi–Sunter scoring, each level written twice on purpose:
as SQL for Splink (EM training and batch linkage in DuckDB) and as Python for the online
matcher. tests/identity/test_comparisons_sql_python.py checks on generated data that both
give the same level for every pair, so the trained m/u apply unchanged online.

Levels are listed best first; the first level whose condition holds is the pair's level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from ght.identity.features import Features


def _jw(a: str, b: str) -> float:
    return JaroWinkler.similarity(a, b)


@dataclass(frozen=True)
class Level:
    label: str  # French, shown to identity-vigilance staff next to the level's weight
    sql: str  # condition on columns suffixed _l and _r (Splink's convention)
    python: Callable[[Features, Features], bool]


@dataclass(frozen=True)
class Comparison:
    name: str
    label: str
    null_sql: str
    null: Callable[[Features, Features], bool]
    levels: tuple[Level, ...]  # the last one is "everything else"

    def level_of(self, a: Features, b: Features) -> int:
        """-1 for the null level, else the index of the first level that holds."""
        if self.null(a, b):
            return -1
        for index, level in enumerate(self.levels):
            if level.python(a, b):
                return index
        raise AssertionError(f"{self.name}: the last level must always hold")


ELSE = Level("différent", "ELSE", lambda a, b: True)


def _one_typo(a: str, b: str) -> bool:
    # One insertion, deletion, substitution or transposition: for a distance of at most 1
    # every Damerau-Levenshtein variant agrees, DuckDB's included.
    return DamerauLevenshtein.distance(a, b, score_cutoff=1) <= 1


def _given_typo(a: Features, b: Features) -> bool:
    return _one_typo(a.fg, b.fg) or _one_typo(a.gk, b.gk)


def _swapped(a: Features, b: Features) -> bool:
    return a.bd[:4] == b.bd[:4] and a.bd[5:7] == b.bd[8:10] and a.bd[8:10] == b.bd[5:7]


def _two_of_three(a: Features, b: Features) -> bool:
    return (a.bd[:4] == b.bd[:4]) + (a.bd[5:7] == b.bd[5:7]) + (a.bd[8:10] == b.bd[8:10]) >= 2


def _given_prefix(a: Features, b: Features) -> bool:
    # "JEAN" recorded for "JEAN-PIERRE", or only the first of several given names kept.
    return bool(a.fg and b.fg) and (b.gk.startswith(a.fg) or a.gk.startswith(b.fg))


def _name_cross(a: Features, b: Features) -> bool:
    # Married name keyed as birth name on one side, or the same used name on both.
    return bool(a.un and a.un == b.bn) or bool(b.un and a.bn == b.un) or bool(a.un and a.un == b.un)


COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        "birth_name", "Nom de naissance",
        "bn_l = '' OR bn_r = ''", lambda a, b: not a.bn or not b.bn,
        (
            Level("identique", "bn_l = bn_r", lambda a, b: a.bn == b.bn),
            Level("identique sans particule", "bnp_l = bnp_r", lambda a, b: a.bnp == b.bnp),
            Level("nom d'usage de l'une = nom de l'autre",
                  "(un_l <> '' AND un_l = bn_r) OR (un_r <> '' AND bn_l = un_r) OR (un_l <> '' AND un_l = un_r)",
                  _name_cross),
            Level("très proche", "jaro_winkler_similarity(bn_l, bn_r) >= 0.92",
                  lambda a, b: _jw(a.bn, b.bn) >= 0.92),
            Level("proche", "jaro_winkler_similarity(bn_l, bn_r) >= 0.8",
                  lambda a, b: _jw(a.bn, b.bn) >= 0.8),
            ELSE,
        ),
    ),
    Comparison(
        "given_names", "Prénoms",
        "fg_l = '' OR fg_r = ''", lambda a, b: not a.fg or not b.fg,
        (
            Level("liste identique", "gk_l = gk_r", lambda a, b: a.gk == b.gk),
            Level("premier prénom identique", "fg_l = fg_r", lambda a, b: a.fg == b.fg),
            Level("prénom composé coupé ou réduit",
                  "starts_with(gk_r, fg_l) OR starts_with(gk_l, fg_r)", _given_prefix),
            Level("premier prénom proche", "jaro_winkler_similarity(fg_l, fg_r) >= 0.88",
                  lambda a, b: _jw(a.fg, b.fg) >= 0.88),
            # Short given names with a typo ("EMMA"/"EOMA", "LOUIS"/"KOUIS": Jaro-Winkler below
            # 0.88, and a first-letter typo loses its prefix bonus), or a compound name whose
            # hyphen became a typo ("MIVHEL-PAUL"/"MICHEL PAUL"): one edit, not another name.
            Level("prénoms à une faute de frappe près",
                  "damerau_levenshtein(fg_l, fg_r) <= 1 OR damerau_levenshtein(gk_l, gk_r) <= 1", _given_typo),
            ELSE,
        ),
    ),
    Comparison(
        "birth_date", "Date de naissance",
        "bd_l = '' OR bd_r = ''", lambda a, b: not a.bd or not b.bd,
        (
            Level("identique", "bd_l = bd_r", lambda a, b: a.bd == b.bd),
            Level("jour et mois inversés",
                  "substr(bd_l, 1, 4) = substr(bd_r, 1, 4) AND substr(bd_l, 6, 2) = substr(bd_r, 9, 2)"
                  " AND substr(bd_l, 9, 2) = substr(bd_r, 6, 2)", _swapped),
            Level("deux éléments sur trois",
                  "(CAST(substr(bd_l, 1, 4) = substr(bd_r, 1, 4) AS INTEGER)"
                  " + CAST(substr(bd_l, 6, 2) = substr(bd_r, 6, 2) AS INTEGER)"
                  " + CAST(substr(bd_l, 9, 2) = substr(bd_r, 9, 2) AS INTEGER)) >= 2", _two_of_three),
            ELSE,
        ),
    ),
    Comparison(
        "sex", "Sexe",
        "sx_l = '' OR sx_r = ''", lambda a, b: not a.sx or not b.sx,
        (Level("identique", "sx_l = sx_r", lambda a, b: a.sx == b.sx), ELSE),
    ),
    Comparison(
        "birth_place", "Lieu de naissance",
        "bp_l = '' OR bp_r = ''", lambda a, b: not a.bp or not b.bp,
        (
            Level("identique", "bp_l = bp_r", lambda a, b: a.bp == b.bp),
            Level("même département ou pays", "substr(bp_l, 1, 2) = substr(bp_r, 1, 2)",
                  lambda a, b: a.bp[:2] == b.bp[:2]),
            ELSE,
        ),
    ),
    Comparison(
        "postcode", "Code postal",
        "pc_l = '' OR pc_r = ''", lambda a, b: not a.pc or not b.pc,
        (Level("identique", "pc_l = pc_r", lambda a, b: a.pc == b.pc), ELSE),
    ),
    Comparison(
        "phone", "Téléphone",
        "ph_l = '' OR ph_r = ''", lambda a, b: not a.ph or not b.ph,
        (Level("identique", "ph_l = ph_r", lambda a, b: a.ph == b.ph), ELSE),
    ),
    Comparison(
        "ins", "INS",
        "ins_l = '' OR ins_r = ''", lambda a, b: not a.ins or not b.ins,
        (Level("identique", "ins_l = ins_r", lambda a, b: a.ins == b.ins), ELSE),
    ),
)


# Whatever the score, these levels forbid an automatic link (a person decides): different
# given names with everything else equal is how twins look; a different sex or a birth date
# different in two of its three parts is a different person far more often than a typo.
# The same valid INS on both sides lifts the veto: twins never share one.
DIFFERENT = {c.name: len(c.levels) - 1 for c in COMPARISONS}  # index of each "différent" level
VETO_LEVELS = {name: DIFFERENT[name] for name in ("given_names", "sex", "birth_date")}


def vetoed(levels: dict[str, int]) -> bool:
    """True when a pair with these levels may not be linked automatically."""
    if levels.get("ins") == 0:
        return False
    return any(levels.get(name) == level for name, level in VETO_LEVELS.items())
