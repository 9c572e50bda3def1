"""Reading an RSS file line by line against its declarative format (ght.dim.format).

Each line is checked field by field; an error names the line (1-based), the field (ATIH's
label) and the reason, in French. A line that passes the whole-line pattern built from the
format (the common case) is sliced at once; any other line goes through the field-by-field
check that says exactly what is wrong. Nothing is stored here (ght.dim.store)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from ght.dim import format as fmt
from ght.dim.format import ACT, ACT_LENGTH, DIAGNOSIS_LENGTH, Field, Kind, Layout

MAX_ERRORS = 1000  # reported in full; past that, only counted


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"ligne {self.line}, {self.field} : {self.reason}"


@dataclass(slots=True)
class Act:
    date: date
    code: str
    phase: str
    activite: str
    executions: int


@dataclass(slots=True)
class Rum:
    line: int
    values: dict  # field name → stripped text, date or int (ght.dim.format names)
    das: list[str] = field(default_factory=list)
    acts: list[Act] = field(default_factory=list)


class Report:
    """The errors of one file: the first MAX_ERRORS in full, the total counted."""

    def __init__(self) -> None:
        self.errors: list[LineError] = []
        self.total = 0

    def add(self, line: int, label: str, reason: str) -> None:
        self.total += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(LineError(line, label, reason))

    def __bool__(self) -> bool:
        return self.total > 0


_CIM10 = re.compile(r"[A-Z][0-9]{2}[0-9A-Z+]{0,5}")
_CCAM = re.compile(r"[A-Z]{4}[0-9]{3}")
_HEADS = frozenset(f"{letter}{n:02d}" for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for n in range(100)
                   if fmt.cim10_chapter(f"{letter}{n:02d}"))
# The letter-and-two-digit heads outside every chapter, refused by the patterns' lookahead.
_OUTSIDE_CHAPTERS = "|".join(f"{letter}{n:02d}" for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for n in range(100)
                             if f"{letter}{n:02d}" not in _HEADS)
_DATES: dict[str, date | None] = {}


def parse_date(text: str) -> date | None:
    """JJMMAAAA → date; None when it is no date (cached: a file repeats its dates)."""
    found = _DATES.get(text, False)
    if found is False:
        try:
            found = date(int(text[4:8]), int(text[2:4]), int(text[0:2])) if text.isdigit() and len(text) == 8 else None
        except ValueError:
            found = None
        if len(_DATES) < 200_000:
            _DATES[text] = found
    return found


def check_cim10(value: str) -> str | None:
    """The reason a CIM-10 code is refused, or None."""
    if not _CIM10.fullmatch(value):
        return f"« {value} » : code CIM-10 mal formé (une lettre, deux chiffres, puis jusqu'à cinq caractères)"
    if value[:3] not in _HEADS:
        return f"« {value} » : code CIM-10 inconnu (hors des chapitres de la CIM-10)"
    return None


def check_value(f: Field, raw: str):
    """(value, reason): the field's value, or the reason it is refused."""
    value = raw.strip()
    if not value:
        if f.required:
            return None, "obligatoire, non renseigné"
        return (None if f.kind in (Kind.INT, Kind.DATE) else ""), None
    if f.kind is Kind.DIGITS and not value.isdigit():
        return None, f"« {raw} » : chiffres attendus"
    if f.kind is Kind.INT:
        if not value.isdigit() or raw.rstrip() != raw:
            return None, f"« {raw} » : nombre attendu (cadré à droite)"
        return int(value), None
    if f.kind is Kind.DATE:
        parsed = parse_date(raw)
        if parsed is None:
            return None, f"« {raw} » : date invalide (JJMMAAAA attendu)"
        return parsed, None
    if f.kind is Kind.CODE and value not in f.codes:
        expected = ", ".join(sorted(c for c in f.codes if c))
        return None, f"« {value} » : code inconnu (attendu : {expected})"
    if f.kind is Kind.CIM10 and (reason := check_cim10(value)):
        return None, reason
    if f.kind is Kind.CCAM and not _CCAM.fullmatch(value):
        return None, f"« {value} » : code CCAM mal formé (quatre lettres, trois chiffres)"
    return value, None


