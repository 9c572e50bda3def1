"""Server-side sessions: the UI cookie and the API bearer token are both random secrets whose
HMAC-SHA-256 (keyed by the server secret) alone is stored, so a stolen database copy cannot be replayed and any session can be
revoked (a stateless JWT could not): a UI session at once, an API token within
GHT_TOKEN_CACHE_SECONDS on the workers that have just checked it (auth.sessions.BearerCache)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ght.db.base import Base, UtcDateTime, utcnow
from ght.directory.models import Account


class AuthSession(Base):
    __tablename__ = "auth_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # "cookie" (UI) or "bearer" (API)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    # SMART scopes (ght.auth.scopes), normalised; DEFAULT_SCOPE when none was asked.
    scopes: Mapped[str] = mapped_column(String(1000), default="")
    # How the user proved who they are: "password" or "oidc" (Pro Santé Connect-style provider).
    method: Mapped[str] = mapped_column(String(10), default="password", server_default="password")
    # With "oidc": the profession and place(s) of activity the provider asserted, as JSON.
    profession_claim: Mapped[str | None] = mapped_column(String(200))
    activity_place: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    client_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))

    account: Mapped[Account] = relationship(lazy="joined")


class LoginFailure(Base):
    """One failed login, by account name or by client address (ght.auth.throttle). In the
    database, not in a worker's memory, so that the limit holds across worker processes and
    server instances; rows older than the window are deleted as new failures come."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_key", "kind", "key", "failed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # "account" or "address"
    key: Mapped[str] = mapped_column(String(128))
    failed_at: Mapped[datetime] = mapped_column(UtcDateTime)
