"""Importing one RSS file of one establishment and one period: checked whole, stored whole or
not at all; importing the same establishment and period again replaces it.

The stored rows are then mirrored into Parquet files (var/dim/, one pair per file) that the
analysis reads with DuckDB; the database stays the reference (`ght dim report --rebuild`
writes the mirror again from it)."""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from ght.db.bulk import bulk_insert, load_cache, without_cyclic_gc
from ght.db.engine import session_factory
from ght.dim import mirror
from ght.dim.linkage import Linker, read_chaining_keys, read_correspondence
from ght.dim.models import DimAct, DimImport, DimRum
from ght.dim.parser import Parser, Report, detect_layout, lines
from ght.directory.models import Establishment, Site

Progress = Callable[[int, int], None]

RUM_COLUMNS = ("import_id", "line", "rss", "nas", "rum", "ipp", "ght_patient_id", "link_method", "chaining_key",
               "birth_date", "sex", "um", "entry_date", "entry_mode", "provenance", "exit_date", "exit_mode",
               "destination", "postcode", "sessions", "dp", "dr", "das", "ghm")
ACT_COLUMNS = ("import_id", "line", "position", "act_date", "code", "phase", "activity", "executions")


class ImportRefused(Exception):
    """The file is refused: nothing was stored; `report` lists every error found."""

    def __init__(self, report: Report) -> None:
        super().__init__(f"{report.total} erreur(s)")
        self.report = report


@dataclass
class ImportResult:
    import_id: int
    finess: str
    establishment: str
    format: str
    lines: int
    stays: int
    acts: int
    linked: int
    replaced: bool


@dataclass
class Sources:
    """The files that come with the RSS file: the establishment's stay → IPP correspondence,
    and ATIH's chaining keys (output of its own tools), both optional."""

    correspondence: bytes | None = None
    chaining_keys: bytes | None = None


def _place(db: Session, finess: str) -> tuple[Establishment, Site | None] | None:
    site = db.scalars(select(Site).where(Site.finess_et == finess)).first()
    if site is not None:
        return db.get(Establishment, site.establishment_id), site
    establishment = db.scalars(select(Establishment).where(Establishment.finess_ej == finess)).first()
    if establishment is None:
        return None
    return establishment, establishment.main_site


class _Checks:
    """The checks that span lines: one FINESS a file, the RUMs of an RSS together and
    consistent, each RSS ending within the period."""

    def __init__(self, report: Report, finess: str, year: int, month: int) -> None:
        self.report, self.finess = report, finess
        self.first, self.last = date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
        self.seen: dict[str, int] = {}
        self.current: tuple | None = None  # (rss, line, birth date, sex, exit date)

    def line(self, rum) -> None:
        v, n = rum.values, rum.line
        if v["finess"] != self.finess:
            self.report.add(n, "N° FINESS d'inscription e-PMSI", f"« {v['finess']} » : un fichier par établissement "
                                                                  f"({self.finess} en ligne 1)")
        if v["date_sortie"] < v["date_entree"]:
            self.report.add(n, "Date de sortie de l'UM", f"{v['date_sortie']:%d/%m/%Y} antérieure à l'entrée "
                                                           f"({v['date_entree']:%d/%m/%Y})")
        if v["date_sortie"] > self.last:
            self.report.add(n, "Date de sortie de l'UM", f"{v['date_sortie']:%d/%m/%Y} après la fin de la période "
                                                           f"({self.last:%d/%m/%Y})")
        rss = v["rss"]
        if self.current and self.current[0] == rss:
            if (v["naissance"], v["sexe"]) != self.current[2:4]:
                self.report.add(n, "N° de RSS", f"« {rss} » : date de naissance ou sexe différents du RUM de la "
                                                f"ligne {self.current[1]}")
            self.current = (rss, n, v["naissance"], v["sexe"], v["date_sortie"])
            return
        self.close()
        if rss in self.seen:
            self.report.add(n, "N° de RSS", f"« {rss} » déjà vu en ligne {self.seen[rss]} : les RUM d'un RSS se suivent")
        self.seen[rss] = n
        self.current = (rss, n, v["naissance"], v["sexe"], v["date_sortie"])

    def close(self) -> None:
        if self.current and self.current[4] < self.first:
            self.report.add(self.current[1], "Date de sortie de l'UM",
                            f"le RSS « {self.current[0]} » se termine le {self.current[4]:%d/%m/%Y}, "
                            f"avant la période {self.first:%m/%Y}")