def _padded(body: str, n: int, least: int) -> str:
    """`body` repeated from `least` to n times, right-padded with spaces to exactly n."""
    return "(?:" + "|".join(f"{body}{{{k}}}{' ' * (n - k)}" for k in range(n, least - 1, -1)) + ")"


def _pattern(f: Field) -> str:
    """The regular expression of a field's valid values, exactly `length` characters wide
    (the fast path's whole-line pattern)."""
    n = f.length
    blank = "" if f.required else f"| {{{n}}}"
    if f.kind is Kind.DIGITS:
        body = f"[0-9]{{{n}}}"
    elif f.kind is Kind.DATE:
        body = "[0-9]{8}"
    elif f.kind is Kind.INT:
        body = "(?:" + "|".join(f"{' ' * k}[0-9]{{{n - k}}}" for k in range(n)) + ")"
    elif f.kind is Kind.CODE:
        body = "|".join(re.escape(c.ljust(n)) for c in sorted(f.codes) if c)
    elif f.kind is Kind.CIM10:
        body = f"(?!{_OUTSIDE_CHAPTERS})[A-Z][0-9]{{2}}" + _padded("[0-9A-Z+]", n - 3, 0)
    elif f.kind is Kind.CCAM:
        body = "[A-Z]{4}[0-9]{3}"
    else:
        body = f"(?! {{{n}}}).{{{n}}}" if f.required else f".{{{n}}}"
        blank = ""
    return f"(?:{body}{blank})"


_ACT_PATTERN = re.compile("".join(_pattern(f) for f in ACT))
# A DAS or DAD zone: a CIM-10 code (left-aligned, required); any number of them.
_DIAGNOSIS_PATTERN = _pattern(Field("diagnostic", "Diagnostic", 1, DIAGNOSIS_LENGTH, Kind.CIM10, True))
_DIAGNOSES = re.compile(f"{_DIAGNOSIS_PATTERN}*")
# An act zone capturing what is kept of it (ght.dim.parser.Act).
_CAPTURED_ACT = "".join(f"({_pattern(f)})" if f.name in ("date", "code", "phase", "activite", "executions")
                        else _pattern(f) for f in ACT)
MAX_PATTERNS = 256  # whole-line patterns compiled per file (one per combination of counts)


