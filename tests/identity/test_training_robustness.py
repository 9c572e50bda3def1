"""Training on territories where EM drives an m to exactly 0 (Splink 5 refuses the value):
the round is run again with the last levels' m fixed, and the file links as well as any other.
Seeds 23 and 5 at 2,000 persons are such territories."""

from pathlib import Path

import pytest

from ght.demo import GeneratorConfig, generate
from ght.identity.evaluate import evaluate
from support import run_ght


@pytest.mark.parametrize("seed", [23, 5])
def test_em_that_drives_an_m_to_zero_still_trains_and_links(seed, tmp_path: Path):
    generate(GeneratorConfig(patients=2000, seed=seed, clinical=False), tmp_path)
    links = tmp_path / "links.csv"
    linked = run_ght("identity", "link", str(tmp_path / "identities.csv"), "--out", str(links))
    assert linked.returncode == 0, linked.stderr
    result = evaluate(links, tmp_path / "ground_truth.csv")
    assert result.f1 >= 0.99 and not result.false_merges, (result.f1, result.false_merges[:3])
