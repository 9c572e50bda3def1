"""The journal of inbound HL7 v2 messages: every message is stored before it is answered."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ght.db.base import Base, UtcDateTime, utcnow

# received: stored, not applied yet (a crash here is finished by the start-up recovery pass);
# applied: its effects are committed; rejected: answered AE/AR for a fault of the message;
# error: answered AE for a fault of ours (applied again if the sender repeats it).
STATUSES = ("received", "applied", "rejected", "error")


class Hl7Message(Base):
    """One message as received, with the acknowledgement sent for it.

    (sending_application, sending_facility, control_id) identifies a message for
    de-duplication: a repeat is answered with the stored ACK and not applied again.
    `control_id` is NULL when it could not be read (frame or header too broken), so such
    rows never collide with each other.
    """

    __tablename__ = "hl7_message"
    __table_args__ = (
        UniqueConstraint("sending_application", "sending_facility", "control_id"),
        CheckConstraint("status IN ('received', 'applied', 'rejected', 'error')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    peer: Mapped[str] = mapped_column(String(100), default="")  # host:port of the sender
    sending_application: Mapped[str] = mapped_column(String(255), default="")  # MSH-3 as sent
    sending_facility: Mapped[str] = mapped_column(String(255), default="")  # MSH-4 as sent
    control_id: Mapped[str | None] = mapped_column(String(199))  # MSH-10
    message_type: Mapped[str] = mapped_column(String(30), default="")  # e.g. ADT^A28
    charset: Mapped[str] = mapped_column(String(20), default="")  # codec the bytes were decoded with
    raw: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="received", index=True)
    ack_code: Mapped[str | None] = mapped_column(String(2))
    ack: Mapped[str | None] = mapped_column(Text)  # the ACK sent, so that a repeat gets the same
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str] = mapped_column(String(300), default="")  # what applying it did
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
