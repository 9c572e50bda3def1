"""Traits and features as rules (outputs, inputs, function), each output a function of its own
inputs alone: applied to one record by the online path, and a column at a time by the batch (a
million rows), once per distinct value of the inputs. One set of functions for both, by
construction. Also: slotted frozen dataclasses built a field at a time over all rows."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import MISSING, fields, make_dataclass
from functools import cache
from itertools import repeat, starmap

# (outputs, inputs, function): the function takes the inputs' values in order and returns the
# output's value, a tuple of them when there are several outputs (nothing when there are none:
# a check, which raises).
Rule = tuple[tuple[str, ...], tuple[str, ...], Callable]


def apply_rules(rules: Sequence[Rule], value_of: Callable[[str], object]) -> dict:
    """The outputs of `rules` for one record, in rule order; `value_of(name)` gives an input."""
    outputs = {}
    for names, inputs, compute in rules:
        value = compute(*map(value_of, inputs))
        if len(names) == 1:
            outputs[names[0]] = value
        elif names:
            outputs.update(zip(names, value, strict=True))
    return outputs


class Refused:
    """The output of a value its function refused (raised on): its rows go the per-row way."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


Refuse = type[Exception] | tuple[type[Exception], ...]


def apply_to_columns(rules: Sequence[Rule], columns: dict[str, Sequence],
                     refuse: Refuse = ()) -> tuple[dict[str, list], list[int]]:
    """The outputs of `rules` for every row of `columns` (a sequence per input, all of one
    length), each function called once per distinct value of its inputs; and the rows, in
    order, where a function raised `refuse` (their outputs are then `Refused`)."""
    outputs: dict[str, list] = {}
    refused: set[int] = set()
    for names, inputs, compute in rules:
        keys = columns[inputs[0]] if len(inputs) == 1 else list(zip(*(columns[n] for n in inputs), strict=True))
        values, refusals = _values(compute, keys, len(inputs) > 1, refuse)
        if refusals:
            refused.update(row for row, key in enumerate(keys) if key in refusals)
            if len(names) > 1:
                values = [(v,) * len(names) if v.__class__ is Refused else v for v in values]
        if len(names) == 1:
            outputs[names[0]] = values
        elif names:
            split = [list(column) for column in zip(*values, strict=True)] or [[] for _ in names]
            outputs.update(zip(names, split, strict=True))
    return outputs, sorted(refused)


# Distinct values in a sample of a column above which its function is called on every row:
# looking each row up among nearly as many distinct values costs more than the call.
_SAMPLE, _MOSTLY_DISTINCT = 2000, 0.5


def _values(compute: Callable, keys: Sequence[Hashable], spread: bool, refuse: Refuse) -> tuple[list, set]:
    """compute's value for each key, and the keys it refused."""
    if len(set(keys[:_SAMPLE])) > _MOSTLY_DISTINCT * min(len(keys), _SAMPLE):
        try:  # the loop in C; the functions are pure, so the same values
            return list(starmap(compute, keys) if spread else map(compute, keys)), set()
        except refuse:
            pass  # the distinct path below tells which keys it refuses
    results = _distinct_results(compute, keys, spread=spread, refuse=refuse)
    refusals = {key for key, value in results.items() if value.__class__ is Refused}
    return list(map(results.__getitem__, keys)), refusals


def _distinct_results(compute: Callable, keys: Sequence[Hashable], *, spread: bool, refuse: Refuse) -> dict:
    distinct = list(set(keys))
    try:  # the usual case, every value accepted: the loop in C
        return dict(zip(distinct, starmap(compute, distinct) if spread else map(compute, distinct), strict=True))
    except refuse:
        pass
    results = {}
    for key in distinct:
        try:
            results[key] = compute(*key) if spread else compute(key)
        except refuse as error:
            results[key] = Refused(error)
    return results


def frozen_instances(cls: type, count: int, columns: dict[str, Sequence]) -> list:
    """`count` instances of the slotted frozen dataclass `cls`, equal to those its constructor
    makes from the values of `columns` (one sequence per field; a field left out takes its
    default). A frozen constructor sets each field through object.__setattr__; here a mutable
    twin of `cls` (the same slots) is built with plain assignments, then becomes a `cls`:
    twice as fast (measured: a million IdentityInput in 0.5 s instead of 1.1)."""
    unknown = set(columns) - {f.name for f in fields(cls)}
    if unknown or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: unknown fields {sorted(unknown)} or a __post_init__ to run")
    instances = list(map(_twin(cls), *(_field_values(cls, f, count, columns) for f in fields(cls))))
    deque(map(object.__setattr__, instances, repeat("__class__"), repeat(cls)), maxlen=0)
    return instances


@cache
def _twin(cls: type) -> type:
    """A mutable dataclass with the slots of `cls`: Python lets an instance change class between
    the two (TypeError otherwise)."""
    if not isinstance(getattr(cls, "__slots__", None), tuple) or "__dict__" in dir(cls):
        raise TypeError(f"{cls.__name__} is not a slotted dataclass")
    return make_dataclass(f"_{cls.__name__}Twin", [f.name for f in fields(cls)], slots=True)


def _field_values(cls: type, f, count: int, columns: dict[str, Sequence]):
    if f.name in columns:
        values = columns[f.name]
        if len(values) != count:
            raise ValueError(f"{cls.__name__}.{f.name}: {len(values)} values for {count} instances")
        return values
    if f.default is not MISSING:
        return repeat(f.default, count)
    if f.default_factory is not MISSING:
        return (f.default_factory() for _ in range(count))
    raise TypeError(f"{cls.__name__}.{f.name}: no values and no default")
