"""Training of the Fellegi–Sunter parameters with Splink (DuckDB, or Spark when configured:
ght.identity.engines) on the territory's own identities: u by random sampling, m by
expectation-maximisation, the prior from deterministic rules. The result is stored
(ght.identity.scoring.store_model) and used online."""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import duckdb

from ght import forked
from ght.config import load_settings
from ght.identity.comparisons import COMPARISONS, Comparison
from ght.identity.scoring import DEFAULT_PARAMETERS

log = logging.getLogger("ght.identity.training")

# EM needs blocking rules that leave the trained comparisons free to vary: on the birth
# date and sex (trains the names, places...), then on the names (trains the birth date and
# sex). The sex halves the date blocks, and the time EM takes on a million identities.
EM_BLOCKING_RULES = (
    "l.bd = r.bd AND l.sx = r.sx AND l.bd <> ''",
    "l.bn = r.bn AND l.fg = r.fg AND l.bn <> ''",
)
# Pairs that are almost surely the same person, to estimate the prior.
DETERMINISTIC_RULES = (
    "l.ins = r.ins AND l.ins <> ''",
    "l.bn = r.bn AND l.gk = r.gk AND l.bd = r.bd AND l.bn <> ''",
)

# EM is trained on at most this many blocked pairs per rule (Splink's own hash-based record
# sampling, deterministic): at a million identities the date-and-sex rule blocks 8.1 million
# pairs, whose comparison vectors were most of the training time, and a fifth of them still
# holds tens of thousands of matches, far more than the few dozen m of the model need. Below
# this size (100,000 identities block about 80,000 pairs) nothing is sampled.
EM_MAX_PAIRS = 1.5e6

# The string similarities of our level SQL: what makes a comparison long to estimate.
_SIMILARITIES = ("jaro_winkler", "damerau_levenshtein")

M_FLOOR = 1e-3
U_FLOOR = 1e-7


def splink_settings(parameters: dict = DEFAULT_PARAMETERS, only: Sequence[Comparison] = COMPARISONS) -> dict:
    """A Splink settings dictionary with our comparisons (`only` those) and starting m/u."""
    comparisons = []
    for comparison in only:
        mu = parameters["comparisons"][comparison.name]
        levels = [{"sql_condition": comparison.null_sql, "label_for_charts": "absent", "is_null_level": True}]
        for index, level in enumerate(comparison.levels):
            levels.append({
                "sql_condition": level.sql, "label_for_charts": level.label,
                "m_probability": mu["m"][index], "u_probability": mu["u"][index],
            })
        comparisons.append({"output_column_name": comparison.name, "comparison_description": comparison.label,
                            "comparison_levels": levels})
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "unique_id",
        "probability_two_random_records_match": parameters["prior"],
        "comparisons": comparisons,
        "blocking_rules_to_generate_predictions": [],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
    }


def train(con: duckdb.DuckDBPyConnection, table: str, *, seed: int = 1) -> dict:
    """Parameters trained on `table` (one row per identity: unique_id and the feature columns)."""
    from splink import Linker

    from ght.identity.engines import splink_table

    count = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    u_pairs = min(5e6, max(1e5, count * 20))
    # DuckDB, or Spark when GHT_LINKAGE_ENGINE says so (ght.identity.engines).
    if load_settings().linkage_engine == "duckdb":
        start = copy.deepcopy(DEFAULT_PARAMETERS)
        for name, u in _u_in_threads(con, table, u_pairs, seed).items():
            start["comparisons"][name]["u"] = u
        linker = Linker(splink_table(con, table), splink_settings(start), log_level=logging.ERROR)
    else:  # Spark spreads each statement over its executors itself
        linker = Linker(splink_table(con, table), splink_settings(), log_level=logging.ERROR)
        linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)
    linker.training.estimate_probability_two_random_records_match(list(DETERMINISTIC_RULES), recall=0.8)
    for rule in EM_BLOCKING_RULES:
        # Splink's Linker consumes the settings it is given: each rebuild gets its own copy.
        linker = _expectation_maximisation(linker, rule, lambda settings: Linker(
            splink_table(con, table), copy.deepcopy(settings), log_level=logging.ERROR))
    return _parameters_of(linker.misc.save_model_to_json())


