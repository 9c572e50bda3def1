"""Tables of the DIM: one row per imported file (establishment, period), its RUMs and acts.

A file is imported whole or not at all (one transaction), and importing a period again
replaces it: the earlier import, its RUMs and its acts are deleted in the same transaction."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ght.db.base import Base, UtcDateTime, utcnow


class DimImport(Base):
    __tablename__ = "dim_import"
    __table_args__ = (UniqueConstraint("finess", "year", "month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finess: Mapped[str] = mapped_column(String(9))
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"))
    year: Mapped[int] = mapped_column(SmallInteger)
    month: Mapped[int] = mapped_column(SmallInteger)
    format: Mapped[str] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    lines: Mapped[int] = mapped_column(Integer)
    stays: Mapped[int] = mapped_column(Integer)
    linked: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(64))


class DimRum(Base):
    """One RUM (a stay's passage through one medical unit). `ght_patient_id` is the patient the
    identity server attached the stay to (None: not linked); `chaining_key` ATIH's anonymous
    chaining key, as ATIH's own tools produced it (never computed here)."""

    __tablename__ = "dim_rum"
    __table_args__ = (Index("ix_dim_rum_patient", "ght_patient_id"),)

    import_id: Mapped[int] = mapped_column(ForeignKey("dim_import.id", ondelete="CASCADE"), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    rss: Mapped[str] = mapped_column(String(20))
    nas: Mapped[str] = mapped_column(String(20))
    rum: Mapped[str] = mapped_column(String(10))
    ipp: Mapped[str | None] = mapped_column(String(40))
    ght_patient_id: Mapped[str | None] = mapped_column(String(16))
    link_method: Mapped[str | None] = mapped_column(String(8))  # ipp, traits
    chaining_key: Mapped[str | None] = mapped_column(String(17))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    um: Mapped[str] = mapped_column(String(4))
    entry_date: Mapped[date] = mapped_column(Date)
    entry_mode: Mapped[str] = mapped_column(String(1))
    provenance: Mapped[str] = mapped_column(String(1))
    exit_date: Mapped[date] = mapped_column(Date)
    exit_mode: Mapped[str] = mapped_column(String(1))
    destination: Mapped[str] = mapped_column(String(1))
    postcode: Mapped[str] = mapped_column(String(5))
    sessions: Mapped[int] = mapped_column(SmallInteger)
    dp: Mapped[str] = mapped_column(String(8))
    dr: Mapped[str] = mapped_column(String(8))
    das: Mapped[str] = mapped_column(String(1000))  # space-separated CIM-10 codes
    ghm: Mapped[str] = mapped_column(String(6))


class DimAct(Base):
    __tablename__ = "dim_act"

    import_id: Mapped[int] = mapped_column(ForeignKey("dim_import.id", ondelete="CASCADE"), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    act_date: Mapped[date] = mapped_column(Date)
    code: Mapped[str] = mapped_column(String(7))
    phase: Mapped[str] = mapped_column(String(1))
    activity: Mapped[str] = mapped_column(String(1))
    executions: Mapped[int] = mapped_column(SmallInteger)
