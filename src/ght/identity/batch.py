"""Batch linkage of a file of local identities (`ght identity link`): train on the file with
Splink, score the candidate pairs in DuckDB with the same comparisons and blocking keys as
the online matcher, cluster under the INS rules, and store the result."""

from __future__ import annotations

import math
from functools import cached_property
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate, chain, repeat
from operator import attrgetter
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ght.db.base import utcnow
from ght.db.bulk import bulk_insert, bulk_load, without_cyclic_gc
from ght.directory.models import Establishment
from ght.identity.comparisons import COMPARISONS, VETO_LEVELS
from ght.identity.csvio import CsvProblem, Row
from ght import forked
from ght.identity.features import BLOCKING_FEATURES, FEATURE_COLUMNS, FEATURE_RULES, Features, features, keys_of
from ght.identity.models import (
    BlockingKey, GhtPatient, IdentityChange, IdentityFeatures, LinkEvent, LocalIdentity, ReviewItem,
)
from ght.identity.patient_ids import new_patient_ids
from ght.identity.rules import ColumnRules, Rule, chained, frozen_instances
from ght.identity.scoring import ScoringModel, store_model
from ght.identity.service import (
    NEEDS_VALID_INS, TRAIT_RULES, TRAITS, IdentityRejected, check_ipp, checked_flags, checked_status,
    normalised_traits,
)

Progress = Callable[[str, int, int], None]


@dataclass
class Prepared:
    """The rows of a file, normalised: their features as an Arrow table (a column per feature,
    the batch's DuckDB table), their blocking keys as another (`id`: the row's index, `key`),
    and, when kept for storing, their traits a column each. No million objects are kept."""

    rows: list[Row]
    feature_table: pa.Table
    key_table: pa.Table
    trait_columns: dict[str, list] | None = None  # TRAITS, when kept

    @cached_property
    def traits(self) -> list[dict]:
        """The traits of each row, as normalised_traits gives them."""
        if self.trait_columns is None:
            raise ValueError("traits not kept (prepare(..., traits=False))")
        return [dict(zip(TRAITS, values)) for values in zip(*(self.trait_columns[n] for n in TRAITS))]

    @cached_property
    def feature_columns(self) -> dict[str, list[str]]:
        return {name: self.feature_table.column(name).to_pylist() for name in FEATURE_COLUMNS}

    @cached_property
    def features(self) -> list[Features]:
        """The features of each row as objects, as the online matcher compares them."""
        return frozen_instances(Features, len(self.rows), self.feature_columns)

    @cached_property
    def keys(self) -> list[list[str]]:
        """The blocking keys of each row, as features.blocking_keys gives them."""
        keys: list[list[str]] = [[] for _ in self.rows]
        for row, key in zip(self.key_table.column("id").to_pylist(), self.key_table.column("key").to_pylist(), strict=True):
            keys[row].append(key)
        return keys


@dataclass
class Linkage:
    cluster: list[int]  # cluster index of each row
    decisions: list[str]
    reviews: list[tuple[str, int, int, float]] = field(default_factory=list)  # kind, i, j, weight


