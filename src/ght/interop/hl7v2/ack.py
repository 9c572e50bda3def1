"""HL7 v2.5 acknowledgements (original mode): MSA-1 AA/AE/AR, MSA-2 = MSH-10 of the message,
and for an error an ERR segment saying where (ERR-2), what (ERR-3, table 0357) and, in French
for the staff who read it in the sender's interface monitor, why (ERR-8).

AR (application reject) is for a message the server cannot take at all: framing, encoding,
header, unsupported type, event, processing id or version. AE (application error) is for a
message understood but whose content is refused, or that failed on our side (207).
"""

from __future__ import annotations

import codecs
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

import hl7

ACK_VERSION = "2.5"
# Our own name in the ACK's MSH-3/MSH-4 when the message left its MSH-5/MSH-6 empty.
RECEIVER = "GHT"


class ErrorCode(IntEnum):
    """HL7 table 0357 (message error condition codes) as of v2.5."""

    SEGMENT_SEQUENCE = 100
    REQUIRED_FIELD_MISSING = 101
    DATA_TYPE = 102
    TABLE_VALUE_NOT_FOUND = 103
    UNSUPPORTED_MESSAGE_TYPE = 200
    UNSUPPORTED_EVENT = 201
    UNSUPPORTED_PROCESSING_ID = 202
    UNSUPPORTED_VERSION = 203
    UNKNOWN_KEY = 204
    DUPLICATE_KEY = 205
    RECORD_LOCKED = 206
    INTERNAL_ERROR = 207


# Display names of table 0357, sent in ERR-3.2 as the table defines them.
ERROR_NAMES = {
    ErrorCode.SEGMENT_SEQUENCE: "Segment sequence error",
    ErrorCode.REQUIRED_FIELD_MISSING: "Required field missing",
    ErrorCode.DATA_TYPE: "Data type error",
    ErrorCode.TABLE_VALUE_NOT_FOUND: "Table value not found",
    ErrorCode.UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    ErrorCode.UNSUPPORTED_EVENT: "Unsupported event code",
    ErrorCode.UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    ErrorCode.UNSUPPORTED_VERSION: "Unsupported version id",
    ErrorCode.UNKNOWN_KEY: "Unknown key identifier",
    ErrorCode.DUPLICATE_KEY: "Duplicate key identifier",
    ErrorCode.RECORD_LOCKED: "Application record locked",
    ErrorCode.INTERNAL_ERROR: "Application internal error",
}


@dataclass(frozen=True)
class Location:
    """Where an error is (ERL data type): segment, its occurrence, field, repetition, component."""

    segment: str
    sequence: int = 1
    field: int | None = None
    repetition: int | None = None
    component: int | None = None
    subcomponent: int | None = None

    def parts(self) -> list[str]:
        """ERR-2 components, without trailing empty ones (PID^1^7, PID^1^3^2^4)."""
        repetition = self.repetition
        if repetition is None and self.component is not None:
            repetition = 1  # a component is always inside some repetition
        values = [self.segment, self.sequence, self.field, repetition, self.component, self.subcomponent]
        while values and values[-1] is None:
            values.pop()
        return ["" if value is None else str(value) for value in values]

    def erl(self) -> str:
        return "^".join(self.parts())

    def label(self) -> str:
        """Human form for the French text: PID-3.4, PID(2)-7, PID-3[2].1."""
        text = self.segment if self.sequence == 1 else f"{self.segment}({self.sequence})"
        if self.field is not None:
            text += f"-{self.field}"
            if self.repetition and self.repetition > 1:
                text += f"[{self.repetition}]"
            if self.component is not None:
                text += f".{self.component}"
                if self.subcomponent is not None:
                    text += f".{self.subcomponent}"
        return text

    def at(self, **changes) -> Location:
        return Location(**{**self.__dict__, **changes})


class Hl7Error(Exception):
    """A message (or frame) refused: the ACK code, the table 0357 code, where and why (French)."""

    def __init__(self, code: ErrorCode, message: str, location: Location | None = None, *, ack_code: str = "AE") -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.location = location
        self.ack_code = ack_code

    def text(self) -> str:
        """The French sentence with its location, as stored and sent in ERR-8 and MSA-3."""
        return f"{self.location.label()} : {self.message}" if self.location else self.message


def reject(code: ErrorCode, message: str, location: Location | None = None) -> Hl7Error:
    """An AR: the message cannot be taken at all (framing, header, unsupported type...)."""
    return Hl7Error(code, message, location, ack_code="AR")


@dataclass(frozen=True)
class AckHeader:
    """What an ACK needs from the message it answers; parts may be empty for a broken one."""

    sending_application: tuple[str, ...] = ()
    sending_facility: tuple[str, ...] = ()
    receiving_application: tuple[str, ...] = ()
    receiving_facility: tuple[str, ...] = ()
    message_code: str = ""
    trigger_event: str = ""
    control_id: str = ""
    processing_id: str = ""

    @property
    def message_type(self) -> str:
        """MSH-9 without its structure: ADT^A28."""
        return f"{self.message_code}^{self.trigger_event}" if self.message_code else ""


