"""The parser's two readings agree: the whole-line pattern of the common case (one match per
line) keeps exactly what the field-by-field check keeps, on every layout, with DAS, DAD and
several acts; a line it refuses is still reported by the field-by-field check."""

from __future__ import annotations

import pytest

from dim.dim_fixture import CH_RUMS, CHU, CHU_RUMS, P1, act, d, rum
from ght.dim.format import LAYOUTS
from ght.dim.parser import Parser
from ght.dim.writer import rum_line

RICH = rum(CHU, "7", "N7", 1, P1, "1001", d(1), "8", d(9), "9", "C509", das=["E119", "I10", "Z5101"],
           acts=[act(d(2), "DZQM006"), act(d(3), "HHFA016", 12), act(d(9), "DEQP003")])


@pytest.mark.parametrize("version, grouped", [("022", False), ("023", False), ("022", True), ("023", True)])
def test_whole_line_pattern_reads_what_the_field_by_field_check_reads(version, grouped):
    layout = LAYOUTS[(version, grouped)]
    for number, (values, das, acts) in enumerate([*CHU_RUMS, *CH_RUMS, RICH], 1):
        line = rum_line(layout, values, das, dad=["R51"] if number % 2 else [], acts=acts)
        fast = Parser(layout).parse(number, line)
        reference = Parser(layout)._slow(number, line, True)  # every field through check_value
        assert fast is not None and reference is not None
        assert fast.values == {name: reference.values[name] for name in fast.values}
        assert (fast.das, fast.acts) == (reference.das, reference.acts) and fast.das == das


def test_a_line_the_pattern_refuses_is_reported_field_by_field():
    layout = LAYOUTS[("023", False)]
    values, das, acts = RICH
    line = rum_line(layout, values, [*das[:2], "D49"], acts=acts)  # D49: outside every chapter
    parser = Parser(layout)
    assert parser.parse(1, line) is None
    assert [str(e) for e in parser.report.errors] == [
        "ligne 1, DAS n° 3 : « D49 » : code CIM-10 inconnu (hors des chapitres de la CIM-10)"]
