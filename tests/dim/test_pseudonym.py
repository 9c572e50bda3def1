"""The keyed pseudonym of the GHT id: stable under one key, changed by a rotation, refused in
French when the key is unusable; and what each role's report and exports hold: the DIM
physician's pseudonymised report names patients only by pseudonym, another role's holds no
patient-level data at all, the GHT id appears only in the DIM physician's nominative report."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dim.dim_fixture import CH_RUMS, CHU_RUMS, CORRESPONDENCE_CH, CORRESPONDENCE_CHU, PSEUDONYM_KEY, accounts, rss_file
from ght.config import Settings
from ght.dim import pseudonym
from ght.dim.importer import Sources, import_file
from ght.dim.pseudonym import Pseudonymiser, PseudonymKeyInvalid
from support import run_ght

GHT_IDS = {"G1", "G2", "G3"}
SECRET = "s" * 40


def test_pseudonym_is_stable_for_one_key():
    first, again = Pseudonymiser(f"v1:{SECRET}"), Pseudonymiser(f"v1:{SECRET}")
    assert first("G1") == again("G1") == first("G1")
    assert re.fullmatch(r"v1-[0-9a-f]{16}", first("G1"))
    assert first("G1") != first("G2") and first(None) is None


def test_a_rotation_changes_every_pseudonym():
    old = Pseudonymiser(f"v1:{SECRET}")
    new_version = Pseudonymiser(f"v2:{SECRET}")  # even with the same secret
    new_key = Pseudonymiser(f"v2:{'t' * 40}")
    for ght_id in GHT_IDS:
        digests = {p(ght_id).split("-", 1)[1] for p in (old, new_version, new_key)}
        assert len(digests) == 3
        assert new_key(ght_id).startswith("v2-")


def test_unusable_key_is_refused_in_french():
    with pytest.raises(PseudonymKeyInvalid, match="GHT_DIM_PSEUDONYM_KEY n'est pas défini : « version:secret » attendu"):
        Pseudonymiser("")
    with pytest.raises(PseudonymKeyInvalid, match="GHT_DIM_PSEUDONYM_KEY mal formé"):
        Pseudonymiser(SECRET)  # no version
    with pytest.raises(PseudonymKeyInvalid, match="GHT_DIM_PSEUDONYM_KEY : secret de 5 caractères, 32 au moins"):
        Pseudonymiser("v1:court")


def test_unset_key_is_made_once_in_var(tmp_path):
    made = pseudonym.from_settings(Settings(var_dir=tmp_path, dim_pseudonym_key=None))
    key_file = tmp_path / pseudonym.KEY_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert pseudonym.from_settings(Settings(var_dir=tmp_path, dim_pseudonym_key=None))("G1") == made("G1")


@pytest.fixture
def imported(engine, dim_territory, tmp_path):
    accounts(dim_territory)
    import_file(engine, rss_file(CHU_RUMS), "chu.txt", 2026, 3, actor="t", var_dir=tmp_path,
                sources=Sources(correspondence=CORRESPONDENCE_CHU.encode()))
    import_file(engine, rss_file(CH_RUMS, "022"), "ch.txt", 2026, 3, actor="t", var_dir=tmp_path,
                sources=Sources(correspondence=CORRESPONDENCE_CH.encode()))
    return {"GHT_DATABASE_URL": engine.url.render_as_string(hide_password=False), "GHT_VAR_DIR": str(tmp_path),
            "GHT_DIM_PSEUDONYM_KEY": PSEUDONYM_KEY}


def _report(env, folder: Path, *options, key=PSEUDONYM_KEY):
    done = run_ght("dim", "report", "--export", str(folder), *options, **{**env, "GHT_DIM_PSEUDONYM_KEY": key})
    return done


def _cells(folder: Path) -> dict[str, set[str]]:
    """Every value of every exported file, CSV and Parquet, by file name."""
    cells = {}
    for path in folder.iterdir():
        if path.suffix == ".csv":
            cells[path.name] = {cell for row in csv.reader(path.open(encoding="utf-8"), delimiter=";") for cell in row}
        else:
            cells[path.name] = {str(v) for column in pq.read_table(path).to_pydict().values() for v in column}
    return cells


def test_another_role_exports_no_patient_level_data(imported, tmp_path):
    done = _report(imported, tmp_path / "doc", "--compte", "doc")
    assert done.returncode == 0, done.stderr
    cells = _cells(tmp_path / "doc")
    assert "reh_liste.csv" not in cells and "reh_liste.parquet" not in cells
    assert all(not (values & GHT_IDS) and not any(v.startswith("v1-") for v in values) for values in cells.values())
    assert not re.search(r"\bG[123]\b", done.stdout)


def test_dim_physician_exports_pseudonyms_unless_nominative(imported, tmp_path):
    done = _report(imported, tmp_path / "pseudo", "--compte", "dim")
    assert done.returncode == 0, done.stderr
    cells = _cells(tmp_path / "pseudo")
    assert all(not (values & GHT_IDS) for values in cells.values())
    expected = {Pseudonymiser(PSEUDONYM_KEY)(g) for g in ("G1", "G2")}  # the two readmitted patients
    assert expected <= cells["reh_liste.csv"] and expected <= cells["reh_liste.parquet"]
    assert not re.search(r"\bG[123]\b", done.stdout)
    nominative = _report(imported, tmp_path / "nominatif", "--compte", "dim", "--nominatif")
    assert nominative.returncode == 0, nominative.stderr
    assert {"G1", "G2"} <= _cells(tmp_path / "nominatif")["reh_liste.csv"]


def test_unusable_key_stops_the_pseudonymised_report(imported, tmp_path):
    done = _report(imported, tmp_path / "out", "--compte", "dim", key="v1:court")
    assert done.returncode == 1
    assert "GHT_DIM_PSEUDONYM_KEY : secret de 5 caractères, 32 au moins" in done.stderr
    assert not (tmp_path / "out").exists()
