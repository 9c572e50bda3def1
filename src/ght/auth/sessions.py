"""Issue, resolve and revoke UI sessions and API bearer tokens (see auth.models)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ght.auth.models import AuthSession
from ght.auth.scopes import DEFAULT_SCOPE
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
    scopes: str = DEFAULT_SCOPE,
    client_address: str | None = None,
    user_agent: str | None = None,
    method: str = "password",
    profession_claim: str | None = None,
    activity_place: str | None = None,
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
        method=method,
        profession_claim=profession_claim,
        activity_place=activity_place,
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


class BearerCache:
    """Bearer sessions recently resolved by this process, for `seconds`: an API client sends its
    token with every request, and resolving it costs two queries where a read costs one.

    What a remembered entry may miss for at most `seconds` is a revocation or a deactivation
    of the account; the token's own expiry is always checked. 0 turns the cache off."""

    MAX_ENTRIES = 10_000

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._entries: dict[str, tuple[float, AuthSession]] = {}
        self._lock = threading.Lock()

    def peek(self, token: str | None, settings: Settings) -> AuthSession | None:
        """The remembered session for this token, detached (read it, never change it), or None
        when it is not remembered, too old or expired. No database access."""
        if not token or self.seconds <= 0:
            return None
        digest = _digest(token, settings)
        cached = self._entries.get(digest)
        if cached is None:
            return None
        stored_at, row = cached
        if time.monotonic() - stored_at < self.seconds and row.expires_at > utcnow():
            return row
        self.forget_digest(digest)
        return None

    def resolve_detached(self, db: Session, token: str | None, settings: Settings) -> AuthSession | None:
        """As peek, else resolved with `db` and remembered: detached either way."""
        row = self.peek(token, settings)
        if row is not None:
            return row
        row = resolve(db, token, BEARER, settings)
        if row is None:
            return None
        _detach(db, row)
        if self.seconds > 0:
            with self._lock:
                if len(self._entries) >= self.MAX_ENTRIES:
                    self._entries.clear()
                self._entries[_digest(token, settings)] = (time.monotonic(), row)
        return row

    def forget_digest(self, digest: str) -> None:
        with self._lock:
            self._entries.pop(digest, None)


def _detach(db: Session, row: AuthSession) -> None:
    """Out of `db` with everything the routes read, loaded: expunge does not cascade along
    these relationships, and what stayed in the session would be expired by its rollback."""
    account = row.account
    for loaded in (row, account, account.professional, account.establishment, *account.role_rows):
        if loaded is not None and loaded in db:
            db.expunge(loaded)
