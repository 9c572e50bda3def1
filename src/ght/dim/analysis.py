"""The DIM's indicators, computed by DuckDB over the Parquet mirror of the stored data.

A stay is an RSS: the RUMs of one N° de RSS in one imported file. Its entry is its first
RUM's entry, its exit its last RUM's exit, its length (days) exit − entry, its main diagnosis
the DP of its longest RUM (the first on a tie), its month that of its exit. docs/dim.md
defines each indicator; tests/dim/test_indicators.py checks each against hand counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ght.dim import mirror
from ght.dim.format import CIM10_CHAPTERS

COUNT, NUMBER, TEXT = "count", "number", "text"
PATIENT = "patient"  # a GHT patient id: nominative tables only; pseudonymised, it becomes TEXT
SMALL = 10  # counts below this are masked for every role but the DIM physician


@dataclass
class Column:
    name: str
    label: str
    kind: str = COUNT


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[tuple] = field(default_factory=list)
    nominative: bool = False  # rows name patients: shown to the DIM physician only

    def as_dicts(self) -> list[dict]:
        return [dict(zip((c.name for c in self.columns), row, strict=True)) for row in self.rows]


_STAY = """
CREATE OR REPLACE TEMP TABLE stay AS
SELECT establishment_id, any_value(establishment) AS establishment, any_value(site_id) AS site_id, import_id, rss,
       any_value(ght_patient_id) AS patient,
       coalesce(any_value(ght_patient_id), 'non-lié-' || import_id || '-' || rss) AS patient_key,
       min(entry_date) AS entry, max(exit_date) AS exit, any_value(birth_date) AS birth, any_value(sex) AS sex,
       arg_max(dp, date_diff('day', entry_date, exit_date) * 1000000 - line) AS dp,
       arg_max(exit_mode, line) AS exit_mode
FROM rum GROUP BY establishment_id, import_id, rss
"""

_EMPTY_RUM = ", ".join(f"NULL::{t} AS {n}" for n, t in (
    ("import_id", "INTEGER"), ("line", "INTEGER"), ("rss", "VARCHAR"), ("ght_patient_id", "VARCHAR"),
    ("birth_date", "DATE"), ("sex", "VARCHAR"), ("um", "VARCHAR"), ("entry_date", "DATE"), ("exit_date", "DATE"),
    ("exit_mode", "VARCHAR"), ("dp", "VARCHAR"), ("establishment_id", "INTEGER"), ("establishment", "VARCHAR"),
    ("site_id", "INTEGER")))
_EMPTY_ACT = ", ".join(f"NULL::{t} AS {n}" for n, t in (
    ("import_id", "INTEGER"), ("line", "INTEGER"), ("code", "VARCHAR"), ("executions", "SMALLINT"),
    ("establishment_id", "INTEGER")))


def connect(var_dir: Path, sites: dict[int, str] | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the views rum, act, stay and the tables chapter and site."""
    folder = mirror.directory(var_dir)
    con = duckdb.connect(config={"threads": 2})
    for view, suffix, empty in (("rum", "rum", _EMPTY_RUM), ("act", "act", _EMPTY_ACT)):
        files = sorted(str(p) for p in folder.glob(f"*.{suffix}.parquet")) if folder.is_dir() else []
        if files:
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            con.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM read_parquet([{listed}])")
        else:
            con.execute(f"CREATE TEMP VIEW {view} AS SELECT {empty} WHERE false")
    con.execute(_STAY)
    con.execute("CREATE TEMP TABLE chapter (first VARCHAR, last VARCHAR, chapter VARCHAR, label VARCHAR)")
    con.executemany("INSERT INTO chapter VALUES (?, ?, ?, ?)", [list(c) for c in CIM10_CHAPTERS])
    con.execute("CREATE TEMP TABLE site (id INTEGER, name VARCHAR)")
    if sites:
        con.executemany("INSERT INTO site VALUES (?, ?)", [[k, v] for k, v in sites.items()])
    return con


def _activity(con, title: str, name: str, key: str, label: str, source: str = "stay") -> Table:
    rows = con.execute(f"""
        SELECT {key} AS k, count(*) AS stays, sum(date_diff('day', entry, exit)) AS days,
               round(avg(date_diff('day', entry, exit)), 2) AS los, count(DISTINCT patient_key) AS patients
        FROM {source} GROUP BY k ORDER BY k""").fetchall()
    return Table(name, title, [Column("cle", label, TEXT), Column("sejours", "Séjours"), Column("journees", "Journées"),
                               Column("dms", "DMS (jours)", NUMBER), Column("file_active", "File active")], rows)