_ESCAPES = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}


def escape(value: str) -> str:
    """HL7 escaping of the delimiters (standard encoding characters). Line breaks become
    spaces: every text we write is a single-line ST. Non-ASCII letters stay as they are: the
    ACK is encoded in the charset it announces in MSH-18."""
    value = " ".join(value.splitlines())
    return "".join(_ESCAPES.get(char, char) for char in value)


def hd(components: tuple[str, ...]) -> str:
    """A hierarchic designator (or any component list) written with standard delimiters."""
    parts = [escape(part) for part in components]
    while parts and not parts[-1]:
        parts.pop()
    return "^".join(parts)


def build_ack(
    header: AckHeader, ack_code: str, error: Hl7Error | None = None, *, charset: str = "UNICODE UTF-8"
) -> str:
    """The ACK text (segments ended by CR). `charset` is the MSH-18 value announced, the one
    `encode` will use; an empty one means ASCII."""
    # python-hl7 builds the ACK from a parsed message: give it a clean MSH carrying the values
    # read from the message, so that a message with broken delimiters still gets a valid ACK.
    source = hl7.parse(
        "MSH|^~\\&|{}|{}|{}|{}|||{}^{}|{}|{}|{}\r".format(
            hd(header.sending_application), hd(header.sending_facility),
            hd(header.receiving_application) or RECEIVER, hd(header.receiving_facility) or RECEIVER,
            escape(header.message_code), escape(header.trigger_event), escape(header.control_id),
            escape(header.processing_id) or "P", ACK_VERSION,
        )
    )
    ack = source.create_ack(ack_code, message_id=hl7.generate_message_control_id())
    msh = ack.segment("MSH")
    # Local time with its offset: what French receiving systems display.
    msh.assign_field(datetime.now().astimezone().strftime("%Y%m%d%H%M%S%z"), 7)
    if charset:
        msh.assign_field(charset, 18)
    if error is not None:
        ack.segment("MSA").assign_field(escape(error.text()), 3)
        ack.append(_err_segment(ack, error))
    return str(ack)


def _err_segment(ack: hl7.Message, error: Hl7Error) -> hl7.Segment:
    err = ack.create_segment([ack.create_field(["ERR"])])
    if error.location is not None:
        for number, part in enumerate(error.location.parts(), start=1):
            err.assign_field(escape(part), 2, 1, number)
    err.assign_field(str(int(error.code)), 3, 1, 1)
    err.assign_field(ERROR_NAMES[error.code], 3, 1, 2)
    err.assign_field("HL70357", 3, 1, 3)
    err.assign_field("E", 4)  # severity: error
    err.assign_field(escape(error.text()), 8)
    return err


# MSH-18 values (HL7 table 0211) we decode, and the Python codec of each.
CHARSETS = {
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
}
# Spellings seen in the field for the same charsets.
CHARSET_ALIASES = {
    "UTF-8": "UNICODE UTF-8",
    "UTF8": "UNICODE UTF-8",
    "UNICODE UTF8": "UNICODE UTF-8",
    "ISO-8859-1": "8859/1",
    "ISO8859-1": "8859/1",
    "ISO-8859-15": "8859/15",
    "ISO8859-15": "8859/15",
}


def charset_label(value: str) -> str | None:
    """The table 0211 label for an MSH-18 value, None if we cannot decode that charset."""
    label = " ".join(value.strip().upper().split())
    label = CHARSET_ALIASES.get(label, label)
    return label if label in CHARSETS else None


def ack_charset(codec: str) -> str:
    """The MSH-18 an ACK answering a message decoded with `codec` announces: the same
    charset, so that the sender can read our accents; UTF-8 for an ASCII sender."""
    if codec == "cp1252":  # what ISO 8859-1 senders really write (see message._latin)
        return "8859/1"
    for label, name in CHARSETS.items():
        if name == codec and name != "ascii":
            return label
    return "UNICODE UTF-8"


def encode(ack_text: str) -> bytes:
    """The ACK's bytes in the charset its MSH-18 announces; a letter that charset lacks is
    written without its accent (or as "?"), never lost silently nor crashing the answer."""
    segment = ack_text.split("\r", 1)[0]
    fields = segment.split("|")
    label = fields[17] if len(fields) > 17 else ""
    codec = CHARSETS.get(charset_label(label) or "ASCII", "ascii")
    return ack_text.encode(codec, errors="ght-hl7-fallback")


def _fallback(exc: UnicodeError):
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = []
    for char in exc.object[exc.start:exc.end]:
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        try:
            base.encode(exc.encoding)
        except UnicodeEncodeError:
            base = "?"
        out.append(base or "?")
    return "".join(out), exc.end


codecs.register_error("ght-hl7-fallback", _fallback)
