"""Which handlers apply a message, by message type and trigger event (MSH-9.1, MSH-9.2).

A route may hold several handlers, run in order in the message's one transaction: an
admission (A01) records the identity it carries now, and the encounter once the shared
record takes its feed, by adding a second handler to the same route.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ght.access.gate import SystemTrace
from ght.record import store
from ght.interop.hl7v2.ack import ErrorCode, Location, reject
from ght.interop.hl7v2.message import Header, Parsed

CHANNEL = "hl7"  # IdentityChange.channel / LinkEvent.channel for this feed


@dataclass(frozen=True)
class Inbound:
    """A stored message, handed to its handlers."""

    parsed: Parsed
    message_id: int  # hl7_message.id
    trace: SystemTrace | None = None  # the access trace of what the message writes into the record

    def write_context(self) -> store.WriteContext:
        """How the handlers write into the record: as the sending system, traced."""
        return store.WriteContext(actor=self.actor, authorize=self.trace.authorize_write if self.trace else None)

    @property
    def header(self) -> Header:
        return self.parsed.header

    @property
    def actor(self) -> str:
        """The sending system, as recorded in the identity history: application@facility."""

        def name(components: tuple[str, ...]) -> str:
            return next((value for value in components if value), "?")

        return f"{name(self.header.sending_application)}@{name(self.header.sending_facility)}"[:100]

    @property
    def reference(self) -> str:
        return self.header.control_id[:100]

    channel = CHANNEL


# A handler applies the message inside the caller's transaction (never commits) and returns
# a one-line summary of what it did; it raises Hl7Error to refuse the message.
Handler = Callable[[Session, Inbound], str]


class Registry:
    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], list[Handler]] = {}

    def add(self, message_code: str, trigger_events: tuple[str, ...] | list[str], handler: Handler) -> None:
        for event in trigger_events:
            self._routes.setdefault((message_code.upper(), event.upper()), []).append(handler)

    def route(self, message_code: str, *trigger_events: str) -> Callable[[Handler], Handler]:
        """Decorator form of `add`."""

        def register(handler: Handler) -> Handler:
            self.add(message_code, trigger_events, handler)
            return handler

        return register

    def events(self) -> list[str]:
        return sorted(f"{code}^{event}" for code, event in self._routes)

    def handlers(self, message_code: str, trigger_event: str) -> tuple[Handler, ...]:
        """The handlers of a message type; an AR (200 or 201) when it has none."""
        code, event = message_code.upper(), trigger_event.upper()
        found = self._routes.get((code, event))
        if found:
            return tuple(found)
        # Written "ADT A28" in the French text: a "^" would reach the reader escaped (\S\).
        supported = ", ".join(event.replace("^", " ") for event in self.events()) or "aucun"
        if not any(known == code for known, _ in self._routes):
            raise reject(
                ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
                f"type de message « {message_code} » non pris en charge (pris en charge : {supported})",
                Location("MSH", 1, 9, 1, 1),
            )
        raise reject(
            ErrorCode.UNSUPPORTED_EVENT,
            f"événement « {code} {event} » non pris en charge (pris en charge : {supported})",
            Location("MSH", 1, 9, 1, 2),
        )


def default_registry() -> Registry:
    """The routes the listener serves. Each domain adds its own here."""
    from ght.interop.hl7v2 import adt, documents, movements, results

    registry = Registry()
    adt.register(registry)  # first: an admission records its identity, then its movement
    movements.register(registry)
    results.register(registry)
    documents.register(registry)
    return registry
