"""Directory (annuaire) tables: the group's establishments, their sites and functional units,
the professionals who work there, and the user accounts bound to those professionals."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ght.db.base import Base, UtcDateTime, utcnow


class Establishment(Base):
    """An établissement of the GHT, identified by its FINESS juridique (entité juridique)."""

    __tablename__ = "establishment"
    __table_args__ = (CheckConstraint("role IN ('support', 'partie')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finess_ej: Mapped[str] = mapped_column(String(9), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    short_name: Mapped[str] = mapped_column(String(60))
    role: Mapped[str] = mapped_column(String(10))

    sites: Mapped[list[Site]] = relationship(
        back_populates="establishment", order_by="Site.id", cascade="all, delete-orphan"
    )

    @property
    def main_site(self) -> Site | None:
        return next((site for site in self.sites if site.is_main), None)


class Site(Base):
    """A geographic site (FINESS géographique) of an establishment."""

    __tablename__ = "site"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id"), index=True)
    finess_et: Mapped[str] = mapped_column(String(9), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    commune_insee: Mapped[str] = mapped_column(String(5))
    postcode: Mapped[str] = mapped_column(String(5))
    city: Mapped[str] = mapped_column(String(100))
    is_main: Mapped[bool] = mapped_column(Boolean, default=False)

    establishment: Mapped[Establishment] = relationship(back_populates="sites")
    units: Mapped[list[FunctionalUnit]] = relationship(
        back_populates="site", order_by="FunctionalUnit.code", cascade="all, delete-orphan"
    )


class FunctionalUnit(Base):
    """A unité fonctionnelle (UF): the unit stays, acts and PMSI summaries are attached to."""

    __tablename__ = "functional_unit"
    __table_args__ = (UniqueConstraint("establishment_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Denormalised from the site so that the UF code is unique per establishment, as in a GAM.
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    code: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    specialty: Mapped[str] = mapped_column(String(100))
    activity: Mapped[str] = mapped_column(String(3))  # MCO, SSR, PSY, HAD, URG

    site: Mapped[Site] = relationship(back_populates="units")


class Professional(Base):
    """A health or administrative professional, identified by RPPS or ADELI when regulated."""

    __tablename__ = "professional"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rpps: Mapped[str | None] = mapped_column(String(11), unique=True)
    adeli: Mapped[str | None] = mapped_column(String(9), unique=True)
    # The GHT directory's own identifier of a professional who takes part in care without a
    # national one (a DAC coordinator): their Practitioner is `pr-ght-<directory_id>`, so that a
    # CareTeam can name them (ght.access.subject).
    directory_id: Mapped[str | None] = mapped_column(String(20), unique=True)
    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    profession: Mapped[str] = mapped_column(String(40))  # ght.directory.vocab.PROFESSIONS
    specialty: Mapped[str | None] = mapped_column(String(100))
    external: Mapped[bool] = mapped_column(Boolean, default=False)

    exercises: Mapped[list[Exercise]] = relationship(
        back_populates="professional", cascade="all, delete-orphan"
    )

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class Exercise(Base):
    """A professional's activity at an establishment, optionally in one unit, over a period."""

    __tablename__ = "exercise"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    professional_id: Mapped[int] = mapped_column(ForeignKey("professional.id"), index=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"))
    functional_unit_id: Mapped[int | None] = mapped_column(ForeignKey("functional_unit.id"))
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)

    professional: Mapped[Professional] = relationship(back_populates="exercises")
    establishment: Mapped[Establishment] = relationship()
    functional_unit: Mapped[FunctionalUnit | None] = relationship()


class Account(Base):
    """A login, always bound to a professional of the directory so every action is attributable."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    # argon2id encoded hash (algorithm, parameters, salt and digest); never the password.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    professional_id: Mapped[int] = mapped_column(ForeignKey("professional.id"), index=True)
    # The establishment the account acts for (shown in the UI, written in the trace); none for
    # professionals outside the group (GP, home nurse, DAC coordinator).
    establishment_id: Mapped[int | None] = mapped_column(ForeignKey("establishment.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    professional: Mapped[Professional] = relationship(lazy="joined")
    establishment: Mapped[Establishment | None] = relationship(lazy="joined")
    role_rows: Mapped[list[AccountRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="AccountRole.role"
    )

    @property
    def roles(self) -> list[str]:
        return [row.role for row in self.role_rows]


class AccountRole(Base):
    __tablename__ = "account_role"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)  # ght.directory.vocab.Role
