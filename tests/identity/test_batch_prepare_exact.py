"""The batch's fast read and prepare (a chunk of rows at a time, column by column, each trait once
per distinct value) give exactly what the straightforward per-row composition of the online
functions gives: the same rows, traits, features and blocking keys, the same refusals."""

import csv
from dataclasses import replace
from datetime import date

import pytest

import ght.identity.batch as batch
import ght.identity.csvio as csvio
import ght.identity.rules as rules
from ght.demo import GeneratorConfig, generate
from ght.identity.csvio import INPUT_COLUMNS, CsvProblem, Row, read_identities
from ght.identity.features import FEATURE_COLUMNS, blocking_keys, features
from ght.identity.service import IdentityInput, normalised_traits

# Rows that the generator does not write: every spelling normalise.py handles, and faults the
# online checks refuse later (prepare) rather than the file checks (read).
TRICKY = [
    ["490000031", "T1", "Lefèvre-Œuvray", "DE LA FONTAINE", "Marie-Hélène, Anne  Sophie", "1980-02-03", "f",
     "2a004", "2 80 02 2A 004 001 77", " 3 rue  de l’Église ", " 49000 ", "ST-ETIENNE", "+33 6 12 34 56 78"],
    ["490000031", "T2", "d’Artagnan", "", "Jean–Pierre", "1975-12-31", "m", "99134", "1750299134001xx", "", "", "Saint Étienne", "0033612345678"],
    ["490000031", "T3", "van der Berg", "LE GOFF", "Æsa ,Zoë", "", "", "", "", "", "", "Ste  Foy", ""],
    ["490000031", "T4", "O ' Neil", "Mc Donald", "", "2001-01-05", "U", "75056", "not an ins", "", "", "", "06 12"],
    ["490000031", "T5", "ß-Ø-Ł", "DU  PONT", "Ève", "1990-05-05", "F", "49007", "", "", "", "STS PIERRE", ""],
    ["490000031", "T6", " ", "", "Jean Jean", "1990-05-05", "u", "", "", "", "", "", ""],
    ["490000031", "T7", "LEGOFF", "LE-GOFF", "Jean-Pierre", "1990-05-05", "m", "49007", "180012A004001", "", "", "", ""],
]


@pytest.fixture(scope="module")
def territory(tmp_path_factory):
    folder = tmp_path_factory.mktemp("territory")
    generate(GeneratorConfig(patients=3000, seed=11, clinical=False), folder)
    path = folder / "identities.csv"
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([])  # an empty line: skipped, counted
        writer.writerows(TRICKY)
    return path


def _reference_read(path):
    """The plain way: a dict per row, IdentityInput's own constructor."""
    rows = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        next(reader)
        for line, values in enumerate(reader, start=2):
            if values:
                r = {k: v.strip() for k, v in zip(INPUT_COLUMNS, values, strict=True)}
                rows.append(Row(line, IdentityInput(
                    finess=r["source"], ipp=r["local_id"], birth_name=r["birth_name"], used_name=r["used_name"],
                    given_names=r["given_names"], birth_date=date.fromisoformat(r["birth_date"]) if r["birth_date"] else None,
                    sex=r["sex"], birth_place=r["birth_place"], ins=r["ins"], address=r["address"],
                    postcode=r["postcode"], city=r["city"], phone=r["phone"])))
    return rows


def _reference_prepare(rows):
    """The online path, row by row."""
    traits = [normalised_traits(row.data, None) for row in rows]
    feats = [features(**{k: t[k] for k in ("birth_name", "used_name", "given_names", "birth_date", "sex",
                                           "birth_place", "postcode", "phone", "ins", "ins_valid")}) for t in traits]
    return traits, feats, [sorted({k[:80] for k in blocking_keys(f)}) for f in feats]


