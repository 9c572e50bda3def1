"""Search-index values of one FHIR resource, read from its JSON body.

This runs on every write, so there is no FHIRPath engine and no model parsing: for each resource
type, the parameters of `search_parameters` are compiled once into a plan of (element path ->
parameters reading it), and `extract` walks plain dicts and lists along those paths. Values are
taken by their JSON shape (a CodeableConcept has `coding`, an Identifier has `value`, a Period
has `start`/`end`...), which is what the parameter types allow for their elements.

`normalise_string` is the one normalisation of FHIR string search: the query side must use it.
"""

from __future__ import annotations

import calendar
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from ght.record.search_parameters import COMMON, SEARCH_PARAMETERS, SearchParameter

UTC = timezone.utc
DATETIME_MIN = datetime.min.replace(tzinfo=UTC)
DATETIME_MAX = datetime.max.replace(tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


@dataclass(slots=True)
class Extracted:
    tokens: list[tuple[str, str, str]] = field(default_factory=list)
    strings: list[tuple[str, str]] = field(default_factory=list)
    dates: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    references: list[tuple[str, str, str]] = field(default_factory=list)
    reference_identifiers: list[tuple[str, str, str]] = field(default_factory=list)
    quantities: list[tuple[str, float, str, str]] = field(default_factory=list)
    uris: list[tuple[str, str]] = field(default_factory=list)


def _text(value) -> str:
    """A system, code or unit as text; "" when absent or malformed."""
    return value if isinstance(value, str) else ""


# --- strings -------------------------------------------------------------------------------

# Letters NFKD does not decompose but a French clerk types either way (cœur / coeur).
_LIGATURES = str.maketrans({"Œ": "OE", "Æ": "AE"})


@lru_cache(maxsize=65536)  # names, cities and codes repeat a lot across resources
def normalise_string(value: str) -> str:
    """Upper case, accents removed (NFKD), whitespace collapsed and trimmed."""
    upper = value.upper()
    if not upper.isascii():
        decomposed = unicodedata.normalize("NFKD", upper.translate(_LIGATURES))
        upper = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(upper.split())


# HumanName and Address parts searched by string parameters (`name`, `address`...).
_STRING_PARTS = ("family", "given", "prefix", "suffix", "text",
                 "line", "city", "district", "state", "postalCode", "country")


def _add_string(ex: Extracted, param: str, value, targets) -> None:
    if isinstance(value, str):
        if normalised := normalise_string(value):
            ex.strings.append((param, normalised))
        return
    if isinstance(value, dict):
        for part in _STRING_PARTS:
            item = value.get(part)
            if item is None:
                continue
            for text in item if isinstance(item, list) else (item,):
                if isinstance(text, str) and (normalised := normalise_string(text)):
                    ex.strings.append((param, normalised))


# --- tokens --------------------------------------------------------------------------------

def _add_token(ex: Extracted, param: str, value, targets) -> None:
    if isinstance(value, str):
        ex.tokens.append((param, "", value))
    elif isinstance(value, bool):
        ex.tokens.append((param, "", "true" if value else "false"))
    elif isinstance(value, dict):
        codings = value.get("coding")
        if codings is not None:  # CodeableConcept: each coding; its text is not a token
            for coding in codings if isinstance(codings, list) else ():
                _add_coding(ex, param, coding)
        elif "value" in value:  # Identifier
            if isinstance(code := value["value"], str):
                ex.tokens.append((param, _text(value.get("system")), code))
        else:  # Coding
            _add_coding(ex, param, value)
    elif isinstance(value, (int, float)):
        ex.tokens.append((param, "", str(value)))


def _add_coding(ex: Extracted, param: str, coding) -> None:
    if isinstance(coding, dict) and isinstance(code := coding.get("code"), str):
        ex.tokens.append((param, _text(coding.get("system")), code))


def _add_contact(ex: Extracted, param: str, value, targets) -> None:
    """ContactPoint: the value is the token; its system (phone, email) is not a URI."""
    if isinstance(value, dict) and isinstance(code := value.get("value"), str):
        ex.tokens.append((param, "", code))


# --- dates ---------------------------------------------------------------------------------

_DATE_RE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_ZONES: dict[str, timezone] = {"Z": UTC}


def _zone(text: str | None) -> timezone:
    if not text:
        return UTC  # a dateTime without zone is taken as UTC
    zone = _ZONES.get(text)
    if zone is None:
        sign = -1 if text[0] == "-" else 1
        offset = timedelta(hours=int(text[1:3]), minutes=int(text[4:6]))
        zone = _ZONES[text] = timezone(sign * offset)
    return zone


def parse_date_range(text: str) -> tuple[datetime, datetime] | None:
    """The UTC range a FHIR date, dateTime or instant covers at its precision; None if invalid."""
    match = _DATE_RE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        return _range(int(year), month, day, hour, minute, second, fraction, zone)
    except (ValueError, OverflowError):  # 2023-02-30, 25:00, year 9999 + offset...
        return None


def _range(year, month, day, hour, minute, second, fraction, zone):
    if month is None:
        return datetime(year, 1, 1, tzinfo=UTC), datetime(year, 12, 31, 23, 59, 59, 999999, UTC)
    month = int(month)
    if day is None:
        last = calendar.monthrange(year, month)[1]
        return (datetime(year, month, 1, tzinfo=UTC),
                datetime(year, month, last, 23, 59, 59, 999999, UTC))
    day = int(day)
    if hour is None:
        return (datetime(year, month, day, tzinfo=UTC),
                datetime(year, month, day, 23, 59, 59, 999999, UTC))
    if second is None:
        width = timedelta(minutes=1)
        second, micro = 0, 0
    elif fraction is None:
        width, micro = timedelta(seconds=1), 0
    else:
        digits = min(len(fraction), 6)
        micro = int(fraction[:6].ljust(6, "0"))
        width = timedelta(microseconds=10 ** (6 - digits))
    low = datetime(year, month, day, int(hour), int(minute), int(second), micro, _zone(zone))
    low = low.astimezone(UTC)
    return low, low + width - _ONE_US


def _add_date(ex: Extracted, param: str, value, targets) -> None:
    if isinstance(value, str):
        if (span := parse_date_range(value)) is not None:
            ex.dates.append((param, span[0], span[1]))
    elif isinstance(value, dict):
        if "start" in value or "end" in value:
            _add_period(ex, param, value)
        else:  # Timing: its events and the bounds of its repeat
            events = value.get("event")
            for event in events if isinstance(events, list) else ():
                if isinstance(event, str):
                    _add_date(ex, param, event, targets)
            repeat = value.get("repeat")
            bounds = repeat.get("boundsPeriod") if isinstance(repeat, dict) else None
            if isinstance(bounds, dict):
                _add_period(ex, param, bounds)


def _add_period(ex: Extracted, param: str, period: dict) -> None:
    start, end = period.get("start"), period.get("end")
    low = parse_date_range(start) if isinstance(start, str) else None
    high = parse_date_range(end) if isinstance(end, str) else None
    if low is None and high is None:
        return
    ex.dates.append((param, low[0] if low else DATETIME_MIN, high[1] if high else DATETIME_MAX))


# --- references ----------------------------------------------------------------------------

def parse_reference(text: str) -> tuple[str, str] | None:
    """(type, id) of a relative or absolute literal reference; None for contained (#),
    urn:uuid / urn:oid, conditional (Type?query) and malformed references."""
    if not text or text[0] == "#" or text.startswith("urn:") or "?" in text:
        return None
    parts = text.split("|", 1)[0].split("/")  # canonical|version
    if len(parts) >= 4 and parts[-2] == "_history":
        del parts[-2:]
    if len(parts) < 2:
        return None
    type_, id_ = parts[-2], parts[-1]
    if not id_ or not type_[:1].isupper() or not type_.isalpha():
        return None
    return type_, id_


def _add_reference(ex: Extracted, param: str, value, targets, restricted=False) -> None:
    if isinstance(value, str):  # canonical
        _add_literal(ex, param, value, targets)
        return
    if not isinstance(value, dict):
        return
    literal = value.get("reference")
    if isinstance(literal, str):
        _add_literal(ex, param, literal, targets)
    identifier = value.get("identifier")
    if isinstance(identifier, dict) and isinstance(code := identifier.get("value"), str):
        # A logical reference says its target type only through Reference.type. Untyped, it is
        # kept for the element's own parameter, not for a narrower one (`patient` beside
        # `subject`, `practitioner` beside `participant`).
        kind = value.get("type")
        if not targets or kind in targets or (kind is None and not restricted):
            ex.reference_identifiers.append((param, _text(identifier.get("system")), code))


def _add_reference_restricted(ex: Extracted, param: str, value, targets) -> None:
    _add_reference(ex, param, value, targets, restricted=True)


def _add_literal(ex: Extracted, param: str, literal: str, targets) -> None:
    parsed = parse_reference(literal)
    if parsed is not None and (not targets or parsed[0] in targets):
        ex.references.append((param, parsed[0], parsed[1]))


# --- quantities and uris -------------------------------------------------------------------

def _add_quantity(ex: Extracted, param: str, value, targets) -> None:
    if not isinstance(value, dict):
        return
    number = value.get("value")
    if number is None or isinstance(number, (bool, str)):
        return
    try:
        number = float(number)  # also a Decimal, when the body was parsed with decimals
    except (TypeError, ValueError):
        return
    if not math.isfinite(number):
        return
    # Without a coded unit, the human unit is what a search can match.
    code = _text(value.get("code")) or _text(value.get("unit"))
    ex.quantities.append((param, number, _text(value.get("system")), code))


def _add_uri(ex: Extracted, param: str, value, targets) -> None:
    if isinstance(value, str) and value:
        ex.uris.append((param, value))


# --- plans ---------------------------------------------------------------------------------

_HANDLERS = {
    "token": _add_token, "string": _add_string, "date": _add_date,
    "reference": _add_reference, "quantity": _add_quantity, "uri": _add_uri,
}

# Entries of one path: [(param name, handler, reference targets)].
Entries = list[tuple[str, object, frozenset[str]]]
# A plan maps each top-level element to the rest of its paths: one walk per distinct path, and
# only over the elements the resource has (fewer than the paths of its type).
Plan = dict[str, list[tuple[tuple[str, ...], Entries]]]


def _handler(parameter: SearchParameter, path: str):
    if parameter.type == "token" and path.rsplit(".", 1)[-1] == "telecom":
        return _add_contact
    return _HANDLERS[parameter.type]


def _is_narrower(targets: frozenset[str], others: list[frozenset[str]]) -> bool:
    """Whether a reference parameter restricts the targets of another one on the same path."""
    return bool(targets) and any(not other or targets < other for other in others)


def compile_plan(parameters: list[SearchParameter]) -> Plan:
    by_path: dict[tuple[str, ...], list] = {}
    for parameter in parameters:
        for path in parameter.paths:
            by_path.setdefault(tuple(path.split(".")), []).append(
                (parameter.name, _handler(parameter, path), frozenset(parameter.targets))
            )
    plan: Plan = {}
    for segments, entries in by_path.items():
        references = [targets for _, handler, targets in entries if handler is _add_reference]
        for i, (name, handler, targets) in enumerate(entries):
            if handler is _add_reference and _is_narrower(targets, references):
                entries[i] = (name, _add_reference_restricted, targets)
        plan.setdefault(segments[0], []).append((segments[1:], entries))
    return plan


_COMMON_PLAN = compile_plan(list(COMMON.values()))
PLANS: dict[str, Plan] = {
    type_: compile_plan(list(COMMON.values()) + list(params.values()))
    for type_, params in SEARCH_PARAMETERS.items()
}


def _walk(value, segments: tuple[str, ...]) -> list:
    """Values at a dotted path below `value`, through lists at any level."""
    current = value if isinstance(value, list) else [value]
    for segment in segments:
        found = []
        for node in current:
            if isinstance(node, dict):
                child = node.get(segment)
                if child is None:
                    continue
                if isinstance(child, list):
                    found.extend(child)
                else:
                    found.append(child)
        if not found:
            return found
        current = found
    return current


def _dedupe(values: list) -> list:
    return list(dict.fromkeys(values)) if len(values) > 1 else values


def extract(resource: dict) -> Extracted:
    """Index values of `resource` for its type's search parameters and COMMON (meta).
    An unknown type gets COMMON only; malformed values are skipped, never raised on."""
    ex = Extracted()
    plan = PLANS.get(resource.get("resourceType"), _COMMON_PLAN)
    for key, first in resource.items():
        paths = plan.get(key)
        if paths is None or first is None:
            continue
        for rest, entries in paths:
            if rest:
                values = _walk(first, rest)
            else:
                values = first if isinstance(first, list) else (first,)
            for value in values:
                for param, handler, targets in entries:
                    handler(ex, param, value, targets)
    ex.tokens = _dedupe(ex.tokens)
    ex.strings = _dedupe(ex.strings)
    ex.dates = _dedupe(ex.dates)
    ex.references = _dedupe(ex.references)
    ex.reference_identifiers = _dedupe(ex.reference_identifiers)
    ex.quantities = _dedupe(ex.quantities)
    ex.uris = _dedupe(ex.uris)
    return ex