class Parser:
    """Reads the lines of one file of one layout; `rums()` yields the valid RUMs and `report`
    collects the errors (the caller stores nothing when there is one)."""

    # The fields read into a RUM's values (the others are checked, not kept).
    KEPT = ("finess", "version", "rss", "nas", "rum", "naissance", "sexe", "um", "date_entree", "mode_entree",
            "provenance", "date_sortie", "mode_sortie", "destination", "residence", "seances", "nb_das",
            "nb_dad", "nb_actes", "dp", "dr", "igs", "ghm")

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.report = Report()
        self.fields = layout.fields
        kept = [f for f in self.fields if f.name in self.KEPT]
        # The fixed part's pattern captures the kept fields, in the layout's order: one match
        # checks every field of the fixed part and slices the kept ones at once.
        self._fixed_pattern = "".join(f"({_pattern(f)})" if f.name in self.KEPT else _pattern(f)
                                      for f in self.fields)
        self._fixed = re.compile(self._fixed_pattern)
        self._names = tuple(f.name for f in kept)
        self._dates = tuple(i for i, f in enumerate(kept) if f.kind is Kind.DATE)
        self._ints = tuple(i for i, f in enumerate(kept) if f.kind is Kind.INT)
        counts = [layout.by_name[name] for name in ("nb_das", "nb_dad", "nb_actes")]
        self._counts = slice(counts[0].start - 1, counts[-1].end)  # consecutive in every layout
        self._count_ends = [f.end - counts[0].start + 1 for f in counts]
        self._lines: dict[str, re.Pattern | None] = {}  # counts as written → whole-line pattern

    # ------------------------------------------------------------------------------ one line

    def parse(self, number: int, line: str, last: bool = False, complete: bool = True) -> Rum | None:
        """The RUM of one line (without its end of line), or None after reporting its errors.
        `complete`: the line ended with an end of line (false for a file cut short).

        The common case: one match of the whole-line pattern of the line's counts checks every
        field, fixed and variable; any other line goes through `_checked`, which finds and
        reports exactly what is wrong."""
        if len(line) < self.layout.fixed_length:
            self._length_error(number, len(line), self.layout.fixed_length, complete, "partie fixe")
            return None
        written = line[self._counts]
        whole = self._lines[written] if written in self._lines else self._line_pattern(written)
        matched = whole.fullmatch(line) if whole is not None else None
        if matched is None:
            return self._checked(number, line, complete)
        groups = matched.groups()
        kept = len(self._names)
        values = self._fixed_values(groups[:kept])
        if values is None or values["version"] != self.layout.version:
            return self._checked(number, line, complete)
        rum = Rum(number, values)
        das_end = kept + values["nb_das"]
        rum.das = [code.rstrip() for code in groups[kept:das_end]]
        acts = rum.acts
        for start in range(das_end, len(groups), 5):  # date, code, phase, activité, réalisations
            when = parse_date(groups[start])
            if when is None:
                return self._checked(number, line, complete)
            acts.append(Act(when, groups[start + 1], groups[start + 2], groups[start + 3], int(groups[start + 4])))
        return rum

    def _line_pattern(self, written: str) -> re.Pattern | None:
        """The pattern of a whole line of these counts (the kept fields, then each DAS, then
        each act's date, code, phase, activité and réalisations captured); None when the
        counts are no numbers, or past MAX_PATTERNS combinations (then `_checked` reads)."""
        found = None
        bounds = zip([0, *self._count_ends], self._count_ends)
        texts = [written[a:b].strip() for a, b in bounds]
        if all(t.isdigit() for t in texts) and len(self._lines) < MAX_PATTERNS:
            das_n, dad_n, acts_n = map(int, texts)
            found = re.compile(self._fixed_pattern + f"({_DIAGNOSIS_PATTERN})" * das_n
                               + _DIAGNOSIS_PATTERN * dad_n + _CAPTURED_ACT * acts_n)
            self._lines[written] = found
        return found

    def _fixed_values(self, texts: tuple[str, ...]) -> dict | None:
        """The kept fields' values from their matched texts; None when a date of the right
        form is no real day."""
        values = list(map(str.strip, texts))
        for index in self._dates:  # eight digits or blank (the pattern): a real day?
            text = values[index]
            if text:
                value = parse_date(text)
                if value is None:
                    return None
                values[index] = value
            else:
                values[index] = None
        for index in self._ints:
            values[index] = int(values[index]) if values[index] else None
        return dict(zip(self._names, values))

    def _checked(self, number: int, line: str, complete: bool) -> Rum | None:
        """A line the whole-line pattern refused: its fixed part (by its pattern, else field by
        field), then its variable zones zone by zone, every error reported."""
        matched = self._fixed.match(line)
        values = self._fixed_values(matched.groups()) if matched else None
        if values is None:
            return self._slow(number, line, complete)
        return self._variable(number, line, values, complete)

    def _slow(self, number: int, line: str, complete: bool) -> Rum | None:
        values, bad = {}, False
        for f in self.fields:
            value, reason = check_value(f, line[f.start - 1:f.end])
            if reason:
                self.report.add(number, f.label, reason)
                bad = True
            values[f.name] = value
        if bad:
            return None
        return self._variable(number, line, values, complete)

    def _variable(self, number: int, line: str, values: dict, complete: bool) -> Rum | None:
        layout = self.layout
        if values["version"] != layout.version:
            self.report.add(number, self.layout.by_name["version"].label,
                            f"« {values['version']} » : format {layout.version} attendu (celui du fichier)")
            return None
        das_n, dad_n, acts_n = values["nb_das"] or 0, values["nb_dad"] or 0, values["nb_actes"] or 0
        expected = layout.fixed_length + DIAGNOSIS_LENGTH * (das_n + dad_n) + ACT_LENGTH * acts_n
        if len(line) != expected:
            detail = (f"partie fixe {layout.fixed_length} + {das_n} DAS + {dad_n} DAD à {DIAGNOSIS_LENGTH} "
                      f"+ {acts_n} actes à {ACT_LENGTH}")
            self._length_error(number, len(line), expected, complete, detail)
            return None
        rum = Rum(number, values)
        diagnoses_end = layout.fixed_length + DIAGNOSIS_LENGTH * (das_n + dad_n)
        diagnoses_ok = self._diagnoses(number, line[layout.fixed_length:diagnoses_end], das_n, rum.das)
        acts_ok = self._acts(number, line[diagnoses_end:], rum.acts)
        return rum if diagnoses_ok and acts_ok else None

    def _diagnoses(self, number: int, zone: str, das_n: int, das: list[str]) -> bool:
        """The DAS then the DAD of `zone` (8 characters each): the DAS appended to `das`;
        False after reporting the errors."""
        if _DIAGNOSES.fullmatch(zone):
            das.extend([zone[i:i + DIAGNOSIS_LENGTH].rstrip() for i in range(0, das_n * DIAGNOSIS_LENGTH,
                                                                             DIAGNOSIS_LENGTH)])
            return True
        ok = True
        codes = [zone[i:i + DIAGNOSIS_LENGTH] for i in range(0, len(zone), DIAGNOSIS_LENGTH)]
        for index, code in enumerate(codes):
            kind, rank = ("DAS", index + 1) if index < das_n else ("DAD", index - das_n + 1)
            code = code.strip()
            reason = "obligatoire, non renseigné" if not code else check_cim10(code)
            if reason:
                self.report.add(number, f"{kind} n° {rank}", reason)
                ok = False
            elif kind == "DAS":
                das.append(code)
        return ok

    def _acts(self, number: int, zone: str, acts: list[Act]) -> bool:
        """The act zones of `zone` (29 characters each) appended to `acts`; False after
        reporting the errors."""
        ok = True
        for rank, position in enumerate(range(0, len(zone), ACT_LENGTH), 1):
            act = self._act(number, rank, zone[position:position + ACT_LENGTH])
            if act is None:
                ok = False
            else:
                acts.append(act)
        return ok

    def _act(self, number: int, index: int, zone: str) -> Act | None:
        if _ACT_PATTERN.fullmatch(zone):
            when = parse_date(zone[0:8])
            if when is not None:
                return Act(when, zone[8:15], zone[18], zone[19], int(zone[27:29]))
        values, bad = {}, False
        for f in ACT:
            value, reason = check_value(f, zone[f.start - 1:f.end])
            if reason:
                self.report.add(number, f"Acte n° {index} : {f.label}", reason)
                bad = True
            values[f.name] = value
        if bad:
            return None
        return Act(values["date"], values["code"], values["phase"], values["activite"], values["executions"])

    def _length_error(self, number: int, length: int, expected: int, complete: bool, detail: str) -> None:
        if not complete and length < expected:
            self.report.add(number, "Ligne", f"fichier tronqué : la dernière ligne s'arrête à {length} caractères "
                                             f"sur {expected} attendus")
        else:
            self.report.add(number, "Ligne", f"longueur {length}, {expected} attendue ({detail})")