def parse_file(data: bytes, year: int, month: int, db: Session) -> tuple:
    """(layout, establishment, site, RUMs, report) of a file: every error of every line."""
    report = Report()
    numbered = list(lines(data))
    if not numbered:
        report.add(1, "Fichier", "fichier vide")
        raise ImportRefused(report)
    layout, problem = detect_layout(numbered[0][1])
    if layout is None:
        report.add(1, "N° de version du format du RUM", problem)
        raise ImportRefused(report)
    head = numbered[0][1][layout.by_name["finess"].start - 1:layout.by_name["finess"].end]
    place = _place(db, head)
    if place is None:
        report.add(1, "N° FINESS d'inscription e-PMSI", f"« {head} » : établissement inconnu de l'annuaire du GHT")
        raise ImportRefused(report)
    parser = Parser(layout)
    parser.report = report
    checks = _Checks(report, head, year, month)
    rums, total = [], len(numbered)
    for number, text, complete in numbered:
        rum = parser.parse(number, text, complete=complete)
        if rum is not None:
            checks.line(rum)
            rums.append(rum)
    checks.close()
    return layout, place[0], place[1], rums, report


def _rows(rums: list, import_id: int, traits: dict, keys: dict, linker: Linker) -> tuple:
    """(RUM rows, act rows, linked RUM count, distinct RSS) to store, in RUM_COLUMNS and
    ACT_COLUMNS order."""
    rum_rows, act_rows, linked, stays = [], [], 0, set()
    link = linker.link
    for rum in rums:
        v = rum.values
        stays.add(v["rss"])
        found = traits.get(v["nas"])
        patient, method = link(found, v["naissance"], v["sexe"])
        linked += patient is not None
        rum_rows.append((import_id, rum.line, v["rss"], v["nas"], v["rum"], found.ipp if found else None,
                         patient, method, keys.get(v["nas"]), v["naissance"], v["sexe"], v["um"],
                         v["date_entree"], v["mode_entree"], v["provenance"], v["date_sortie"],
                         v["mode_sortie"], v["destination"], v["residence"], v["seances"] or 0, v["dp"],
                         v["dr"], " ".join(rum.das), v.get("ghm") or ""))
        for position, act in enumerate(rum.acts, 1):
            act_rows.append((import_id, rum.line, position, act.date, act.code, act.phase, act.activite,
                             act.executions))
    return rum_rows, act_rows, linked, stays


def import_file(engine: Engine, data: bytes, filename: str, year: int, month: int, *, actor: str,
                sources: Sources = Sources(), var_dir: Path | None = None,
                progress: Progress | None = None) -> ImportResult:
    """Check `data` whole (ImportRefused lists every error), then store it in one transaction,
    replacing the period, and mirror it to Parquet under `var_dir`."""
    if not 1 <= month <= 12:
        raise ValueError("mois de 1 à 12")
    with without_cyclic_gc():  # a million RUMs are millions of small objects, none in a cycle
        return _import(engine, data, filename, year, month, actor, sources, var_dir, progress)


def _import(engine: Engine, data: bytes, filename: str, year: int, month: int, actor: str, sources: Sources,
            var_dir: Path | None, progress: Progress | None) -> ImportResult:
    with session_factory(engine)() as db:
        layout, establishment, site, rums, report = parse_file(data, year, month, db)
        traits = read_correspondence(sources.correspondence, report) if sources.correspondence else {}
        keys = read_chaining_keys(sources.chaining_keys, report) if sources.chaining_keys else {}
        if report:
            raise ImportRefused(report)
        if progress:
            progress(len(rums) // 2, len(rums))
        linker = Linker(db, establishment.id)
        finess = rums[0].values["finess"]
        previous = db.scalars(select(DimImport).where(DimImport.finess == finess, DimImport.year == year,
                                                      DimImport.month == month)).first()
        if previous is not None:
            for table in (DimAct, DimRum):
                db.execute(delete(table).where(table.import_id == previous.id))
            db.delete(previous)
            db.flush()
        record = DimImport(finess=finess, establishment_id=establishment.id, site_id=site.id if site else None,
                           year=year, month=month, format=layout.title, filename=Path(filename).name[:255],
                           sha256=hashlib.sha256(data).hexdigest(), lines=len(rums), stays=0, linked=0,
                           imported_by=actor[:64])
        db.add(record)
        db.flush()
        rum_rows, act_rows, linked, stays = _rows(rums, record.id, traits, keys, linker)
        record.stays, record.linked = len(stays), linked
        db.flush()
        connection = db.connection()
        with load_cache(connection):
            bulk_insert(connection, DimRum.__table__, rum_rows, columns=RUM_COLUMNS)
            bulk_insert(connection, DimAct.__table__, act_rows, columns=ACT_COLUMNS)
        db.commit()
        result = ImportResult(record.id, finess, establishment.short_name, layout.title, len(rums), len(stays),
                              len(act_rows), linked, previous is not None)
        if var_dir is not None:
            mirror.write_import(var_dir, record, establishment, rum_rows, act_rows)
        if progress:
            progress(len(rums), len(rums))
        return result
