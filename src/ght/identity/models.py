"""Identity tables: GHT patients, local identities (establishment, IPP), their history,
the link events between them, and the blocking keys the online matcher looks candidates up by."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ght.db.base import Base, UtcDateTime, utcnow
from ght.directory.models import Establishment
from ght.identity.features import KEY_LENGTH


class GhtPatient(Base):
    """One person for the whole group. The id is opaque, stable and never reused; a merge
    keeps the survivor and marks the other `merged_into`, an unmerge reopens it."""

    __tablename__ = "ght_patient"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    merged_into: Mapped[str | None] = mapped_column(ForeignKey("ght_patient.id"), index=True)

    identities: Mapped[list[LocalIdentity]] = relationship(
        back_populates="patient", order_by="LocalIdentity.id"
    )


class LocalIdentity(Base):
    """A patient as one establishment knows it: (FINESS juridique, IPP) and the traits it recorded."""

    __tablename__ = "local_identity"
    __table_args__ = (
        UniqueConstraint("establishment_id", "ipp"),
        # Demographic search (PDQm: family starts with, birth date) without a full scan.
        Index("ix_local_identity_birth_name", "birth_name"),
        Index("ix_local_identity_used_name", "used_name"),
        Index("ix_local_identity_birth_date", "birth_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id"))
    ipp: Mapped[str] = mapped_column(String(40))
    patient_id: Mapped[str] = mapped_column(ForeignKey("ght_patient.id"), index=True)
    # False once the IPP is retired (merged by its establishment, A40): kept for history.
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    # Traits stricts (RNIV spelling).
    birth_name: Mapped[str] = mapped_column(String(100), default="")
    first_given_name: Mapped[str] = mapped_column(String(100), default="")
    given_names: Mapped[str] = mapped_column(String(200), default="")  # space-separated
    birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1), default="U")  # M, F, U
    birth_place: Mapped[str] = mapped_column(String(5), default="")  # INSEE code
    # Traits complémentaires.
    used_name: Mapped[str] = mapped_column(String(100), default="")
    used_given_name: Mapped[str] = mapped_column(String(100), default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    postcode: Mapped[str] = mapped_column(String(10), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(30), default="")
    # INS: matricule (NIR or NIA with its key) and the OID of its assigning authority.
    ins: Mapped[str | None] = mapped_column(String(15), index=True)
    ins_oid: Mapped[str | None] = mapped_column(String(64))
    # An INS whose key is wrong is kept (it was received) but never used to link.
    ins_valid: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(5), default="PROV")  # PROV, RECUP, VALI, QUAL
    flags: Mapped[str] = mapped_column(String(100), default="")  # table 0445 codes, space-separated

    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    establishment: Mapped[Establishment] = relationship(lazy="joined")
    patient: Mapped[GhtPatient] = relationship(back_populates="identities")


class IdentityChange(Base):
    """Every version of a local identity, with who changed it, through which channel and why."""

    __tablename__ = "identity_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("local_identity.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))  # account username, or the sending system
    channel: Mapped[str] = mapped_column(String(20))  # hl7, fhir, batch, api
    reference: Mapped[str | None] = mapped_column(String(100))  # e.g. HL7 MSH-10
    event: Mapped[str] = mapped_column(String(20))  # create, update, status, retire, change-ipp
    snapshot: Mapped[dict] = mapped_column(JSON)  # the traits after the change


class LinkEvent(Base):
    """A change of which GHT patient a local identity belongs to (link, unlink, merge, unmerge)."""

    __tablename__ = "link_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(10))  # link, unlink, merge, unmerge
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("local_identity.id"), index=True)
    from_patient: Mapped[str | None] = mapped_column(String(16))
    to_patient: Mapped[str | None] = mapped_column(String(16), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(300), default="")
    score: Mapped[float | None] = mapped_column(Float)
    # A merge records what it moved so that its unmerge restores exactly the state before.
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    undone_by: Mapped[int | None] = mapped_column(ForeignKey("link_event.id"))


class BlockingKey(Base):
    """Indexed keys of each identity: a new identity is compared only with identities that
    share one of its keys (never a full scan)."""

    __tablename__ = "blocking_key"

    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("local_identity.id"), primary_key=True, index=True
    )


class IdentityFeatures(Base):
    """The comparison features of an active identity (ght.identity.features), written with its
    blocking keys in the same transaction: the online matcher reads its candidates ready to
    compare, with no normalisation to redo per candidate."""

    __tablename__ = "identity_features"

    identity_id: Mapped[int] = mapped_column(ForeignKey("local_identity.id"), primary_key=True)
    bn: Mapped[str] = mapped_column(String(100))
    bnp: Mapped[str] = mapped_column(String(100))
    un: Mapped[str] = mapped_column(String(100))
    gk: Mapped[str] = mapped_column(String(200))
    fg: Mapped[str] = mapped_column(String(100))
    bd: Mapped[str] = mapped_column(String(10))
    sx: Mapped[str] = mapped_column(String(1))
    bp: Mapped[str] = mapped_column(String(5))
    pc: Mapped[str] = mapped_column(String(10))
    ph: Mapped[str] = mapped_column(String(30))
    ins: Mapped[str] = mapped_column(String(15))


class ReviewItem(Base):
    """A pair of identities for identity-vigilance staff to decide on, or an alert (INS collision)."""

    __tablename__ = "review_item"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # doubtful_pair, ins_conflict, ins_collision
    identity_a: Mapped[int] = mapped_column(ForeignKey("local_identity.id"), index=True)
    identity_b: Mapped[int] = mapped_column(ForeignKey("local_identity.id"), index=True)
    score: Mapped[float | None] = mapped_column(Float)  # match weight (log2 Bayes factor)
    probability: Mapped[float | None] = mapped_column(Float)
    contributions: Mapped[dict] = mapped_column(JSON, default=dict)  # per field: level, weight
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)  # open, linked, distinct
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(String(500), default="")


class MatchModel(Base):
    """Trained Fellegi–Sunter parameters (m and u of each comparison level) and thresholds."""

    __tablename__ = "match_model"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    method: Mapped[str] = mapped_column(String(40))  # e.g. "splink-em", "default"
    trained_on: Mapped[int] = mapped_column(Integer, default=0)  # identities in the training set
    parameters: Mapped[dict] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Subscriber(Base):
    """A system of an establishment that must be told of links, unlinks, merges and unmerges."""

    __tablename__ = "subscriber"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))  # mllp or fhir
    endpoint: Mapped[str] = mapped_column(String(300))  # host:port, or the REST hook URL
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Publication(Base):
    """A notification queued durably for one subscriber, retried until acknowledged."""

    __tablename__ = "publication"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id"), index=True)
    link_event_id: Mapped[int] = mapped_column(ForeignKey("link_event.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)  # pending, sent
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
