"""FINESS / RPPS / ADELI Luhn checks (ght.directory.identifiers)."""

from __future__ import annotations

import pytest

from ght.directory.identifiers import (
    adeli_is_valid,
    adeli_with_key,
    finess_is_valid,
    finess_with_key,
    rpps_is_valid,
    rpps_with_key,
)


def test_finess_key_by_hand() -> None:
    # Luhn on 49099101: from the right, double every other digit starting with the last:
    # 1*2=2, 0, 1*2=2, 9, 9*2=18->9, 0, 9*2=18->9, 4: sum 35, key = (10 - 35 % 10) % 10 = 5.
    assert finess_with_key("49099101") == "490991015"
    assert finess_is_valid("490991015")


@pytest.mark.parametrize("value", ["490991016", "49099101", "4909910155", "49O991015", ""])
def test_finess_invalid(value: str) -> None:
    assert not finess_is_valid(value)


def test_finess_corsica() -> None:
    value = finess_with_key("2A000001")
    assert value.startswith("2A") and finess_is_valid(value)
    assert not finess_is_valid("2C" + value[2:])


def test_rpps() -> None:
    value = rpps_with_key("1000000001")
    assert len(value) == 11 and rpps_is_valid(value)
    wrong = value[:-1] + str((int(value[-1]) + 1) % 10)
    assert not rpps_is_valid(wrong)
    assert not rpps_is_valid("2" + value[1:])  # RPPS numbers start with 1
    assert not rpps_is_valid(value[:-1])
    with pytest.raises(ValueError):
        rpps_with_key("2000000001")


def test_adeli() -> None:
    value = adeli_with_key("49801234")
    assert len(value) == 9 and adeli_is_valid(value)
    assert not adeli_is_valid(value[:-1] + str((int(value[-1]) + 1) % 10))
    assert not adeli_is_valid("4980123X5")
