"""Writing RSS lines from values, through the same declarative format the parser reads (the
demo's files, the tests' fixtures, the benchmark's million lines)."""

from __future__ import annotations

from datetime import date

from ght.dim.format import ACT, DIAGNOSIS_LENGTH, Kind, Layout


def _text(kind: Kind, length: int, value) -> str:
    if value is None or value == "":
        return " " * length
    if isinstance(value, date):
        return value.strftime("%d%m%Y")
    if kind is Kind.INT:
        return str(value).rjust(length)
    return str(value).ljust(length)[:length]


def rum_line(layout: Layout, values: dict, das: list[str] = (), dad: list[str] = (), acts: list[dict] = ()) -> str:
    """One line: `values` by field name (missing: blank); the counts are those of the lists."""
    values = {**values, "version": layout.version, "nb_das": len(das), "nb_dad": len(dad), "nb_actes": len(acts)}
    if layout.grouped:
        values.setdefault("version_rss", "1" + layout.version[1:])
    parts = [_text(f.kind, f.length, values.get(f.name)) for f in layout.fields]
    parts += [code.ljust(DIAGNOSIS_LENGTH) for code in (*das, *dad)]
    for act in acts:
        parts += [_text(f.kind, f.length, act.get(f.name)) for f in ACT]
    return "".join(parts)
