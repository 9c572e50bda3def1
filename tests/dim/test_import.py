"""Importing RSS files: valid files of each format stored whole, broken ones refused whole
with the exact error report (line, field, reason), a period imported again replaced."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dim.dim_fixture import CH, CH_RUMS, CHU, CHU_RUMS, CORRESPONDENCE_CHU, rss_file
from ght.dim.importer import ImportRefused, Sources, import_file
from ght.dim.models import DimAct, DimImport, DimRum


def _import(engine, data, tmp_path, **kwargs):
    return import_file(engine, data, "rss.txt", 2026, 3, actor="test", var_dir=tmp_path, **kwargs)


def _errors(engine, data, tmp_path) -> list[str]:
    with pytest.raises(ImportRefused) as refused:
        _import(engine, data, tmp_path)
    return [str(e) for e in refused.value.report.errors]


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("version, grouped", [("022", False), ("023", False), ("023", True)])
def test_valid_file_is_imported_whole(engine, dim_territory, tmp_path, version, grouped):
    result = _import(engine, rss_file(CHU_RUMS, version, grouped), tmp_path,
                     sources=Sources(correspondence=CORRESPONDENCE_CHU.encode()))
    assert (result.lines, result.stays, result.acts, result.linked, result.replaced) == (6, 5, 3, 5, False)
    db = dim_territory
    assert _count(db, DimRum) == 6 and _count(db, DimAct) == 3
    first = db.scalars(select(DimRum).order_by(DimRum.line)).first()
    assert (first.rss, first.um, first.dp, first.das, first.ght_patient_id, first.link_method) == \
        ("1", "1001", "I210", "E119", "G1", "ipp")
    assert (tmp_path / "dim" / f"{CHU}-202603.rum.parquet").exists()


def test_reimporting_a_period_replaces_it(engine, dim_territory, tmp_path):
    _import(engine, rss_file(CHU_RUMS), tmp_path)
    result = _import(engine, rss_file(CHU_RUMS[:3]), tmp_path)
    assert result.replaced and result.stays == 2
    db = dim_territory
    assert _count(db, DimImport) == 1 and _count(db, DimRum) == 3 and _count(db, DimAct) == 3


def _line(rums, index=0) -> str:
    return rss_file(rums).decode("latin-1").split("\r\n")[index]


def test_wrong_length(engine, dim_territory, tmp_path):
    line = _line(CHU_RUMS)  # one DAS and one act announced
    data = (line[:-29] + "\n").encode()
    assert _errors(engine, data, tmp_path) == [
        "ligne 1, Ligne : longueur 185, 214 attendue (partie fixe 177 + 1 DAS + 0 DAD à 8 + 1 actes à 29)"]


def test_bad_dates(engine, dim_territory, tmp_path):
    line = _line(CHU_RUMS)
    broken = line[:62] + "31021950" + line[70:77] + "01132026" + line[85:]  # birth date, entry date
    act = broken[:185] + "30022026" + broken[193:]
    assert _errors(engine, (act + "\n").encode(), tmp_path) == [
        "ligne 1, Date de naissance : « 31021950 » : date invalide (JJMMAAAA attendu)",
        "ligne 1, Date d'entrée dans l'UM : « 01132026 » : date invalide (JJMMAAAA attendu)",
    ]
    only_act = line[:185] + "30022026" + line[193:]
    assert _errors(engine, (only_act + "\n").encode(), tmp_path) == [
        "ligne 1, Acte n° 1 : Date de réalisation de l'acte : « 30022026 » : date invalide (JJMMAAAA attendu)"]


def test_unknown_codes(engine, dim_territory, tmp_path):
    good = _line(CHU_RUMS, 2)  # RSS 2: no DAS, one act
    mode = good[:95] + "X" + good[96:]
    dp = good[:125] + "D900    " + good[133:]
    ccam = good[:185] + "DZQ0006" + good[192:]
    data = "\n".join([good, mode, dp, ccam, ""]).encode()
    assert _errors(engine, data, tmp_path) == [
        "ligne 2, Mode de sortie de l'UM : « X » : code inconnu (attendu : 0, 6, 7, 8, 9)",
        "ligne 3, Diagnostic principal : « D900 » : code CIM-10 inconnu (hors des chapitres de la CIM-10)",
        "ligne 4, Acte n° 1 : Code CCAM : « DZQ0006 » : code CCAM mal formé (quatre lettres, trois chiffres)",
    ]


def test_rums_of_an_rss_together_and_within_the_period(engine, dim_territory, tmp_path):
    first, second, third = _line(CHU_RUMS, 0), _line(CHU_RUMS, 2), _line(CHU_RUMS, 1)
    early = second[:87] + "28022026" + second[95:]
    early = early[:77] + "27022026" + early[85:]
    assert _errors(engine, "\n".join([first, early, third, ""]).encode(), tmp_path) == [
        "ligne 2, Date de sortie de l'UM : le RSS « 2 » se termine le 28/02/2026, avant la période 03/2026",
        "ligne 3, N° de RSS : « 1 » déjà vu en ligne 1 : les RUM d'un RSS se suivent",
    ]


def test_truncated_file(engine, dim_territory, tmp_path):
    data = rss_file(CHU_RUMS)[:-300]
    last = data.decode("latin-1").split("\r\n")[-1]
    assert _errors(engine, data, tmp_path) == [
        f"ligne 5, Ligne : fichier tronqué : la dernière ligne s'arrête à {len(last)} caractères sur 177 attendus"]


def test_refused_file_leaves_the_stored_period_untouched(engine, dim_territory, tmp_path):
    _import(engine, rss_file(CH_RUMS, "022"), tmp_path)
    broken = rss_file(CH_RUMS, "022").replace(b"C509", b"D999")
    with pytest.raises(ImportRefused):
        _import(engine, broken, tmp_path)
    db = dim_territory
    assert _count(db, DimRum) == 2 and db.scalar(select(DimRum.dp).where(DimRum.rss == "11")) == "C509"


def test_file_level_errors(engine, dim_territory, tmp_path):
    assert _errors(engine, b"", tmp_path) == ["ligne 1, Fichier : fichier vide"]
    line = _line(CHU_RUMS)
    assert _errors(engine, (line[:9] + "021" + line[12:] + "\n").encode(), tmp_path) == [
        "ligne 1, N° de version du format du RUM : « 021 » : format non pris en charge "
        "(formats reconnus : 022, 023, 122, 123)"]
    assert _errors(engine, ("999999999" + line[9:] + "\n").encode(), tmp_path) == [
        "ligne 1, N° FINESS d'inscription e-PMSI : « 999999999 » : établissement inconnu de l'annuaire du GHT"]
    other = _line(CH_RUMS)
    assert _errors(engine, (line + "\n" + other.replace(CH, CHU, 0)[:9] + other[9:] + "\n").encode(), tmp_path)[0] == \
        f"ligne 2, N° FINESS d'inscription e-PMSI : « {CH} » : un fichier par établissement ({CHU} en ligne 1)"
