"""Login rate limit: after GHT_LOGIN_MAX_FAILURES failed logins of one account name, or
GHT_LOGIN_MAX_FAILURES_PER_ADDRESS from one client address, within a sliding window of
GHT_LOGIN_WINDOW_SECONDS, further attempts are refused without checking the password until
enough failures have left the window.

Failures are rows of `login_failure` (auth.models.LoginFailure), so the limit holds across the
worker processes and server instances that share the database. The account name is counted as
typed (normalised), whether an account has it or not: the answer never tells which exist."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ght.auth.models import LoginFailure
from ght.config import Settings
from ght.directory.accounts import normalise_username
from ght.db.base import utcnow

ACCOUNT = "account"
ADDRESS = "address"


@dataclass(frozen=True)
class Keys:
    """What one login attempt is counted against: an account name (or a national professional
    identifier for OpenID Connect) and the client's address; either may be unknown."""

    account: str | None
    address: str | None

    def pairs(self, settings: Settings) -> list[tuple[str, str, int]]:
        pairs = []
        if self.account:
            pairs.append((ACCOUNT, _storable(normalise_username(self.account)[:128]), settings.login_max_failures))
        if self.address:
            pairs.append((ADDRESS, _storable(self.address[:128]), settings.login_max_failures_per_address))
        return pairs


def _storable(key: str) -> str:
    """The key with NUL, which PostgreSQL text cannot hold, replaced by U+FFFD: a name typed
    with a NUL is still counted (no account has one: ght.directory.accounts)."""
    return key.replace("\x00", "\ufffd")


def retry_after(db: Session, settings: Settings, keys: Keys) -> int | None:
    """Seconds until an attempt with these keys is allowed again, or None when it is now."""
    now = utcnow()
    window = timedelta(seconds=settings.login_window_seconds)
    wait = None
    for kind, key, limit in keys.pairs(settings):
        recent = db.scalars(
            select(LoginFailure.failed_at)
            .where(LoginFailure.kind == kind, LoginFailure.key == key, LoginFailure.failed_at > now - window)
            .order_by(LoginFailure.failed_at.desc())
            .limit(limit)
        ).all()
        if len(recent) >= limit:
            # Allowed again when the oldest of the last `limit` failures leaves the window.
            seconds = max(1, math.ceil((recent[-1] + window - now).total_seconds()))
            wait = max(wait or 0, seconds)
    return wait


def record_failure(db: Session, settings: Settings, keys: Keys) -> None:
    """Count a failed attempt (the caller commits), and forget failures older than the window."""
    now = utcnow()
    db.execute(delete(LoginFailure).where(LoginFailure.failed_at <= now - timedelta(seconds=settings.login_window_seconds)))
    db.add_all(LoginFailure(kind=kind, key=key, failed_at=now) for kind, key, _ in keys.pairs(settings))
    db.flush()


def record_success(db: Session, settings: Settings, keys: Keys) -> None:
    """A successful login clears its account's failures (not its address's: one person's
    success must not reset an address from which many names are being tried)."""
    for kind, key, _ in keys.pairs(settings):
        if kind == ACCOUNT:
            db.execute(delete(LoginFailure).where(LoginFailure.kind == kind, LoginFailure.key == key))


def wait_message(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    delay = f"{minutes} minute{'s' if minutes > 1 else ''}" if seconds >= 60 else f"{seconds} seconde{'s' if seconds > 1 else ''}"
    return f"Trop de tentatives de connexion échouées : réessayez dans {delay}."