def _u_in_threads(con: duckdb.DuckDBPyConnection, table: str, max_pairs: float, seed: int) -> dict[str, list[float]]:
    """u of each comparison by Splink's random sampling, the comparisons shared between threads
    (one DuckDB connection each). Splink estimates u a comparison at a time on a sample of a
    few thousand records (5 million pairs), which DuckDB runs on one core: a table that small is
    one row group. Each comparison on its own linker gets the same sample (same table, same
    seed) and so the same u; the string-similarity ones, the longest, are started first."""
    from splink import Linker

    from ght.identity.engines import splink_table

    def estimate(comparison: Comparison) -> list[float]:
        linker = Linker(splink_table(con.cursor(), table), splink_settings(only=[comparison]), log_level=logging.ERROR)
        linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
        levels = linker.misc.save_model_to_json()["comparisons"][0]["comparison_levels"]
        start = DEFAULT_PARAMETERS["comparisons"][comparison.name]["u"]
        return [lvl.get("u_probability") or start[i] for i, lvl in enumerate(l for l in levels if not l.get("is_null_level"))]

    by_cost = sorted(COMPARISONS, key=lambda c: -sum(level.sql.count(f) for level in c.levels for f in _SIMILARITIES))
    with ThreadPoolExecutor(max_workers=forked.available()) as pool:
        return dict(zip((c.name for c in by_cost), pool.map(estimate, by_cost), strict=True))


def _expectation_maximisation(linker, rule: str, relink):
    """One EM round. On some territories EM drives the m of a "different" level to exactly 0
    (every pair at that level is a certain non-match), which Splink 5 refuses (ValueError). Then
    the round is run again with the m of each comparison's last level fixed at its current value,
    floored: that error rate cannot be learnt from pairs blocked to agree; if it still fails,
    the round is skipped and the parameters stay as they were (logged)."""
    model = linker.misc.save_model_to_json()  # a failed round leaves the linker half-changed
    try:
        _em(linker, rule)
        return linker
    except ValueError as exc:
        if "m_probability" not in str(exc):
            raise
        log.info("EM on %s: an m fell to 0; again with the last levels' m fixed", rule)
    for comparison in model["comparisons"]:
        levels = [level for level in comparison["comparison_levels"] if not level.get("is_null_level")]
        last = levels[-1]
        last["m_probability"] = max(last.get("m_probability") or M_FLOOR, M_FLOOR)
        last["fix_m_probability"] = True
    fixed = relink(model)
    try:
        _em(fixed, rule)
    except ValueError as exc:
        if "m_probability" not in str(exc):
            raise
        log.warning("EM on %s skipped: an m fell to 0 again; parameters kept", rule)
        return fixed
    # A linker rebuilt from a model leaves out of its saved model the comparisons the rule
    # blocks on: take the trained comparisons over the model they started from.
    trained = {c["output_column_name"]: c for c in fixed.misc.save_model_to_json()["comparisons"]}
    model["comparisons"] = [trained.get(c["output_column_name"], c) for c in model["comparisons"]]
    return relink(model)


def _em(linker, rule: str) -> None:
    linker.training.estimate_parameters_using_expectation_maximisation(
        rule, fix_u_probabilities=True, max_pairs=EM_MAX_PAIRS)


def _parameters_of(model: dict) -> dict:
    """Our parameter format from Splink's model JSON; a level Splink could not estimate (never
    observed in the data) keeps its starting value."""
    trained = {"prior": model["probability_two_random_records_match"], "comparisons": {},
               "thresholds": dict(DEFAULT_PARAMETERS["thresholds"])}
    by_name = {c["output_column_name"]: c for c in model["comparisons"]}
    for comparison in COMPARISONS:
        start = DEFAULT_PARAMETERS["comparisons"][comparison.name]
        levels = [lvl for lvl in by_name[comparison.name]["comparison_levels"] if not lvl.get("is_null_level")]
        # A level never seen among matches gets m = 0, which would make one error in that
        # trait veto any link: floor the estimates so that evidence stays finite.
        m = [max(lvl.get("m_probability") or start["m"][i], M_FLOOR) for i, lvl in enumerate(levels)]
        u = [max(lvl.get("u_probability") or start["u"][i], U_FLOOR) for i, lvl in enumerate(levels)]
        trained["comparisons"][comparison.name] = {"m": m, "u": u}
    return trained