def lines(data: bytes) -> Iterator[tuple[int, str, bool]]:
    """(number, text, complete) of each line of a file (ATIH files are ASCII / ISO-8859-1;
    CR LF accepted); `complete` is false for a last line without its end of line."""
    text = data.decode("latin-1")
    parts = text.split("\n")
    tail = parts.pop()  # "" when the file ends with an end of line
    for number, part in enumerate(parts, 1):
        yield number, part[:-1] if part.endswith("\r") else part, True
    if tail:
        yield len(parts) + 1, tail, False


def detect_layout(first_line: str) -> tuple[Layout | None, str | None]:
    """The layout of a file from its first line: an RSS non groupé starts with the FINESS and
    the RUM format (positions 10-12); a grouped RSS with 15 characters of grouping whose
    positions 10-12 are the grouped RSS format."""
    if first_line[9:12] in fmt.VERSIONS:
        return fmt.LAYOUTS[(first_line[9:12], False)], None
    if first_line[9:12] in fmt.GROUPED_VERSIONS:
        version = fmt.GROUPED_VERSIONS[first_line[9:12]]
        return fmt.LAYOUTS[(version, True)], None
    supported = ", ".join((*fmt.VERSIONS, *fmt.GROUPED_VERSIONS))
    return None, f"« {first_line[9:12]} » : format non pris en charge (formats reconnus : {supported})"