# Age in completed years at entry (date_sub counts whole years), in ten-year bands up to 90.
_AGE_BAND = "least(floor(date_sub('year', birth, entry) / 10) * 10, 90)::INTEGER"


def report(con) -> list[Table]:
    """Every indicator of the territorial report."""
    tables = [
        _activity(con, "Activité par établissement", "etablissement", "establishment", "Établissement"),
        _activity(con, "Activité par site", "site",
                  "coalesce((SELECT name FROM site WHERE site.id = stay.site_id), establishment)", "Site"),
        _activity(con, "Activité par mois de sortie", "mois", "strftime(exit, '%Y-%m')", "Mois"),
    ]
    um = con.execute("""
        SELECT establishment || ' / ' || um AS k, count(*) AS rums,
               sum(date_diff('day', entry_date, exit_date)) AS days,
               round(avg(date_diff('day', entry_date, exit_date)), 2) AS los,
               count(DISTINCT coalesce(ght_patient_id, 'non-lié-' || import_id || '-' || rss)) AS patients
        FROM rum GROUP BY k ORDER BY k""").fetchall()
    tables.append(Table("um", "Activité par unité médicale (RUM)",
                        [Column("cle", "Établissement / UM", TEXT), Column("rum", "RUM"), Column("journees", "Journées"),
                         Column("dms", "Durée moyenne de passage (jours)", NUMBER), Column("file_active", "File active")],
                        um))
    pyramid = con.execute(f"""
        SELECT {_AGE_BAND} AS band, count(*) FILTER (WHERE sex = '1') AS men,
               count(*) FILTER (WHERE sex = '2') AS women
        FROM stay GROUP BY band ORDER BY band""").fetchall()
    tables.append(Table("pyramide", "Pyramide des âges (séjours, âge à l'entrée)",
                        [Column("tranche", "Tranche d'âge", TEXT), Column("hommes", "Hommes"), Column("femmes", "Femmes")],
                        [(f"{b}-{b + 9} ans" if b < 90 else "90 ans et plus", m, w) for b, m, w in pyramid]))
    tables.append(Table("chapitres", "Case-mix par chapitre de la CIM-10 (diagnostic principal)",
                        [Column("chapitre", "Chapitre", TEXT), Column("libelle", "Libellé", TEXT),
                         Column("sejours", "Séjours")],
                        con.execute("""
        SELECT c.chapter, c.label, count(*) AS n FROM stay s
        JOIN chapter c ON substr(s.dp, 1, 3) BETWEEN c.first AND c.last
        GROUP BY c.chapter, c.label, c.first ORDER BY c.first""").fetchall()))
    tables.append(Table("dp", "Diagnostics principaux les plus fréquents",
                        [Column("dp", "Diagnostic principal", TEXT), Column("sejours", "Séjours")],
                        con.execute("SELECT dp, count(*) AS n FROM stay GROUP BY dp ORDER BY n DESC, dp LIMIT 20").fetchall()))
    tables.append(Table("ccam", "Actes CCAM les plus réalisés",
                        [Column("code", "Code CCAM", TEXT), Column("actes", "Réalisations"), Column("sejours", "Séjours")],
                        con.execute("""
        SELECT code, sum(executions) AS n, count(DISTINCT (import_id, rss)) AS stays
        FROM act JOIN (SELECT import_id, line, rss FROM rum) USING (import_id, line)
        GROUP BY code ORDER BY n DESC, code LIMIT 20""").fetchall()))
    tables += territorial(con)
    return tables


_SEQUENCE = """
CREATE OR REPLACE TEMP TABLE sequence AS
SELECT *, lag(establishment) OVER w AS prev_establishment, lag(exit) OVER w AS prev_exit,
       lag(exit_mode) OVER w AS prev_exit_mode
FROM stay WHERE patient IS NOT NULL
WINDOW w AS (PARTITION BY patient ORDER BY entry, exit, establishment_id, rss)
"""
# A transfer: the previous stay ended by a transfer (mode 7, or 0: provisional) and this one
# begins in another establishment the same day or the next.
_TRANSFER = ("prev_exit_mode IN ('7', '0') AND prev_establishment <> establishment "
             "AND date_diff('day', prev_exit, entry) BETWEEN 0 AND 1")