def _assert_prepared_as_online(rows, path, processes=None):
    prepared = batch.prepare(path, rows, processes=processes)
    traits, feats, keys = _reference_prepare(rows)
    assert prepared.rows is rows
    assert len(prepared.traits) == len(traits)
    for fast, slow in zip(prepared.traits, traits, strict=True):
        assert list(fast.items()) == list(slow.items())  # values and key order
    assert prepared.features == feats
    # The same features a column at a time (the batch's DuckDB table and stored rows).
    assert prepared.feature_columns == {n: [getattr(f, n) for f in feats] for n in FEATURE_COLUMNS}
    assert prepared.keys == keys


@pytest.mark.parametrize("chunk", [1_000, 7])
def test_fast_read_equals_the_plain_read(territory, monkeypatch, chunk):
    monkeypatch.setattr(csvio, "_CHUNK", chunk)
    fast, slow = read_identities(territory), _reference_read(territory)
    assert len(fast) > 4000
    assert [(r.line, r.data) for r in fast] == [(r.line, r.data) for r in slow]
    assert all(type(r) is Row and type(r.data) is IdentityInput for r in fast)
    with pytest.raises(AttributeError):
        fast[0].data.ipp = "x"  # still frozen
    assert hash(fast[-1].data) == hash(slow[-1].data) and fast[-1] == slow[-1]


@pytest.mark.parametrize(("chunk", "warm_up", "processes"), [(2_000, 50_000, 1), (5, 20, 1), (1_000, 50_000, 3)])
def test_fast_prepare_equals_the_online_functions_row_by_row(territory, monkeypatch, chunk, warm_up, processes):
    """Also split between three processes (two forked children): the same columns, in row order."""
    monkeypatch.setattr(batch, "_CHUNK", chunk)
    monkeypatch.setattr(rules, "_WARM_UP", warm_up)  # small: rules also go to one call per row
    rows = read_identities(territory)
    _assert_prepared_as_online(rows, territory, processes)


def test_rows_the_rules_leave_to_the_per_row_path(territory):
    """A status that needs a valid INS, flags, a used given name, an INS OID, sexes the file check
    refuses ('H', '1', '2'): not in the CSV, but a row carrying them is prepared as online."""
    rows = read_identities(territory)[:300]
    valid_ins = next(r.data.ins for r in rows if r.data.ins and normalised_traits(r.data, None)["ins_valid"])
    rows[3] = Row(rows[3].line, replace(rows[3].data, status="QUAL", ins=valid_ins, flags=("DOUB", "CACH", "DOUB")))
    rows[5] = Row(rows[5].line, replace(rows[5].data, status="VALI", used_given_name="Zoé", ins_oid="1.2.3"))
    for index, sex in ((6, "H"), (7, "1"), (8, "2"), (9, "x")):
        rows[index] = Row(rows[index].line, replace(rows[index].data, sex=sex))
    _assert_prepared_as_online(rows, territory)


def _prepare_problems(path, rows, max_problems=20, processes=None):
    with pytest.raises(CsvProblem) as refused:
        batch.prepare(path, rows, max_problems=max_problems, processes=processes)
    return str(refused.value)


@pytest.mark.parametrize("processes", [1, 2])
def test_prepare_refusals_name_line_and_column_in_row_order(territory, monkeypatch, processes):
    monkeypatch.setattr(batch, "_CHUNK", 3)
    rows = read_identities(territory)[:12]
    rows[1] = Row(rows[1].line, replace(rows[1].data, birth_place="ANGERS"))
    rows[4] = Row(rows[4].line, replace(rows[4].data, ipp="x" * 41, birth_place="ANGERS"))
    rows[7] = Row(rows[7].line, replace(rows[7].data, status="RECUP", ins="123"))
    rows[8] = Row(rows[8].line, replace(rows[8].data, status="QUAL", flags=("NOPE",)))
    rows[10] = Row(rows[10].line, replace(rows[10].data, status="ZZ"))
    message = _prepare_problems(territory, rows, processes=processes)
    assert message == (
        f"{territory} : 5 erreur(s), rien n'a été lié :\n"
        f"  ligne 3, colonne birth_place : code INSEE du lieu de naissance invalide « ANGERS »\n"
        f"  ligne 6, colonne local_id : IPP trop long (40 caractères au plus)\n"
        f"  ligne 9, colonne ins : une identité RECUP doit porter un INS valide (« 123 » refusé : "
        f"Le NIR doit comporter 15 caractères (13 + clé).)\n"
        f"  ligne 10, colonne flags : attribut d'identité inconnu « NOPE » (table 0445)\n"
        f"  ligne 12, colonne status : statut d'identité inconnu « ZZ » (PROV, RECUP, VALI, QUAL)"
    )
    assert _prepare_problems(territory, rows, max_problems=2, processes=processes).endswith("IPP trop long (40 caractères au plus)\n  … et 3 autre(s)")


