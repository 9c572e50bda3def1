"""Record tables, in the way HAPI FHIR JPA keeps a FHIR store: one row per resource (its
current version, JSON body), one per version (history), and search-index tables written in
the same transaction as the resource.

Every clinical row carries the GHT patient id (the patient compartment) beside its local
identity: searching by patient reads one indexed column across establishments, and a
distributed deployment (Citus) shards these tables by it.

`patient_resource` keeps the FHIR body of each Patient version written through FHIR (Patient
is the identity server's: its traits live in local_identity)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from ght.db.base import Base, UtcDateTime, utcnow

# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JsonBody = JSON().with_variant(JSONB(), "postgresql")
# 64-bit keys on PostgreSQL; SQLite's INTEGER PRIMARY KEY is already 64-bit and autoincrements
# only under that exact type name.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class PatientResource(Base):
    __tablename__ = "patient_resource"

    identity_id: Mapped[int] = mapped_column(ForeignKey("local_identity.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)  # = the identity's version
    last_updated: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    body: Mapped[dict] = mapped_column(JsonBody)


class Resource(Base):
    """The current version of a resource; `body` is None once deleted (the versions keep it)."""

    __tablename__ = "fhir_resource"
    __table_args__ = (UniqueConstraint("resource_type", "fhir_id"),
                      Index("ix_fhir_resource_type_updated", "resource_type", "last_updated"),
                      # A patient's resources of one type, newest first: the search by patient
                      # reads one index range whatever the planner's statistics say.
                      Index("ix_fhir_resource_patient_type_updated", "ght_patient_id", "resource_type",
                            "last_updated"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(40))
    fhir_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    last_updated: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    ght_patient_id: Mapped[str | None] = mapped_column(String(16))
    local_identity_id: Mapped[int | None] = mapped_column(ForeignKey("local_identity.id"), index=True)
    source_establishment_id: Mapped[int | None] = mapped_column(ForeignKey("establishment.id"))
    body: Mapped[dict | None] = mapped_column(JsonBody)


class ResourceVersion(Base):
    __tablename__ = "fhir_resource_version"
    __table_args__ = (Index("ix_fhir_resource_version_type_updated", "resource_type", "last_updated"),)

    resource_id: Mapped[int] = mapped_column(ForeignKey("fhir_resource.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(40))
    last_updated: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    method: Mapped[str] = mapped_column(String(6))  # POST, PUT, DELETE
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[dict | None] = mapped_column(JsonBody)


# --------------------------------------------------------------------------- search index
# One row per indexed value; `resource_type` and `param` lead every index so that one search
# parameter of one type is one index range.


class _IndexRow:
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(40))
    param: Mapped[str] = mapped_column(String(64))

    @declared_attr
    def resource_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("fhir_resource.id"), index=True)


class TokenIndex(_IndexRow, Base):
    __tablename__ = "search_token"
    __table_args__ = (Index("ix_search_token_lookup", "resource_type", "param", "code", "system"),)

    system: Mapped[str] = mapped_column(String(255), default="")
    code: Mapped[str] = mapped_column(String(255))


class StringIndex(_IndexRow, Base):
    __tablename__ = "search_string"
    __table_args__ = (Index("ix_search_string_lookup", "resource_type", "param", "value"),)

    value: Mapped[str] = mapped_column(String(255))  # normalised: upper case, no accents


class DateIndex(_IndexRow, Base):
    __tablename__ = "search_date"
    __table_args__ = (Index("ix_search_date_low", "resource_type", "param", "low"),
                      Index("ix_search_date_high", "resource_type", "param", "high"))

    low: Mapped[datetime] = mapped_column(UtcDateTime)
    high: Mapped[datetime] = mapped_column(UtcDateTime)


class ReferenceIndex(_IndexRow, Base):
    __tablename__ = "search_reference"
    __table_args__ = (Index("ix_search_reference_lookup", "resource_type", "param", "target_id"),
                      Index("ix_search_reference_target", "target_type", "target_id"))

    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(64))


class QuantityIndex(_IndexRow, Base):
    __tablename__ = "search_quantity"
    __table_args__ = (Index("ix_search_quantity_lookup", "resource_type", "param", "value"),)

    value: Mapped[float] = mapped_column(Float)
    system: Mapped[str] = mapped_column(String(255), default="")
    code: Mapped[str] = mapped_column(String(64), default="")


INDEX_TABLES = (TokenIndex, StringIndex, DateIndex, ReferenceIndex, QuantityIndex)
