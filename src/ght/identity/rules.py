"""Traits and features as rules (outputs, inputs, function), each output a function of its own
inputs alone: applied to one record by the online path, and a column at a time by the batch (a
million rows), once per distinct value of the inputs. One set of functions for both, by
construction. Also: slotted frozen dataclasses built a field at a time over all rows."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
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
        self.refuse = refuse
        self._memos = [_Memo() for _ in rules]

    def __call__(self, columns: dict[str, Sequence]) -> tuple[dict[str, list], list[int]]:
        """The outputs for every row of `columns` (a sequence per input, all of one length), and
        the rows, in order, where a function raised `refuse` (their outputs are `Refused`)."""
        outputs: dict[str, list] = {}
        refused: set[int] = set()
        for (names, inputs, compute), memo in zip(self.rules, self._memos, strict=True):
            keys = columns[inputs[0]] if len(inputs) == 1 else list(zip(*(columns[n] for n in inputs), strict=True))
            values, refusals = memo.values(compute, len(inputs) > 1, keys, self.refuse)
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


# After this many rows, a rule whose values were new for more than this share of them calls
# its function on each row instead.
_WARM_UP, _MOSTLY_NEW = 50_000, 0.8


class _Memo:
    """One rule's values so far, and whether it still keeps them."""

    def __init__(self) -> None:
        self.results: dict = {}
        self.refused: set = set()
        self.rows = 0
        self.new = 0
        self.direct = False

    def values(self, compute: Callable, spread: bool, keys: Sequence[Hashable], refuse: Refuse) -> tuple[list, set]:
        """compute's value for each key, and the keys it refused."""
        if self.direct:
            try:  # the loop in C; the functions are pure, so the same values
                return list(starmap(compute, keys) if spread else map(compute, keys)), set()
            except refuse:  # which keys: told by a dict of this chunk's values
                results = _results(compute, set(keys), spread, refuse)
                return list(map(results.__getitem__, keys)), {k for k, v in results.items() if v.__class__ is Refused}
        self.rows += len(keys)
        if not self.refused:
            try:  # every value met before: the usual case for names, dates, places
                return list(map(self.results.__getitem__, keys)), set()
            except KeyError:
                pass
        distinct = set(keys)
        new = [key for key in distinct if key not in self.results]  # (set.difference walks a dict)
        if new:
            added = _results(compute, new, spread, refuse)
            self.results.update(added)
            self.refused.update(k for k, v in added.items() if v.__class__ is Refused)
        self.new += len(new)
        values = list(map(self.results.__getitem__, keys))
        refusals = distinct & self.refused
        if self.rows >= _WARM_UP and self.new > _MOSTLY_NEW * self.rows:
            self.direct, self.results = True, {}
        return values, refusals


def _results(compute: Callable, keys: Iterable[Hashable], spread: bool, refuse: Refuse) -> dict:
    keys = list(keys)
    try:  # the usual case, every value accepted: the loop in C
        return dict(zip(keys, starmap(compute, keys) if spread else map(compute, keys), strict=True))
    except refuse:
        pass
    results = {}
    for key in keys:
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
