"""The matcher's building blocks: the given-name typo level, the blocking keys, the stored
features the online matcher reads (always what the traits give), and the batch scoring whose
early bound must not change any result."""

import csv
from dataclasses import replace
from datetime import date

import duckdb
import pytest
from sqlalchemy import inspect, select

from ght.db.bulk import bulk_load
from ght.demo import GeneratorConfig, generate
from ght.directory.models import Establishment
from ght.identity.batch import load_features, prepare, score_pairs
from ght.identity.comparisons import COMPARISONS, DIFFERENT, vetoed
from ght.identity.csvio import read_identities
from ght.identity.features import FEATURE_COLUMNS, blocking_keys, features
from ght.identity.linkage import candidate_rows, identity_features
from ght.identity.models import BlockingKey, IdentityFeatures, LocalIdentity
from ght.identity.scoring import DEFAULT_PARAMETERS, ScoringModel
from ght.identity.service import IdentityInput, record_identity
from support import add_establishments

GIVEN = next(c for c in COMPARISONS if c.name == "given_names")
TYPO = next(i for i, level in enumerate(GIVEN.levels) if "faute de frappe" in level.label)


def f(given="EMMA", **traits):
    base = dict(birth_name="DUPONT", used_name="", given_names=given, birth_date="1985-03-14", sex="F",
                birth_place="49007", postcode="49000", phone="", ins="", ins_valid=False)
    return features(**{**base, **traits})


@pytest.mark.parametrize("a, b", [
    ("EMMA", "EOMA"), ("LOUIS", "KOUIS"), ("LEO", "LEI"), ("JADE", "UADE"),
    ("MIVHEL-PAUL", "MICHEL PAUL"), ("GERPAINE LUCIENNE", "GERMAINE-LUCIENNE"),
])
def test_one_typo_in_given_names_is_its_own_level_and_no_veto(a, b):
    level = GIVEN.level_of(f(a), f(b))
    assert level == TYPO
    assert not vetoed({"given_names": level, "sex": 0, "birth_date": 0})


@pytest.mark.parametrize("a, b", [("EMMA", "LOUISE"), ("PAUL", "PIERRE"), ("LEO", "LINA")])
def test_other_given_names_stay_different_and_vetoed(a, b):
    level = GIVEN.level_of(f(a), f(b))
    assert level == DIFFERENT["given_names"]
    assert vetoed({"given_names": level, "sex": 0, "birth_date": 0})


def test_a_model_stored_before_the_new_level_scores_with_the_starting_values():
    old = {**DEFAULT_PARAMETERS, "comparisons": dict(DEFAULT_PARAMETERS["comparisons"])}
    old["comparisons"]["given_names"] = {"m": [0.8, 0.09, 0.06, 0.03, 0.02], "u": [0.01, 0.002, 0.002, 0.01, 0.976]}
    model, default = ScoringModel(old), ScoringModel(DEFAULT_PARAMETERS)
    assert model.level_weights["given_names"] == default.level_weights["given_names"]
    assert model.score(f("EMMA"), f("EOMA")).weight == default.score(f("EMMA"), f("EOMA")).weight


def test_date_keys_are_split_by_sex_and_an_unknown_sex_is_in_both_halves():
    man, unknown = f(sex="M"), f(sex="U")
    assert "D:1985-03-14:M" in blocking_keys(man) and "D:1985-14-03:M" not in blocking_keys(man)
    assert {"D:1985-03-14:M", "D:1985-03-14:F"} <= set(blocking_keys(unknown))
    swapped = f(birth_date="1985-03-04", sex="F")
    assert {"D:1985-03-04:F", "D:1985-04-03:F"} <= set(blocking_keys(swapped))


@pytest.fixture(scope="module")
def territory(tmp_path_factory):
    folder = tmp_path_factory.mktemp("territory")
    generate(GeneratorConfig(patients=2000, seed=17, clinical=False), folder)
    return folder


