"""The engine on which Splink trains the model (ght.identity.training): DuckDB in this
process by default, Spark when one machine is not enough (GHT_LINKAGE_ENGINE=spark). The
same settings and EM schedule run on either and the same model JSON comes back."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile

import duckdb

from ght.config import ConfigError, Settings, load_settings

log = logging.getLogger("ght.identity.engines")

# Our level SQL is DuckDB's; on Spark, Jaro-Winkler comes from the jar Splink ships,
# registered here under DuckDB's name so that one SQL text serves both engines.
_SPARK_ALIASES = (("jaro_winkler_similarity", "uk.gov.moj.dash.linkage.JaroWinklerSimilarity"),)
JAVA_MIN = 17  # Spark 4


def splink_table(con: duckdb.DuckDBPyConnection, table: str, settings: Settings | None = None):
    """`table` of `con` registered on the configured engine, ready for splink.Linker."""
    settings = settings or load_settings()
    if settings.linkage_engine == "spark":
        return _spark_table(con, table, settings)
    from splink import DuckDBAPI

    return DuckDBAPI(connection=con).register(table)


def _spark_table(con: duckdb.DuckDBPyConnection, table: str, settings: Settings):
    base = spark_session(settings)  # first: it says clearly when pyspark or Java is missing
    from pyspark.sql.types import DoubleType
    from splink import SparkAPI

    # The previous training's persisted pairs are of no further use: free the executors.
    base.catalog.clearCache()
    # A session of its own per training: temporary views and UDFs do not leak between runs.
    session = base.newSession()
    # "persist" keeps Splink's intermediate tables in executor memory (spilling to their
    # local disk): no shared checkpoint folder to configure, on a laptop or a cluster.
    db_api = SparkAPI(spark_session=session, break_lineage_method="persist")
    for name, java_class in _SPARK_ALIASES:
        session.udf.registerJavaFunction(name, java_class, DoubleType())
    # DuckDB -> Arrow -> Spark: columnar all the way, no pandas and no row-by-row copy.
    identities = con.sql(f"SELECT * FROM {table}").to_arrow_table()
    log.info("Splink training on Spark (%s): %d identities", settings.spark_master, identities.num_rows)
    return db_api.register(identities)


def spark_session(settings: Settings):
    """The process's SparkSession (created once, reused by later trainings)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("GHT_LINKAGE_ENGINE=spark : pyspark n'est pas installé "
                          "(pip install -e '.[spark]')") from None
    java = java_major()
    if java is None or java < JAVA_MIN:
        found = "introuvable (ni JAVA_HOME ni java dans le PATH)" if java is None else f"version {java}"
        raise ConfigError(f"GHT_LINKAGE_ENGINE=spark : Spark demande Java {JAVA_MIN} ou plus ; Java {found}")
    from splink.backends.spark import similarity_jar_location

    builder = (
        SparkSession.builder.master(settings.spark_master).appName("ght-identity-training")
        # The similarity UDFs ship inside Splink's wheel: a local file, never a Maven fetch.
        .config("spark.jars", similarity_jar_location())
        .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
        .config("spark.ui.showConsoleProgress", "false")  # would garble our progress bar
        # Splink only makes temporary views: keep Spark's empty ./spark-warehouse out of the
        # operator's working folder.
        .config("spark.sql.warehouse.dir", os.path.join(tempfile.gettempdir(), "ght-spark-warehouse"))
    )
    if settings.spark_master.startswith("local"):
        builder = builder.config("spark.ui.enabled", "false")  # no port 4040 for a local run
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def java_major() -> int | None:
    """Major version of the Java that pyspark will launch (JAVA_HOME first, as pyspark does)."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        return None
    try:
        banner = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(1\.)?(\d+)', banner)
    return int(match.group(2)) if match else None
