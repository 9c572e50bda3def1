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


def chained(first: Sequence[Rule], then: Sequence[Rule], prefix: str) -> tuple[Rule, ...]:
    """The rules of `first`, each followed, in one function, by the rules of `then` computed
    from its outputs alone (their outputs named `prefix` + name): one pass over a column for
    both, once per distinct value. Every rule of `then` must find such a rule in `first`."""
    chained_rules = []
    left = list(then)
    for names, inputs, compute in first:
        after = [rule for rule in left if names and set(rule[1]) <= set(names)]
        left = [rule for rule in left if rule not in after]
        if not after:
            chained_rules.append((names, inputs, compute))
            continue
        outputs = (*names, *(prefix + name for rule in after for name in rule[0]))
        chained_rules.append((outputs, inputs, _chain(names, compute, after)))
    if left:
        raise ValueError(f"rules computed from the outputs of several rules: {[rule[0] for rule in left]}")
    return tuple(chained_rules)


def _chain(names: tuple[str, ...], compute: Callable, after: list[Rule]) -> Callable:
    def chain(*values):
        first = compute(*values)
        first = first if len(names) > 1 else (first,)
        outputs = apply_rules(after, dict(zip(names, first, strict=True)).__getitem__)
        return (*first, *outputs.values())
    return chain


class Refused:
    """The output of a value its function refused (raised on): its rows go the per-row way."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


Refuse = type[Exception] | tuple[type[Exception], ...]


class ColumnRules:
    """`rules` applied to chunks of rows, a column at a time: each function called once per
    distinct value of its inputs, remembered from chunk to chunk (a dict per rule). An input
    that hardly repeats (an IPP, a phone, an INS: most values new after the first rows) goes
    back to one call per row, cheaper than a dict that only grows. Chunks of a few thousand rows
    keep the columns in the processor caches."""

    def __init__(self, rules: Sequence[Rule], refuse: Refuse = ()) -> None:
        self.rules = rules
        self._memos = [_Memo(compute, len(inputs) > 1, refuse) for _, inputs, compute in rules]

    def __call__(self, columns: dict[str, Sequence]) -> tuple[dict[str, list], list[int]]:
        """The outputs for every row of `columns` (a sequence per input, all of one length), and
        the rows, in order, where a function raised `refuse` (their outputs are `Refused`)."""
        outputs: dict[str, list] = {}
        refused: set[int] = set()
        for (names, inputs, _), memo in zip(self.rules, self._memos, strict=True):
            keys = columns[inputs[0]] if len(inputs) == 1 else list(zip(*(columns[n] for n in inputs), strict=True))
            values = memo.values(keys)
            if memo.refusals:  # (rare: only then are the values looked through)
                rows = [row for row, value in enumerate(values) if value.__class__ is Refused]
                if rows:
                    refused.update(rows)
                    if len(names) > 1:
                        values = [(v,) * len(names) if v.__class__ is Refused else v for v in values]
            if len(names) == 1:
                outputs[names[0]] = values
            elif names:
                split = [list(column) for column in zip(*values, strict=True)] or [[] for _ in names]
                outputs.update(zip(names, split, strict=True))
        return outputs, sorted(refused)


# After this many rows, a rule whose values were new for more than this share of them calls
# its function on each row instead.
_WARM_UP, _MOSTLY_NEW = 50_000, 0.8


class _Memo(dict):
    """One rule's values so far (its function's value for each input met), and whether it still
    keeps them. An input not met before is computed where the lookup misses it (__missing__):
    the lookups of a whole column are one map() in C, a call into Python only per new value."""

    def __init__(self, compute: Callable, spread: bool, refuse: Refuse) -> None:
        super().__init__()
        self.compute, self.spread, self.refuse = compute, spread, refuse
        self.rows = 0
        self.direct = False
        self.refusals = 0  # values refused so far

    def __missing__(self, key: Hashable):
        try:
            value = self.compute(*key) if self.spread else self.compute(key)
        except self.refuse as error:
            value = Refused(error)
            self.refusals += 1
        self[key] = value
        return value

    def values(self, keys: Sequence[Hashable]) -> list:
        """compute's value for each key (Refused where it raised `refuse`)."""
        if self.direct:
            try:  # the loop in C; the functions are pure, so the same values
                return list(starmap(self.compute, keys) if self.spread else map(self.compute, keys))
            except self.refuse:  # which keys: told by this chunk's values, not kept after
                values = list(map(self.__getitem__, keys))
                self.clear()
                return values
        self.rows += len(keys)
        values = list(map(self.__getitem__, keys))
        if self.rows >= _WARM_UP and len(self) > _MOSTLY_NEW * self.rows:
            self.direct = True
            self.clear()
        return values


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
