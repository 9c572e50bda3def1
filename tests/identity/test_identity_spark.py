"""The Spark engine of Splink's training (GHT_LINKAGE_ENGINE=spark), on a real local Spark:
`ght identity link` trains there when configured, stores the model as DuckDB's run does, and
the model links the generated territory as well as the DuckDB-trained one.

One Spark training for the whole module (a JVM and some 400 Spark jobs: the bulk of the
module's time), run by the command itself so that the setting is followed end to end."""

import csv

import pytest
from sqlalchemy import select

from ght.config import ConfigError, load_settings
from ght.db.engine import make_engine, session_factory
from ght.db.migrate import upgrade
from ght.demo import GeneratorConfig, generate
from ght.directory.models import Establishment
from ght.identity.engines import JAVA_MIN, java_major
from ght.identity.evaluate import evaluate
from ght.identity.models import MatchModel
from support import run_ght


java = java_major()
needs_java = pytest.mark.skipif(
    java is None or java < JAVA_MIN,
    reason=f"Spark needs Java {JAVA_MIN}+ (found: {java or 'none'}); CI machines have Java 17",
)


@pytest.fixture(scope="module")
def territory(tmp_path_factory):
    folder = tmp_path_factory.mktemp("territory")
    generate(GeneratorConfig(patients=3000, seed=11, clinical=False), folder)
    return folder


def _link(territory, folder, **env):
    """`ght identity link` into a new SQLite base of the territory's establishments; returns
    the evaluation of its links and the model it stored."""
    folder.mkdir()
    database = f"sqlite:///{folder}/ids.db"
    engine = make_engine(database)
    upgrade(engine)
    with (territory / "identities.csv").open() as handle:
        sources = sorted({row["source"] for row in csv.DictReader(handle)})
    with session_factory(engine)() as db:
        db.add_all(Establishment(finess_ej=f, name=f, short_name=f, role="partie") for f in sources)
        db.commit()
    links = folder / "links.csv"
    result = run_ght("identity", "link", str(territory / "identities.csv"), "--out", str(links),
                 "--database", database, cwd=folder, **env)
    assert result.returncode == 0, result.stderr[-3000:]
    with session_factory(engine)() as db:
        model = db.scalars(select(MatchModel).where(MatchModel.active)).one()
        stored = (model.method, model.trained_on, model.parameters)
    engine.dispose()
    return evaluate(links, territory / "ground_truth.csv"), stored


@needs_java
def test_spark_training_links_as_well_as_duckdb(territory, tmp_path):
    on_duckdb, duckdb_model = _link(territory, tmp_path / "duckdb", GHT_LINKAGE_ENGINE="duckdb")

    # Spark's own settings come from SPARK_CONF_DIR, as a DSI configures a cluster. An event
    # log, the proof that the training ran in Spark; and, since a training is some hundred
    # jobs on a few thousand rows, no adaptive re-planning and no code generation: a quarter
    # less JVM time at this size (they pay off on a cluster's volumes, not here).
    conf, events = tmp_path / "spark-conf", tmp_path / "spark-events"
    conf.mkdir()
    events.mkdir()
    (conf / "spark-defaults.conf").write_text("\n".join([
        "spark.eventLog.enabled true", f"spark.eventLog.dir file://{events}", "spark.eventLog.compress false",
        "spark.sql.adaptive.enabled false", "spark.sql.codegen.wholeStage false",
        "spark.sql.codegen.factoryMode NO_CODEGEN",
    ]) + "\n", encoding="utf-8")
    on_spark, spark_model = _link(territory, tmp_path / "spark", GHT_LINKAGE_ENGINE="spark", GHT_SPARK_MASTER="local[2]",
                                  GHT_SPARK_SHUFFLE_PARTITIONS="2", SPARK_CONF_DIR=str(conf))

    # Spark 4 writes one folder of rolling files per application.
    log = "".join(p.read_text(encoding="utf-8", errors="replace") for p in events.rglob("*") if p.is_file())
    assert "SparkListenerJobStart" in log
    # Our own comparison SQL (DuckDB's function name, served by Splink's jar) ran in Spark.
    assert "jaro_winkler_similarity" in log
    assert not (tmp_path / "spark" / "spark-warehouse").exists()  # nothing left in the working folder

    # Stored the same way: same method, same size, same levels; the estimates agree.
    assert spark_model[:2] == duckdb_model[:2] == ("splink-em", on_duckdb.identities)
    duckdb_params, spark_params = duckdb_model[2], spark_model[2]
    assert spark_params["prior"] == pytest.approx(duckdb_params["prior"], rel=0.05)
    for name, trained in duckdb_params["comparisons"].items():
        for side in ("m", "u"):
            assert len(spark_params["comparisons"][name][side]) == len(trained[side])
        assert spark_params["comparisons"][name]["m"] == pytest.approx(trained["m"], abs=0.02), name

    # Links as well: F1 within a hair of DuckDB's, no more false merges, a review queue as small.
    assert on_duckdb.f1 >= 0.98
    assert on_spark.f1 >= on_duckdb.f1 - 0.005, (on_spark.false_merges[:5], on_spark.missed_links[:5])
    assert len(on_spark.false_merges) <= len(on_duckdb.false_merges)
    assert on_spark.review_queue <= max(2 * on_duckdb.review_queue, 0.02 * on_spark.identities)


def test_an_unknown_engine_stops_the_command_with_the_variable_name(territory, tmp_path):
    result = run_ght("identity", "link", str(territory / "identities.csv"), "--out", str(tmp_path / "o.csv"),
                 GHT_LINKAGE_ENGINE="hadoop")
    assert result.returncode == 2 and "GHT_LINKAGE_ENGINE" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize(("variable", "value"), [
    ("GHT_LINKAGE_ENGINE", "hadoop"), ("GHT_SPARK_MASTER", "localhost:7077"), ("GHT_SPARK_SHUFFLE_PARTITIONS", "0"),
])
def test_spark_settings_are_checked(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()


@pytest.mark.parametrize(("engine", "master"), [
    ("duckdb", "local[2]"), ("SPARK", "local[*]"), ("spark", "spark://master-1:7077,master-2:7077"),
    ("spark", "yarn"), ("spark", "k8s://https://k8s.ght.local:6443"),
])
def test_spark_settings_accept_the_usual_masters(monkeypatch, engine, master):
    monkeypatch.setenv("GHT_LINKAGE_ENGINE", engine)
    monkeypatch.setenv("GHT_SPARK_MASTER", master)
    settings = load_settings()
    assert (settings.linkage_engine, settings.spark_master) == (engine.lower(), master)