def prepare(path: Path, rows: list[Row], max_problems: int = 20, *, traits: bool = True,
            processes: int | None = None) -> Prepared:
    """Every row normalised (RNIV), with its features and blocking keys: the same functions as
    the online path (service.normalised_traits, features.features, features.keys_of), the
    per-trait and per-feature ones applied once per distinct value of their inputs (rules.py); a
    row one of them refuses goes through normalised_traits itself, which raises its error.
    `traits`: keep the traits (for storing the identities).

    The rows are split between `processes` (by default, one per core for every 100,000 rows):
    the first part here, each other one in a forked child (ght.forked) that sends back Arrow
    columns. A million rows take 18 s in one process, pure Python, while the second core
    waits; the Arrow columns cross the pipe in a few hundredths of a second, where the same
    columns as Python lists took 3 s to pickle and unpickle (and objects per row far more)."""
    if processes is None:
        processes = max(1, min(forked.available(), len(rows) // _ROWS_PER_PROCESS))
    # The children's parts a little smaller: the parent has none of their copy-on-write faults.
    weights = list(accumulate([1.0] + [_CHILD_SPEED] * (processes - 1), initial=0.0))
    bounds = [round(len(rows) * w / weights[-1]) for w in weights]
    children = [forked.in_child(lambda a=a, b=b: _prepare_part(rows, a, b, max_problems, traits))
                for a, b in zip(bounds[1:-1], bounds[2:], strict=True)]
    try:
        parts = [_prepare_part(rows, bounds[0], bounds[1], max_problems, traits), *(c.result() for c in children)]
    finally:
        for child in children:  # (when this part failed: the others are of no use)
            child.cancel()
    total = sum(part.total for part in parts)
    if total:
        raise CsvProblem(path, [p for part in parts for p in part.problems][:max_problems], total)
    trait_columns = {name: list(chain.from_iterable(part.traits[name] for part in parts)) for name in TRAITS} if traits else None
    return Prepared(rows, pa.concat_tables([part.feature_table for part in parts]),
                    pa.concat_tables([part.key_table for part in parts]), trait_columns)


# Rows prepared at a time: columns that stay in the processor caches.
_CHUNK = 2_000
# Below this many rows per process, a child costs more than it saves.
_ROWS_PER_PROCESS = 100_000
# The speed of a forked child against the parent's (measured at a million rows on two cores:
# it prepares the same rows about a fifth slower).
_CHILD_SPEED = 0.85
_FEATURE_OUTPUT = "feature:"  # prefix of the features' outputs, beside the traits'
_FEATURE_TRAITS = sorted({name for _, names, _ in FEATURE_RULES for name in names})


@dataclass
class _Part:
    """The prepared columns of rows[start:stop] as they grow (keys by their index in `rows`), or
    its problems."""

    traits: dict[str, list] = field(default_factory=lambda: {n: [] for n in TRAITS})
    features: dict[str, list[str]] = field(default_factory=lambda: {n: [] for n in FEATURE_COLUMNS})
    key_rows: list[int] = field(default_factory=list)
    key_values: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the first ones, "ligne N, colonne C : ..."
    total: int = 0  # problems in all

    def add(self, first_row: int, outputs: dict[str, list]) -> None:
        """A chunk's outputs, whose first row is rows[first_row]: traits, features, keys."""
        for name in TRAITS:
            self.traits[name] += outputs[name]
        for name in FEATURE_COLUMNS:
            self.features[name] += outputs[_FEATURE_OUTPUT + name]
        keys = list(map(keys_of, *(outputs[_FEATURE_OUTPUT + name] for name in BLOCKING_FEATURES)))
        self.key_rows += chain.from_iterable(map(repeat, range(first_row, first_row + len(keys)), map(len, keys)))
        self.key_values += chain.from_iterable(keys)

    def result(self, traits: bool) -> _PartResult:
        """The columns as they cross to the parent: features and keys as Arrow tables (what the
        batch's DuckDB load takes), the traits kept only if asked."""
        return _PartResult(
            pa.table({n: pa.array(self.features[n], pa.string()) for n in FEATURE_COLUMNS}),
            pa.table({"id": pa.array(self.key_rows, pa.int64()), "key": pa.array(self.key_values, pa.string())}),
            self.traits if traits else {}, self.problems, self.total)


@dataclass
class _PartResult:
    feature_table: pa.Table
    key_table: pa.Table
    traits: dict[str, list]  # empty when not kept
    problems: list[str]
    total: int


def _prepare_part(rows: list[Row], start: int, stop: int, max_problems: int, traits: bool) -> _PartResult:
    rules = chained((*_CHECKS, *TRAIT_RULES, *_STATUS), FEATURE_RULES, _FEATURE_OUTPUT)
    outputs_of = ColumnRules(rules, (IdentityRejected, _PerRow))
    inputs = sorted({name for _, names, _ in rules for name in names})
    part = _Part()
    for first in range(start, stop, _CHUNK):
        chunk = rows[first:min(first + _CHUNK, stop)]
        data = [row.data for row in chunk]
        outputs, refused = outputs_of({name: list(map(attrgetter(name), data)) for name in inputs})
        for index in refused:
            try:
                traits = normalised_traits(data[index], None)
            except IdentityRejected as exc:
                part.total += 1
                if len(part.problems) < max_problems:
                    part.problems.append(f"ligne {chunk[index].line}, colonne {_CSV_COLUMN.get(exc.field, exc.field)} : {exc.message}")
                continue
            feats = features(**{name: traits[name] for name in _FEATURE_TRAITS})
            for name, value in (*traits.items(), *((_FEATURE_OUTPUT + n, getattr(feats, n)) for n in FEATURE_COLUMNS)):
                outputs[name][index] = value
        if not part.total:  # (with a problem, only the others are looked for)
            part.add(first, outputs)
    return part.result(traits)


class _PerRow(Exception):
    """A value the batch leaves to normalised_traits, row by row."""


def _new_identity_status(status: str, flags: tuple[str, ...]) -> tuple[str, str]:
    """The status and flags normalised_traits gives a new identity (no current one); one that
    needs a valid INS is left to the per-row path (which checks it against the row's INS)."""
    checked = checked_status(status, None)
    if checked in NEEDS_VALID_INS:
        raise _PerRow
    return checked.value, checked_flags(flags)


# normalised_traits(data, None) as rules: its checks of the record, its traits, then the status.
_CHECKS: tuple[Rule, ...] = (((), ("ipp",), check_ipp),)
_STATUS: tuple[Rule, ...] = ((("status", "flags"), ("status", "flags"), _new_identity_status),)


_CSV_COLUMN = {"finess": "source", "ipp": "local_id"}


def load_features(con: duckdb.DuckDBPyConnection, prepared: Prepared) -> None:
    """The batch's DuckDB tables: `features` (unique_id: the row's index) and `keys` (`id` the
    row's index, `key`, and `h` its 64-bit hash, which the pairs are joined on: an integer join
    takes a third less than one on strings; two different keys of the same hash, about one
    chance in three million at a million identities, would only add a candidate pair, scored
    as any other)."""
    features = prepared.feature_table.add_column(0, "unique_id", pa.array(range(len(prepared.rows)), pa.int64()))
    for table, arrow, columns in (("features", features, "*"), ("keys", prepared.key_table, "id, key, hash(key) AS h")):
        con.register(f"{table}_arrow", arrow)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {columns} FROM {table}_arrow")
        con.unregister(f"{table}_arrow")


_FEATURE = "|".join(FEATURE_COLUMNS)


def _sides(sql: str) -> str:
    """Our level SQL uses Splink's `x_l`/`x_r` names; the batch query joins `l` and `r`."""
    return re.sub(rf"\b({_FEATURE})_([lr])\b", r"\2.\1", sql)


def gamma_sql(comparison, sides: Callable[[str], str] = _sides) -> str:
    """The comparison's level as SQL (-1 when null); `sides` names the two sides' columns."""
    cases = [f"WHEN {sides(comparison.null_sql)} THEN -1"]
    for index, level in enumerate(comparison.levels):
        cases.append(f"ELSE {index}" if level.sql == "ELSE" else f"WHEN {sides(level.sql)} THEN {index}")
    return f"CASE {' '.join(cases)} END"


def _fuzzy(comparison) -> bool:
    """Comparisons with a string-similarity level: the costly ones to evaluate per pair."""
    return any(fn in level.sql for level in comparison.levels for fn in ("jaro_winkler", "damerau_levenshtein"))


def _columns(comparison) -> list[str]:
    """The feature columns a comparison's SQL reads."""
    sql = " ".join([comparison.null_sql, *(level.sql for level in comparison.levels)])
    return sorted(set(re.findall(rf"\b({_FEATURE})_[lr]\b", sql)))


def score_pairs(con: duckdb.DuckDBPyConnection, model: ScoringModel) -> list[tuple]:
    """(i, j, weight, ins_i, ins_j, vetoed) for pairs at or above the review threshold, or
    sharing a valid INS; every pair shares at least one blocking key (never a full scan).

    Most pairs of a block (same birth date) are strangers. The cheap comparisons (equalities)
    are computed first; then the string similarities one comparison at a time, a pair going on
    to the next only if its weight could still reach the review threshold with the best level
    of each comparison left. That bound is exact, so the result is the same as computing every
    level of every pair; at a million identities 14 million pairs share a key, 2 million pass
    the cheap comparisons, and after the birth names a sixth of those are left for the given
    names. The distinct pairs are packed in one integer (a hash of one column, not two)."""
    def double(x: float) -> str:  # a bare literal would be a DECIMAL in DuckDB
        return f"CAST({x!r} AS DOUBLE)"

    def weight(c) -> str:
        whens = " ".join(f"WHEN {i} THEN {double(w)}" for i, w in enumerate(model.level_weights[c.name]))
        return f"CASE g_{c.name} {whens} ELSE {double(0.0)} END"

    def hopeful(known: list, left: list) -> str:
        """The pairs whose weight, with the best level of each comparison `left`, can still reach review."""
        best = sum(max(0.0, *model.level_weights[c.name]) for c in left)
        return (f"{double(model.prior_weight)} + {' + '.join(weight(c) for c in known)} + {double(best)}"
                f" >= {double(review_weight - 1e-9)} OR g_ins = 0")

    cheap = [c for c in COMPARISONS if not _fuzzy(c)]
    fuzzy = [c for c in COMPARISONS if _fuzzy(c)]
    review_weight = math.log2(model.review_threshold / (1 - model.review_threshold))
    veto = "g_ins <> 0 AND (" + " OR ".join(f"g_{name} = {level}" for name, level in VETO_LEVELS.items()) + ")"
    # The columns the string similarities read, carried with each pair under Splink's side names.
    carried = sorted({"ins", *(name for c in fuzzy for name in _columns(c))})
    stages = [f"""cheap AS (
            SELECT p.i, p.j, {", ".join(f"{gamma_sql(c)} AS g_{c.name}" for c in cheap)}
            FROM pairs p JOIN features l ON l.unique_id = p.i JOIN features r ON r.unique_id = p.j
        ), stage0 AS (
            SELECT h.*, {", ".join(f"l.{n} AS {n}_l, r.{n} AS {n}_r" for n in carried)}
            FROM (SELECT * FROM cheap WHERE {hopeful(cheap, fuzzy)}) h
            JOIN features l ON l.unique_id = h.i JOIN features r ON r.unique_id = h.j)"""]
    for k, c in enumerate(fuzzy, start=1):
        stages.append(f"""stage{k} AS (
            SELECT * FROM (SELECT *, {gamma_sql(c, lambda sql: sql)} AS g_{c.name} FROM stage{k - 1})
            WHERE {hopeful([*cheap, *fuzzy[:k]], fuzzy[k:])})""")
    query = f"""
        WITH pairs AS (
            SELECT (ij >> 32)::BIGINT AS i, (ij & 4294967295)::BIGINT AS j FROM (
                SELECT DISTINCT (a.id::UBIGINT << 32) | b.id::UBIGINT AS ij
                FROM keys a JOIN keys b ON a.h = b.h AND a.id < b.id)
        ), {", ".join(stages)}, weighted AS (
            SELECT *, {double(model.prior_weight)} + {" + ".join(weight(c) for c in COMPARISONS)} AS weight
            FROM stage{len(fuzzy)}
        )
        SELECT i, j, weight, ins_l, ins_r, {veto} AS vetoed FROM weighted
        WHERE weight >= {double(review_weight)} OR (ins_l <> '' AND ins_l = ins_r)
        ORDER BY weight DESC, i, j
    """
    return con.execute(query).fetchall()


def cluster(n: int, pairs: list[tuple], model: ScoringModel) -> Linkage:
    """Greedy union of the best pairs first; two clusters that carry different valid INS are
    never joined (a review item instead), and below the link threshold a pair is only reviewed."""
    parent = list(range(n))
    ins_of: list[set[str]] = [set() for _ in range(n)]

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    link_weight = math.log2(model.link_threshold / (1 - model.link_threshold))
    candidates_for_review: list[tuple[str, int, int, float]] = []
    for i, j, weight, ins_i, ins_j, _ in pairs:
        if ins_i:
            ins_of[i].add(ins_i)
        if ins_j:
            ins_of[j].add(ins_j)
    for i, j, weight, ins_i, ins_j, veto in pairs:
        ri, rj = find(i), find(j)
        if ri == rj:
            continue
        if ins_of[ri] and ins_of[rj] and ins_of[ri] != ins_of[rj]:
            candidates_for_review.append(("ins_conflict", i, j, weight))
            continue
        if weight >= link_weight and not veto:
            parent[rj] = ri
            ins_of[ri] |= ins_of[rj]
        else:
            candidates_for_review.append(("doubtful_pair", i, j, weight))
    roots = [find(x) for x in range(n)]
    reviews = [r for r in candidates_for_review if roots[r[1]] != roots[r[2]]]
    order: dict[int, int] = {}
    clusters = [order.setdefault(root, len(order)) for root in roots]
    in_review = {x for _, i, j, _ in reviews for x in (i, j)}
    seen: set[int] = set()
    decisions = []
    for index, c in enumerate(clusters):
        if c in seen:
            decisions.append("linked")
        else:
            seen.add(c)
            decisions.append("review" if index in in_review else "new")
    return Linkage(clusters, decisions, reviews)


def blocking_rows(con: duckdb.DuckDBPyConnection, first_id: int) -> list[tuple[str, int]]:
    """(key, identity id) of every blocking key of the batch's `keys` table, in key order: the
    primary key's B-tree then grows at its end instead of everywhere. DuckDB sorts the five
    million keys of a million identities in parallel, in a sixth of the time Python's sort of
    the same tuples took; strings sort by code point in both."""
    return con.execute("SELECT key, id + ? FROM keys ORDER BY key, id", [first_id]).fetchall()


def persist(db: Session, con: duckdb.DuckDBPyConnection, prepared: Prepared, linkage: Linkage,
            patient_ids: list[str], *, actor: str, register_unknown: bool) -> None:
    """Store identities, patients (`patient_ids`: the id of each cluster), history, link events,
    review items and blocking keys. Bulk inserts: one statement per table and chunk. `con` is
    the batch's DuckDB connection (load_features): the blocking keys are read from it."""
    finesses = sorted({row.data.finess for row in prepared.rows})
    establishments = dict(db.execute(select(Establishment.finess_ej, Establishment.id)
                                     .where(Establishment.finess_ej.in_(finesses))).all())
    missing = [f for f in finesses if f not in establishments]
    if missing and not register_unknown:
        raise IdentityRejected("finess", "établissement(s) inconnu(s) du GHT : " + ", ".join(missing[:10]))
    for finess in missing:
        establishment = Establishment(finess_ej=finess, name=f"Établissement {finess}",
                                      short_name=finess, role="partie")
        db.add(establishment)
        db.flush()
        establishments[finess] = establishment.id
    now = utcnow()
    first_id = (db.scalar(select(func.max(LocalIdentity.id))) or 0) + 1
    tables = [GhtPatient, LocalIdentity, IdentityChange, LinkEvent, IdentityFeatures, BlockingKey, ReviewItem]
    connection = db.connection()
    with bulk_load(connection, [t.__table__ for t in tables]):
        _bulk(db, GhtPatient, [(p,) for p in sorted(patient_ids)], columns=["id"], created_at=now)
        identities, history, events = [], [], []
        created = {"active": True, "version": 1, "created_at": now, "updated_at": now}
        for index, (row, traits) in enumerate(zip(prepared.rows, prepared.traits, strict=True)):
            identity_id = first_id + index
            patient = patient_ids[linkage.cluster[index]]
            identities.append(dict(traits, id=identity_id, establishment_id=establishments[row.data.finess],
                                   ipp=row.data.ipp, patient_id=patient))
            # The same snapshot as service.snapshot() takes of an identity created online.
            snapshot = dict(traits, ipp=row.data.ipp, patient_id=patient, active=True, finess=row.data.finess)
            snapshot["birth_date"] = traits["birth_date"].isoformat() if traits["birth_date"] else None
            history.append({"identity_id": identity_id, "reference": f"ligne {row.line}", "snapshot": snapshot})
            events.append({"identity_id": identity_id, "to_patient": patient, "reason": linkage.decisions[index]})
        _bulk(db, LocalIdentity, identities, **created)
        del identities
        _bulk(db, IdentityChange, history, version=1, at=now, actor=actor, channel="batch", event="create")
        del history
        _bulk(db, LinkEvent, events, at=now, action="link", actor=actor, channel="batch", details={})
        del events
        # Rows as tuples (no dict per row): the features in FEATURE_COLUMNS order.
        ids = range(first_id, first_id + len(prepared.rows))
        _bulk(db, IdentityFeatures, list(zip(ids, *(prepared.feature_columns[n] for n in FEATURE_COLUMNS), strict=True)),
              columns=["identity_id", *FEATURE_COLUMNS])
        blocking = blocking_rows(con, first_id)
        _bulk(db, BlockingKey, blocking, columns=["key", "identity_id"])
        del blocking
        _bulk(db, ReviewItem, [
            {"kind": kind, "identity_a": first_id + i, "identity_b": first_id + j, "score": weight,
             "probability": 1 / (1 + 2 ** -weight)}
            for kind, i, j, weight in linkage.reviews
        ], contributions={}, status="open", created_at=now)


def _bulk(db: Session, model, rows: list, columns: list[str] | None = None, **constants) -> None:
    bulk_insert(db.connection(), model.__table__, rows, constants=constants, columns=columns)


def link_rows(db: Session | None, path: Path, rows: list[Row], *, actor: str, register_unknown: bool,
              train: bool = True, progress: Progress | None = None) -> tuple[list[str], Linkage, dict]:
    """Link the rows of a file into the empty identity base `db`; returns the GHT patient id of
    each row, the linkage and the parameters. With no `db`, only the links are made (a run
    whose database would be thrown away at its end need not write one)."""
    step = progress or (lambda name, done, total: None)
    with without_cyclic_gc():  # millions of rows, traits, features: none in a cycle
        return _link_rows(db, path, rows, actor=actor, register_unknown=register_unknown, train=train, step=step)


def _link_rows(db: Session | None, path: Path, rows: list[Row], *, actor: str, register_unknown: bool,
               train: bool, step: Progress) -> tuple[list[str], Linkage, dict]:
    from ght.identity import training
    from ght.identity.scoring import DEFAULT_PARAMETERS

    prepared = prepare(path, rows, traits=db is not None)
    step("préparation", 1, 5)
    con = duckdb.connect()
    try:
        load_features(con, prepared)
        parameters = training.train(con, "features") if train and len(rows) >= 50 else DEFAULT_PARAMETERS
        step("apprentissage", 2, 5)
        model = ScoringModel(parameters)
        pairs = score_pairs(con, model)
        step("comparaison des paires", 3, 5)
        linkage = cluster(len(prepared.rows), pairs, model)
        del pairs
        step("regroupement", 4, 5)
        patient_ids = new_patient_ids(max(linkage.cluster, default=-1) + 1)  # one per cluster
        if db is not None:
            store_model(db, parameters, method="splink-em" if parameters is not DEFAULT_PARAMETERS else "default",
                        trained_on=len(rows))
            persist(db, con, prepared, linkage, patient_ids, actor=actor, register_unknown=register_unknown)
        step("enregistrement" if db is not None else "liens", 5, 5)
    finally:
        con.close()
    return [patient_ids[c] for c in linkage.cluster], linkage, parameters
