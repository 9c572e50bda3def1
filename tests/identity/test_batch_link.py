"""`ght identity link` and `ght identity evaluate` on a generated territory, and the checks of
the input file (line and column of every fault, nothing linked when the file is wrong)."""

import csv

import duckdb
import pytest

from ght.demo import GeneratorConfig, generate
from ght.identity.batch import gamma_sql, load_features, prepare
from ght.identity.comparisons import COMPARISONS
from ght.identity.csvio import INPUT_COLUMNS, read_identities
from ght.identity.evaluate import evaluate
from support import run_ght


@pytest.fixture(scope="module")
def territory(tmp_path_factory):
    folder = tmp_path_factory.mktemp("territory")
    generate(GeneratorConfig(patients=3000, seed=11, clinical=False), folder)
    return folder


def test_link_and_evaluate_a_generated_territory(territory, tmp_path):
    links = tmp_path / "links.csv"
    linked = run_ght("identity", "link", str(territory / "identities.csv"), "--out", str(links))
    assert linked.returncode == 0, linked.stderr
    with links.open() as handle:
        rows = list(csv.DictReader(handle))
    with (territory / "identities.csv").open() as handle:
        assert len(rows) == sum(1 for _ in handle) - 1
    assert list(rows[0]) == ["source", "local_id", "patient_id", "decision"]
    assert {r["decision"] for r in rows} <= {"linked", "review", "new"}

    result = evaluate(links, territory / "ground_truth.csv")
    assert result.precision >= 0.995, result.false_merges[:5]
    assert result.recall >= 0.98, result.missed_links[:5]
    assert result.review_queue <= 0.02 * result.identities

    report = run_ght("identity", "evaluate", "--links", str(links), "--truth", str(territory / "ground_truth.csv"))
    assert report.returncode == 0, report.stderr
    assert f"F1 : {result.f1:.5f}" in report.stdout
    assert f"Fausses fusions : {len(result.false_merges)}" in report.stdout


def test_link_into_a_given_database_needs_its_directory_and_loads_once(territory, tmp_path):
    from sqlalchemy import func, select

    from ght.db.engine import make_engine, session_factory
    from ght.db.migrate import upgrade
    from ght.directory.models import Establishment
    from ght.identity.models import LocalIdentity

    database = f"sqlite:///{tmp_path}/ids.db"
    refused = run_ght("identity", "link", str(territory / "identities.csv"), "--out", str(tmp_path / "a.csv"), "--database", database)
    assert refused.returncode == 2 and "établissement(s) inconnu(s) du GHT" in refused.stderr

    engine = make_engine(database)
    upgrade(engine)
    with territory.joinpath("identities.csv").open() as handle:
        sources = sorted({row["source"] for row in csv.DictReader(handle)})
    with session_factory(engine)() as db:
        db.add_all(Establishment(finess_ej=f, name=f, short_name=f, role="partie") for f in sources)
        db.commit()
    linked = run_ght("identity", "link", str(territory / "identities.csv"), "--out", str(tmp_path / "a.csv"), "--database", database)
    assert linked.returncode == 0, linked.stderr
    with session_factory(engine)() as db:
        assert db.scalar(select(func.count()).select_from(LocalIdentity)) == len(read_identities(territory / "identities.csv"))
    again = run_ght("identity", "link", str(territory / "identities.csv"), "--out", str(tmp_path / "b.csv"), "--database", database)
    assert again.returncode == 2 and "la base contient déjà des identités" in again.stderr
    engine.dispose()

    # Without a base (the in-memory default writes none): the same people, the same decisions,
    # only the drawn GHT ids differ.
    alone = run_ght("identity", "link", str(territory / "identities.csv"), "--out", str(tmp_path / "c.csv"))
    assert alone.returncode == 0, alone.stderr
    assert _partition(tmp_path / "c.csv") == _partition(tmp_path / "a.csv")


def _partition(links) -> tuple[set, dict]:
    """The groups of (source, local_id) a links file makes, and the decision of each row."""
    groups, decisions = {}, {}
    with links.open() as handle:
        for row in csv.DictReader(handle):
            groups.setdefault(row["patient_id"], set()).add((row["source"], row["local_id"]))
            decisions[(row["source"], row["local_id"])] = row["decision"]
    return {frozenset(g) for g in groups.values()}, decisions


def _write(path, lines):
    path.write_text("\n".join([",".join(INPUT_COLUMNS), *lines]) + "\n", encoding="utf-8")


def test_file_errors_name_line_and_column_and_nothing_is_written(tmp_path):
    source = tmp_path / "in.csv"
    _write(source, [
        "490000031,1,DUPONT,,JEAN,1980-02-30,M,49007,,,,,",
        "490000031,2,DUPONT,,JEAN,1980-02-03,X,49007,,,,,",
        "490000031,3,DUPONT,,JEAN",
        "490000031,1,DURAND,,PAUL,1970-01-01,M,49007,,,,,",
        ",4,DURAND,,PAUL,1970-01-01,M,49007,,,,,",
    ])
    out = tmp_path / "out.csv"
    result = run_ght("identity", "link", str(source), "--out", str(out))
    assert result.returncode == 2
    for expected in (
        "ligne 2, colonne birth_date : date invalide « 1980-02-30 »",
        "ligne 3, colonne sex : « X » au lieu de M, F ou U",
        "ligne 4 : 5 colonnes au lieu de 13",
        "ligne 5 : identité 490000031/1 déjà présente ligne 2",
        "ligne 6, colonne source : valeur obligatoire absente",
    ):
        assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_wrong_header_and_bad_birth_place(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("source,local_id,nom\n1,2,3\n", encoding="utf-8")
    result = run_ght("identity", "link", str(source), "--out", str(tmp_path / "o.csv"))
    assert result.returncode == 2 and "ligne 1 : en-tête attendu" in result.stderr
    _write(source, ["490000031,1,DUPONT,,JEAN,1980-02-03,M,ANGERS,,,,,"])
    result = run_ght("identity", "link", str(source), "--out", str(tmp_path / "o.csv"))
    assert result.returncode == 2
    assert "ligne 2, colonne birth_place : code INSEE du lieu de naissance invalide « ANGERS »" in result.stderr


def test_sql_and_python_levels_agree_on_every_candidate_pair(territory):
    """The trained m/u are estimated on the SQL levels and applied online by the Python ones."""
    path = territory / "identities.csv"
    prepared = prepare(path, read_identities(path))
    con = duckdb.connect()
    load_features(con, prepared)
    gammas = ", ".join(f"{gamma_sql(c)}" for c in COMPARISONS)
    pairs = con.execute(f"""
        SELECT l.unique_id, r.unique_id, {gammas}
        FROM (SELECT DISTINCT a.id AS i, b.id AS j FROM keys a JOIN keys b ON a.key = b.key AND a.id < b.id) p
        JOIN features l ON l.unique_id = p.i JOIN features r ON r.unique_id = p.j
    """).fetchall()
    assert len(pairs) > 1000
    for i, j, *levels in pairs:
        a, b = prepared.features[i], prepared.features[j]
        assert levels == [c.level_of(a, b) for c in COMPARISONS], (a, b)