def _write(path, lines, header=",".join(INPUT_COLUMNS), encoding="utf-8"):
    path.write_text("\n".join([header, *lines]) + "\n", encoding=encoding)


def _read_problems(path, max_problems=20):
    with pytest.raises(CsvProblem) as refused:
        read_identities(path, max_problems=max_problems)
    return str(refused.value).split("\n")


@pytest.mark.parametrize("chunk", [1_000, 2])
def test_read_refusals_unchanged(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(csvio, "_CHUNK", chunk)
    source = tmp_path / "in.csv"
    _write(source, [
        "490000031,1,DUPONT,,JEAN,1980-02-03,M,49007,,,,,",
        "",
        "490000031,2,DUPONT,,JEAN,1980-02-30,x,49007,,,,,",
        "490000031,3,DUPONT,,JEAN",
        " 490000031 , 1 ,DURAND,,PAUL,1970-01-01,M,49007,,,,,",
        ", ,DURAND,,PAUL, 1970-13-01 ,f,49007,,,,,",
        "490000031,1,DURAND,,PAUL,1970-01-01,M,49007,,,,,",
        "490000031,9,DURAND,,PAUL,1970-01-01,M,49007,,,,,,",
    ], encoding="utf-8-sig")
    assert _read_problems(source) == [
        f"{source} : 9 erreur(s), rien n'a été lié :",
        "  ligne 4, colonne birth_date : date invalide « 1980-02-30 » (AAAA-MM-JJ attendu)",
        "  ligne 4, colonne sex : « x » au lieu de M, F ou U",
        "  ligne 5 : 5 colonnes au lieu de 13",
        "  ligne 6 : identité 490000031/1 déjà présente ligne 2",
        "  ligne 7, colonne source : valeur obligatoire absente",
        "  ligne 7, colonne local_id : valeur obligatoire absente",
        "  ligne 7, colonne birth_date : date invalide « 1970-13-01 » (AAAA-MM-JJ attendu)",
        "  ligne 8 : identité 490000031/1 déjà présente ligne 6",
        "  ligne 9 : 14 colonnes au lieu de 13",
    ]
    assert _read_problems(source, max_problems=3)[-1] == "  … et 6 autre(s)"
    _write(source, [])
    assert read_identities(source) == []
    source.write_text("", encoding="utf-8")
    assert _read_problems(source) == [f"{source} : 1 erreur(s), rien n'a été lié :", "  ligne 1 : fichier vide (en-tête attendu)"]
    _write(source, ["1,2"], header="source,local_id")
    assert _read_problems(source)[1].startswith("  ligne 1 : en-tête attendu « source,local_id,birth_name,")


def test_a_duplicate_across_chunks_is_found(tmp_path, monkeypatch):
    monkeypatch.setattr(csvio, "_CHUNK", 3)
    source = tmp_path / "in.csv"
    _write(source, [f"490000031,{i % 7},X,,Y,,,,,,,," for i in range(9)])
    assert _read_problems(source)[1:] == ["  ligne 9 : identité 490000031/0 déjà présente ligne 2",
                                          "  ligne 10 : identité 490000031/1 déjà présente ligne 3"]
