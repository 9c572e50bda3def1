"""Reading an inbound HL7 v2 message: its bytes to text (in the charset MSH-18 names), its
structure (python-hl7), its MSH header, and field values by HL7 position.

Everything wrong at this level is an AR naming the problem; `Unreadable` carries the best
text we could make of the bytes (it is stored all the same) and whatever header values could
be read, so that even a broken message gets an ACK with its control id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import hl7

from ght.interop.hl7v2.ack import (
    CHARSETS,
    AckHeader,
    ErrorCode,
    Hl7Error,
    Location,
    charset_label,
    reject,
)

MAX_CONTROL_ID = 199  # MSH-10 length in HL7 v2.7 (20 in v2.5, but UUIDs are common)
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]")  # C0 (but TAB, LF, CR) and C1 controls


@dataclass(frozen=True)
class Header(AckHeader):
    """The MSH values the feed works with (components already unescaped)."""

    structure: str = ""  # MSH-9.3, e.g. ADT_A05
    version: str = ""  # MSH-12.1, e.g. 2.5
    charset: str = ""  # MSH-18 as sent


class Unreadable(Exception):
    """The bytes are not a message we can read; `error` is the AR to answer."""

    def __init__(self, error: Hl7Error, text: str, codec: str, header: AckHeader) -> None:
        super().__init__(error.text())
        self.error = error
        self.text = text
        self.codec = codec
        self.header = header


@dataclass(frozen=True)
class Seg:
    """One segment, its fields as repetitions > components > subcomponents (unescaped).

    `sequence` is the occurrence of this segment id in the message, from 1: what ERR-2.2
    counts (the second PID of an A40 is PID^2).
    """

    name: str
    sequence: int
    fields: tuple[list[list[list[str]]], ...]  # fields[n] is field n (fields[0] is unused)

    def reps(self, number: int) -> list[list[list[str]]]:
        """The repetitions of a field ([] when the field is absent or empty)."""
        if number >= len(self.fields):
            return []
        reps = self.fields[number]
        return [] if all(not any(any(sub for sub in comp) for comp in rep) for rep in reps) else reps

    def value(self, number: int, repetition: int = 1, component: int = 1, subcomponent: int = 1) -> str:
        reps = self.reps(number)
        return part(reps[repetition - 1], component, subcomponent) if len(reps) >= repetition else ""

    def loc(self, field: int | None = None, repetition: int | None = None, component: int | None = None,
            subcomponent: int | None = None) -> Location:
        return Location(self.name, self.sequence, field, repetition, component, subcomponent)


def part(rep: list[list[str]], component: int = 1, subcomponent: int = 1) -> str:
    """A component (or subcomponent) of one repetition, stripped; '' when absent."""
    if len(rep) < component or len(rep[component - 1]) < subcomponent:
        return ""
    return rep[component - 1][subcomponent - 1].strip()


@dataclass(frozen=True)
class Parsed:
    """A readable message: the text stored, the python-hl7 tree and our view of its segments."""

    text: str
    codec: str
    message: hl7.Message
    segments: tuple[Seg, ...]
    header: Header

    def all(self, name: str) -> list[Seg]:
        return [segment for segment in self.segments if segment.name == name]

    def first(self, name: str) -> Seg | None:
        return next((segment for segment in self.segments if segment.name == name), None)


def read(data: bytes) -> Parsed:
    """Bytes of one MLLP frame to a parsed message; raises Unreadable."""
    probe = data.decode("latin-1")  # never fails: enough to read the ASCII header fields
    header = rough_header(probe)
    text, codec = _decode(data, probe, header)
    return parse(text, codec)


def parse(text: str, codec: str = "utf-8") -> Parsed:
    """Text of one message (as stored) to a parsed message; raises Unreadable."""
    header = rough_header(text)

    def fail(error: Hl7Error):
        return Unreadable(error, text, codec, header)

    lines = [line for line in text.replace("\r\n", "\r").replace("\n", "\r").split("\r") if line.strip()]
    if not lines:
        raise fail(reject(ErrorCode.SEGMENT_SEQUENCE, "message vide"))
    first = lines[0].lstrip()
    lines[0] = first
    if not first.startswith("MSH"):
        shown = first[:3]
        raise fail(reject(ErrorCode.SEGMENT_SEQUENCE,
                          f"le message doit commencer par le segment MSH (reçu « {shown} »)", Location("MSH")))
    _check_delimiters(first, fail)
    separator = first[3]
    for number, line in enumerate(lines, start=1):
        segment_id = line[:3]
        if not _SEGMENT_ID.fullmatch(segment_id) or line[3:4] not in ("", separator):
            raise fail(reject(ErrorCode.SEGMENT_SEQUENCE,
                              f"segment n° {number} illisible : « {line[:20]} » (identifiant de 3 caractères attendu)"))
        if number > 1 and segment_id == "MSH":
            raise fail(reject(ErrorCode.SEGMENT_SEQUENCE,
                              f"second segment MSH (segment n° {number}) : un seul message par trame MLLP"))
        control = _CONTROL.search(line)
        if control:
            field = line[:control.start()].count(separator) + (1 if segment_id == "MSH" else 0)
            raise fail(reject(ErrorCode.DATA_TYPE,
                              f"caractère de contrôle 0x{ord(control.group()):02X} interdit dans le message",
                              Location(segment_id, _occurrence(lines, number), field or None)))
    try:
        message = hl7.parse("\r".join(lines) + "\r")
        segments = _segments(message)
    except Exception as exc:  # python-hl7 raises assorted errors on odd structures
        raise fail(reject(ErrorCode.SEGMENT_SEQUENCE, f"structure du message illisible ({exc})")) from exc
    parsed_header = _header(segments[0], fail)
    return Parsed(text=text, codec=codec, message=message, segments=tuple(segments), header=parsed_header)


def _occurrence(lines: list[str], number: int) -> int:
    segment_id = lines[number - 1][:3]
    return sum(1 for line in lines[:number] if line[:3] == segment_id)


def _check_delimiters(msh: str, fail) -> None:
    """MSH-1 and MSH-2: five distinct delimiters, none a letter, digit or space."""
    separator = msh[3:4]
    end = msh.find(separator, 4) if separator else -1
    encoding = msh[4:end] if end > 0 else msh[4:8]
    chars = separator + encoding
    if (
        end < 0 or len(encoding) != 4 or len(set(chars)) != 5
        or any(char.isalnum() or char.isspace() for char in chars)
    ):
        raise fail(reject(
            ErrorCode.DATA_TYPE,
            f"séparateurs invalides « {separator}{encoding} » : un séparateur de champ puis quatre "
            "caractères d'encodage distincts sont attendus (|^~\\& en général)",
            Location("MSH", 1, 2),
        ))


def _normalise_field(message: hl7.Message, field) -> list[list[list[str]]]:
    """python-hl7 nests a field more or less deeply depending on the delimiters it contains;
    give every field the same shape: repetitions > components > subcomponents."""

    def leaf(value) -> str:
        value = str(value)
        if value == '""':  # HL7 null: "delete this value"; nothing to keep either way
            return ""
        return message.unescape(value) if message.esc in value else value

    if isinstance(field, str):
        return [[[leaf(field)]]]
    reps = []
    for rep in field:
        if isinstance(rep, str):
            reps.append([[leaf(rep)]])
            continue
        comps = []
        for comp in rep:
            comps.append([leaf(comp)] if isinstance(comp, str) else [leaf(sub) for sub in comp])
        reps.append(comps)
    return reps or [[[""]]]


def _segments(message: hl7.Message) -> list[Seg]:
    counts: dict[str, int] = {}
    segments = []
    for segment in message:
        name = str(segment[0])
        counts[name] = counts.get(name, 0) + 1
        fields: list = [[[[name]]]]
        for number, field in enumerate(segment[1:], start=1):
            if name == "MSH" and number <= 2:  # the delimiters themselves: never unescaped
                fields.append([[[str(field)]]])
            else:
                fields.append(_normalise_field(message, field))
        segments.append(Seg(name, counts[name], tuple(fields)))
    return segments


def _hd(segment: Seg, number: int) -> tuple[str, ...]:
    reps = segment.reps(number)
    return tuple(part(reps[0], c) for c in range(1, len(reps[0]) + 1)) if reps else ()


def _header(msh: Seg, fail) -> Header:
    header = Header(
        sending_application=_hd(msh, 3),
        sending_facility=_hd(msh, 4),
        receiving_application=_hd(msh, 5),
        receiving_facility=_hd(msh, 6),
        message_code=msh.value(9, 1, 1),
        trigger_event=msh.value(9, 1, 2),
        structure=msh.value(9, 1, 3),
        control_id=msh.value(10),
        processing_id=msh.value(11),
        version=msh.value(12),
        charset=msh.value(18),
    )
    if not header.control_id:
        raise fail(reject(ErrorCode.REQUIRED_FIELD_MISSING, "identifiant du message (MSH-10) absent", msh.loc(10)))
    if len(header.control_id) > MAX_CONTROL_ID:
        raise fail(reject(ErrorCode.DATA_TYPE, f"identifiant du message trop long ({MAX_CONTROL_ID} caractères au plus)", msh.loc(10)))
    if not header.message_code or not header.trigger_event:
        raise fail(reject(ErrorCode.REQUIRED_FIELD_MISSING, "type de message ou événement (MSH-9) absent", msh.loc(9)))
    return header


def rough_header(text: str) -> AckHeader:
    """What can be read of MSH by plain splitting, for the ACK of a message python-hl7 cannot
    parse (broken delimiters, bad bytes): control id, applications, event."""
    start = text.find("MSH")
    if start < 0 or len(text) < start + 4:
        return AckHeader()
    line = re.split(r"[\r\n]", text[start:], maxsplit=1)[0]
    separator = line[3]
    fields = line.split(separator)
    encoding = fields[1] if len(fields) > 1 else ""
    component = encoding[0] if encoding and encoding[0] != separator else "^"

    def field(number: int) -> str:
        return fields[number - 1].strip() if len(fields) >= number else ""

    def components(number: int) -> tuple[str, ...]:
        return tuple(value.strip() for value in field(number).split(component)) if field(number) else ()

    event = components(9)
    return AckHeader(
        message_code=event[0] if event else "",
        sending_application=components(3),
        sending_facility=components(4),
        receiving_application=components(5),
        receiving_facility=components(6),
        trigger_event=event[1] if len(event) > 1 else "",
        control_id=field(10)[:MAX_CONTROL_ID],
        processing_id=components(11)[0] if components(11) else "",
    )


def _decode(data: bytes, probe: str, header: AckHeader) -> tuple[str, str]:
    """The text of the frame in the charset MSH-18 names; with no MSH-18, UTF-8, and
    ISO 8859-1 when the bytes are not UTF-8 (what French senders that omit MSH-18 use)."""
    msh18 = _rough_msh18(probe)
    if not msh18:
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return _latin(data)
    label = charset_label(msh18)
    if label is None:
        raise Unreadable(
            reject(ErrorCode.TABLE_VALUE_NOT_FOUND,
                   f"jeu de caractères « {msh18} » non pris en charge (acceptés : UNICODE UTF-8, 8859/1, "
                   "8859/15, ASCII)", Location("MSH", 1, 18)),
            data.decode("utf-8", "backslashreplace"), "", header,
        )
    codec = CHARSETS[label]
    if codec == "latin-1":
        return _latin(data)
    try:
        return data.decode(codec), codec
    except UnicodeDecodeError as exc:
        raise Unreadable(
            reject(ErrorCode.DATA_TYPE,
                   f"octet 0x{data[exc.start]:02X} invalide en {label} (annoncé en MSH-18) à la position "
                   f"{exc.start + 1} du message", Location("MSH", 1, 18)),
            data.decode(codec, "backslashreplace"), codec, header,
        ) from None


def _latin(data: bytes) -> tuple[str, str]:
    """ISO 8859-1 as French Windows software writes it: windows-1252, which differs only on
    0x80-0x9F (C1 controls, never text in HL7, where it has Œ, œ, €...); plain ISO 8859-1
    for the few bytes windows-1252 leaves undefined (then refused as control characters)."""
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _rough_msh18(text: str) -> str:
    start = text.find("MSH")
    if start < 0 or len(text) < start + 4:
        return ""
    line = re.split(r"[\r\n]", text[start:], maxsplit=1)[0]
    fields = line.split(line[3])
    if len(fields) < 18:
        return ""
    encoding = fields[1]
    value = fields[17]
    for delimiter in encoding[:1] + encoding[1:2]:  # first component of the first repetition
        value = value.split(delimiter)[0]
    return value.strip()
