"""Tables of the access package: emergency accesses (break-the-glass) and explicit grants.

The care-team relation and the patient's will are not stored here: they are read from the
shared record itself (CareTeam, Encounter, EpisodeOfCare, Task, ServiceRequest and Consent
resources of the patient's compartment), so they follow merges and a change is honoured at
the next request, with no second copy to keep in step."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ght.db.base import Base, UtcDateTime, utcnow


class BreakGlass(Base):
    """An emergency access outside the rules: one account, one patient, a typed reason, a limited
    time; reviewed afterwards by the DPO or the medical lead."""

    __tablename__ = "access_break_glass"
    __table_args__ = (Index("ix_access_break_glass_account_patient", "account_id", "ght_patient_id", "expires_at"),
                      Index("ix_access_break_glass_review", "reviewed_at", "started_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    ght_patient_id: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    client_address: Mapped[str | None] = mapped_column(String(45))
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    review_verdict: Mapped[str | None] = mapped_column(String(16))  # justified, unjustified
    review_note: Mapped[str | None] = mapped_column(Text)


class AccessGrant(Base):
    """An explicit grant given by the DPO or the medical lead: `sensitive` opens resources whose
    confidentiality is R or V to an account that may otherwise see the patient's record;
    `record` opens the record itself (a DIM physician's quality audit, say) outside the care
    team. For one patient, or every patient when `ght_patient_id` is empty."""

    __tablename__ = "access_grant"
    __table_args__ = (CheckConstraint("kind IN ('sensitive', 'record')", name="kind"),
                      Index("ix_access_grant_account", "account_id", "ends_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    ght_patient_id: Mapped[str | None] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    granted_by: Mapped[int] = mapped_column(ForeignKey("account.id"))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
