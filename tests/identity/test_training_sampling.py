"""EM trained on a sample of the blocked pairs (training.EM_MAX_PAIRS, Splink's own hash-based
record sampling) when a rule blocks more pairs than the cap: the sample is really smaller, the
m it learns stay close to those of all the pairs, and the territory links as well."""

import csv

import duckdb
import pytest

from ght.db.bulk import without_cyclic_gc
from ght.demo import GeneratorConfig, generate
from ght.identity import training
from ght.identity.batch import cluster, load_features, prepare, score_pairs
from ght.identity.csvio import read_identities
from ght.identity.evaluate import evaluate
from ght.identity.scoring import ScoringModel

CAP = 1500


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sampling")
    generate(GeneratorConfig(patients=10000, seed=7, clinical=False), folder)
    path = folder / "identities.csv"
    with without_cyclic_gc():
        prepared = prepare(path, read_identities(path))
    con = duckdb.connect()
    load_features(con, prepared)
    yield folder, prepared, con
    con.close()


def _blocked(con, rule: str) -> int:
    return con.execute(f"SELECT count(*) FROM features l JOIN features r ON l.unique_id < r.unique_id AND {rule}").fetchall()[0][0]


def _sampling(con, monkeypatch, cap) -> list[dict]:
    """What Splink decided for each EM round of training.train (its sessions' sampling info)."""
    sessions = []
    real = training._em

    def spy(linker, rule):
        real(linker, rule)
        sessions.append(linker._em_training_sessions[-1])

    monkeypatch.setattr(training, "EM_MAX_PAIRS", cap)
    monkeypatch.setattr(training, "_em", spy)
    training.train(con, "features")
    monkeypatch.setattr(training, "_em", real)
    return [s._sample_info for s in sessions]


def test_em_above_the_cap_trains_on_a_sample_close_to_all_pairs(features, monkeypatch, tmp_path):
    folder, prepared, con = features
    date_rule = training.EM_BLOCKING_RULES[0]
    assert _blocked(con, date_rule) > 3 * CAP

    date_round, _ = _sampling(con, monkeypatch, CAP)  # the name rule's pairs are too few to sample
    assert date_round["sampling_applied"] and date_round["expected_pairs_after_sampling"] < 1.5 * CAP, date_round

    monkeypatch.setattr(training, "EM_MAX_PAIRS", CAP)
    sampled = training.train(con, "features")
    monkeypatch.setattr(training, "EM_MAX_PAIRS", None)
    full = training.train(con, "features")
    assert sampled != full  # the sample is not all the pairs
    assert sampled["prior"] == full["prior"] and sampled["comparisons"].keys() == full["comparisons"].keys()
    for name, mu in full["comparisons"].items():
        assert sampled["comparisons"][name]["u"] == mu["u"]  # u comes from random sampling, not EM
        for m_sampled, m_full in zip(sampled["comparisons"][name]["m"], mu["m"], strict=True):
            assert abs(m_sampled - m_full) < 0.05, (name, sampled["comparisons"][name]["m"], mu["m"])

    model = ScoringModel(sampled)
    linkage = cluster(len(prepared.rows), score_pairs(con, model), model)
    links = tmp_path / "links.csv"
    with links.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["source", "local_id", "patient_id", "decision"])
        for row, patient, decision in zip(prepared.rows, linkage.cluster, linkage.decisions, strict=True):
            writer.writerow([row.data.finess, row.data.ipp, patient, decision])
    result = evaluate(links, folder / "ground_truth.csv")
    assert result.f1 >= 0.995 and not result.false_merges, (result.f1, result.false_merges[:3])


def test_u_in_threads_is_splinks_own_estimate(features):
    """u estimated a comparison at a time on its own linker and connection, in threads, is what
    Splink's one linker estimates for all of them: the same sample (same table, same seed)."""
    import logging

    from splink import Linker

    from ght.identity.engines import splink_table

    _, _, con = features
    threaded = training._u_in_threads(con, "features", 2e5, seed=1)
    linker = Linker(splink_table(con, "features"), training.splink_settings(), log_level=logging.ERROR)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e5, seed=1)
    for comparison in linker.misc.save_model_to_json()["comparisons"]:
        levels = [lvl for lvl in comparison["comparison_levels"] if not lvl.get("is_null_level")]
        name = comparison["output_column_name"]
        expected = [lvl.get("u_probability") or training.DEFAULT_PARAMETERS["comparisons"][name]["u"][i]
                    for i, lvl in enumerate(levels)]
        assert threaded[name] == pytest.approx(expected, rel=1e-9, abs=1e-15), name