def test_batch_scoring_equals_the_online_scoring_of_every_candidate_pair(territory):
    """The batch keeps, with the same weight, exactly the candidate pairs that the online
    scoring (Python) puts at or above review or that share a valid INS: its early bound on
    the costly comparisons drops nothing it should keep."""
    path = territory / "identities.csv"
    prepared = prepare(path, read_identities(path))
    model = ScoringModel(DEFAULT_PARAMETERS)
    con = duckdb.connect()
    load_features(con, prepared)
    batch = {(i, j): (weight, is_vetoed) for i, j, weight, _, _, is_vetoed in score_pairs(con, model)}
    by_key: dict[str, list[int]] = {}
    for index, keys in enumerate(prepared.keys):
        for key in keys:
            by_key.setdefault(key, []).append(index)
    candidates = {(a, b) for ids in by_key.values() for a in ids for b in ids if a < b}
    expected = {}
    for i, j in candidates:
        a, b = prepared.features[i], prepared.features[j]
        score = model.score(a, b)
        if score.probability >= model.review_threshold or (a.ins and a.ins == b.ins):
            expected[(i, j)] = (score.weight, vetoed({c.comparison: c.level for c in score.contributions}))
    assert len(expected) > 500
    assert batch.keys() == expected.keys()
    for pair, (weight, is_vetoed) in expected.items():
        assert batch[pair][0] == pytest.approx(weight, abs=1e-9) and batch[pair][1] == is_vetoed, pair


def _stored_features_match_the_traits(db):
    stored = {row.identity_id: row for row in db.scalars(select(IdentityFeatures))}
    identities = db.scalars(select(LocalIdentity).where(LocalIdentity.active.is_(True))).all()
    assert identities and stored.keys() == {i.id for i in identities}
    for identity in identities:
        assert tuple(getattr(stored[identity.id], c) for c in FEATURE_COLUMNS) == \
            tuple(getattr(identity_features(identity), c) for c in FEATURE_COLUMNS)
        keys = set(db.scalars(select(BlockingKey.key).where(BlockingKey.identity_id == identity.id)))
        assert keys == {k[:80] for k in blocking_keys(identity_features(identity))}


def test_stored_features_follow_the_traits_in_batch_and_online(db, territory):
    from ght.identity.batch import link_rows
    from ght.identity.service import merge_local_identities

    path = territory / "identities.csv"
    rows = read_identities(path)[:400]
    with path.open() as handle:
        sources = sorted({row["source"] for row in csv.DictReader(handle)})
    db.add_all(Establishment(finess_ej=s, name=s, short_name=s, role="partie") for s in sources)
    db.commit()
    link_rows(db, path, rows, actor="test", register_unknown=False)
    db.flush()
    _stored_features_match_the_traits(db)

    first = rows[0].data
    created = record_identity(db, replace(first, ipp="NEW-1", given_names="Eoma"), actor="t", channel="api")
    record_identity(db, replace(first, ipp="NEW-1", birth_name="Autre-Nom", phone="0612345678"), actor="t", channel="api")
    merge_local_identities(db, first.finess, first.ipp, "NEW-1", actor="t", channel="hl7")
    db.flush()
    assert db.get(IdentityFeatures, created.identity_id) is None  # retired: no longer a candidate
    _stored_features_match_the_traits(db)

    probe = identity_features(db.get(LocalIdentity, db.scalar(select(LocalIdentity.id).order_by(LocalIdentity.id))))
    found = candidate_rows(db, probe)
    assert found and all(set(blocking_keys(c.features)) & set(blocking_keys(probe)) for c in found)


def test_bulk_load_builds_the_indexes_again(db):
    table = LocalIdentity.__table__
    connection = db.connection()
    before = sorted(ix["name"] for ix in inspect(connection).get_indexes(table.name))
    with bulk_load(connection, [table]):
        assert not any(ix["name"] in {i.name for i in table.indexes}
                       for ix in inspect(connection).get_indexes(table.name))
    assert sorted(ix["name"] for ix in inspect(connection).get_indexes(table.name)) == before


def test_an_identity_whose_given_name_has_a_typo_links_online(db):
    add_establishments(db, "490000031", "490000049")
    base = IdentityInput(finess="490000031", ipp="1", birth_name="Leblasse", given_names="Emma",
                         birth_date=date(2006, 11, 13), sex="F", birth_place="49272", postcode="49610",
                         phone="0763285089")
    first = record_identity(db, base, actor="t", channel="api")
    again = record_identity(db, replace(base, finess="490000049", ipp="2", given_names="Eoma"), actor="t", channel="api")
    assert (again.decision, again.patient_id) == ("linked", first.patient_id)
