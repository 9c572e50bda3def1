"""Issue, resolve and revoke UI sessions and API bearer tokens (see auth.models)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ght.auth.models import AuthSession
from ght.config import Settings
from ght.db.base import utcnow
from ght.directory.models import Account

COOKIE = "cookie"
BEARER = "bearer"


def _digest(token: str, settings: Settings) -> str:
    key = settings.resolved_secret_key().encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Issued:
    token: str  # the secret, given once to the client
    session: AuthSession


def issue(
    db: Session,
    account: Account,
    kind: str,
    settings: Settings,
    *,
    scopes: str = "",
    client_address: str | None = None,
    user_agent: str | None = None,
) -> Issued:
    now = utcnow()
    if kind == COOKIE:
        expires = now + timedelta(hours=settings.session_max_hours)
    else:
        expires = now + timedelta(minutes=settings.token_minutes)
    token = secrets.token_urlsafe(32)
    row = AuthSession(
        token_hash=_digest(token, settings),
        kind=kind,
        account_id=account.id,
        scopes=scopes,
        created_at=now,
        last_seen_at=now,
        expires_at=expires,
        client_address=client_address,
        user_agent=(user_agent or "")[:300] or None,
    )
    db.add(row)
    db.flush()
    return Issued(token, row)


def resolve(db: Session, token: str | None, kind: str, settings: Settings) -> AuthSession | None:
    """The live session for this token, or None (unknown, revoked, expired, idle, inactive)."""
    if not token:
        return None
    row = db.scalar(
        select(AuthSession).where(AuthSession.token_hash == _digest(token, settings), AuthSession.kind == kind)
    )
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if not row.account.active:
        return None
    if kind == COOKIE:
        if now - row.last_seen_at > timedelta(minutes=settings.session_idle_minutes):
            return None
        # Sliding idle window; written at most once a minute to spare the database.
        if now - row.last_seen_at > timedelta(minutes=1):
            row.last_seen_at = now
    return row


def revoke(db: Session, token: str | None, settings: Settings) -> None:
    if token:
        db.execute(
            update(AuthSession)
            .where(AuthSession.token_hash == _digest(token, settings), AuthSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
