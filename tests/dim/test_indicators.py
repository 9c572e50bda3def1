"""Every indicator of the report against the counts made by hand on the fixture (dim_fixture)."""

from __future__ import annotations

import pytest

from dim.dim_fixture import CH_RUMS, CHU_RUMS, CORRESPONDENCE_CH, CORRESPONDENCE_CHU, KEYS_CH, rss_file
from ght.dim import analysis
from ght.dim.importer import Sources, import_file


@pytest.fixture
def tables(engine, dim_territory, tmp_path):
    import_file(engine, rss_file(CHU_RUMS), "chu.txt", 2026, 3, actor="t", var_dir=tmp_path,
                sources=Sources(correspondence=CORRESPONDENCE_CHU.encode()))
    import_file(engine, rss_file(CH_RUMS, "022"), "ch.txt", 2026, 3, actor="t", var_dir=tmp_path,
                sources=Sources(correspondence=CORRESPONDENCE_CH.encode(), chaining_keys=KEYS_CH.encode()))
    return {t.name: t for t in analysis.report(analysis.connect(tmp_path))}


def test_activity(tables):
    # CHU: RSS 1 (5 days), 2 (0), 3 (5), 4 (1), 5 (2): 13 days, 2.6; patients G1, G2 and the unlinked one.
    # CH: RSS 10 (10 days), 11 (3): 13 days, 6.5; G1, G3.
    assert tables["etablissement"].rows == [("CH", 2, 13, 6.5, 2), ("CHU", 5, 13, 2.6, 3)]
    assert tables["site"].rows == [("CH", 2, 13, 6.5, 2), ("CHU", 5, 13, 2.6, 3)]
    assert tables["mois"].rows == [("2026-03", 7, 26, 3.71, 4)]
    assert tables["um"].rows == [("CH / 2001", 2, 13, 6.5, 2), ("CHU / 1001", 4, 5, 1.25, 3),
                                 ("CHU / 1002", 2, 8, 4.0, 2)]


def test_pyramid_and_case_mix(tables):
    assert tables["pyramide"].rows == [("30-39 ans", 0, 1), ("40-49 ans", 0, 2), ("70-79 ans", 3, 0),
                                       ("80-89 ans", 1, 0)]
    assert [(c, n) for c, _, n in tables["chapitres"].rows] == [("II", 1), ("IV", 1), ("IX", 2), ("X", 1),
                                                                 ("XI", 1), ("XV", 1)]
    assert tables["dp"].rows[0] == ("I500", 2)  # RSS 1 (its longest RUM) and RSS 10
    assert tables["ccam"].rows == [("DEQP003", 2, 1), ("DZQM006", 1, 1), ("HHFA016", 1, 1)]


def test_territory(tables):
    assert tables["multi"].rows == [("1", 2), ("2", 1)]  # G2, G3 in one; G1 in both
    assert tables["flux"].rows == [("CHU", "CH", 1)]  # RSS 1 → RSS 10
    # CHU: RSS 3 (10 days after RSS 2) and RSS 4 (14 days after RSS 10, at the CH); RSS 10 is a transfer.
    assert tables["reh"].rows == [("CH", 0, 0, 2), ("CHU", 2, 1, 4)]
    assert [(r[0], r[3], r[5]) for r in tables["reh_liste"].rows] == [("G2", "CHU", 10), ("G1", "CHU", 14)]


def test_small_counts_masked_for_other_roles(tables):
    shown = {t.name: t for t in analysis.masked(list(tables.values()))}
    assert "reh_liste" not in shown
    assert shown["etablissement"].rows == [("CH", None, 13, None, None), ("CHU", None, 13, None, None)]