# A readmission: a stay beginning 0 to 30 days after the patient's previous exit, anywhere in
# the group, that is not a transfer, after a stay that did not end by death.
_READMISSION = (f"prev_exit IS NOT NULL AND date_diff('day', prev_exit, entry) BETWEEN 0 AND 30 "
                f"AND prev_exit_mode <> '9' AND NOT ({_TRANSFER})")


def territorial(con) -> list[Table]:
    con.execute(_SEQUENCE)
    multi = con.execute("""
        SELECT n, count(*) FROM (SELECT patient, count(DISTINCT establishment_id) AS n FROM stay
                                 WHERE patient IS NOT NULL GROUP BY patient) GROUP BY n ORDER BY n""").fetchall()
    flows = con.execute(f"""
        SELECT prev_establishment, establishment, count(*) FROM sequence WHERE {_TRANSFER}
        GROUP BY ALL ORDER BY 1, 2""").fetchall()
    readmissions = con.execute(f"""
        SELECT establishment, count(*) FILTER (WHERE {_READMISSION}) AS r,
               count(*) FILTER (WHERE {_READMISSION} AND prev_establishment <> establishment) AS elsewhere,
               count(*) AS stays
        FROM sequence GROUP BY establishment ORDER BY establishment""").fetchall()
    listed = con.execute(f"""
        SELECT patient, prev_establishment, strftime(prev_exit, '%d/%m/%Y'), establishment,
               strftime(entry, '%d/%m/%Y'), date_diff('day', prev_exit, entry)
        FROM sequence WHERE {_READMISSION} ORDER BY entry, patient LIMIT 200""").fetchall()
    return [
        Table("multi", "Patients pris en charge dans plusieurs établissements",
              [Column("etablissements", "Nombre d'établissements", TEXT), Column("patients", "Patients")],
              [(str(n), c) for n, c in multi]),
        Table("flux", "Transferts entre établissements",
              [Column("origine", "Établissement d'origine", TEXT), Column("destination", "Établissement d'accueil", TEXT),
               Column("transferts", "Transferts")], flows),
        Table("reh", "Réhospitalisations à 30 jours dans le GHT",
              [Column("etablissement", "Établissement de la réhospitalisation", TEXT),
               Column("rehospitalisations", "Réhospitalisations"),
               Column("ailleurs", "dont après un séjour dans un autre établissement"),
               Column("sejours", "Séjours de patients identifiés")], readmissions),
        Table("reh_liste", "Réhospitalisations à 30 jours : liste des patients",
              [Column("patient", "Patient (identifiant GHT)", PATIENT), Column("premier", "Premier séjour", TEXT),
               Column("sortie", "Sortie", TEXT), Column("second", "Réhospitalisation", TEXT),
               Column("entree", "Entrée", TEXT), Column("delai", "Délai (jours)", NUMBER)], listed, nominative=True),
    ]


def masked(tables: list[Table]) -> list[Table]:
    """What every role but the DIM physician sees: no nominative table, and each count below
    SMALL (and above zero) replaced by None (shown « < 10 »), with the averages of masked rows."""
    out = []
    for table in tables:
        if table.nominative or any(c.kind == PATIENT for c in table.columns):
            continue
        rows = []
        for row in table.rows:
            small = any(c.kind == COUNT and v is not None and 0 < v < SMALL for c, v in zip(table.columns, row, strict=True))
            rows.append(tuple(None if (c.kind == COUNT and v is not None and 0 < v < SMALL)
                              or (c.kind == NUMBER and small) else v
                              for c, v in zip(table.columns, row, strict=True)))
        out.append(Table(table.name, table.title, table.columns, rows))
    return out


def pseudonymised(tables: list[Table], pseudonymise) -> list[Table]:
    """The DIM physician's pseudonymised report: every table, each GHT patient id replaced by
    its keyed pseudonym (`pseudonymise`, ght.dim.pseudonym); no count masked."""
    out = []
    for table in tables:
        patient = [c.kind == PATIENT for c in table.columns]
        if not any(patient):
            out.append(table)
            continue
        columns = [Column(c.name, "Patient (pseudonyme)", TEXT) if p else c for c, p in zip(table.columns, patient)]
        rows = [tuple(pseudonymise(v) if p else v for v, p in zip(row, patient, strict=True)) for row in table.rows]
        out.append(Table(table.name, table.title, columns, rows))
    return out
