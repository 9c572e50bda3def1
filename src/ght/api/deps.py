"""Request dependencies: database session and the authenticated account."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from ght.auth import sessions
from ght.auth.models import AuthSession
from ght.config import Settings

SESSION_COOKIE = "ght_session"

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    """A session per request. Routes that write commit before they answer, so that a 2xx
    always means the write is durable; anything left uncommitted is rolled back."""
    db = request.app.state.sessionmaker()
    try:
        yield db
    finally:
        db.rollback()
        db.close()


def _remember(request: Request, auth: AuthSession | None) -> AuthSession | None:
    if auth is not None:
        request.state.username = auth.account.username
    return auth


def optional_ui_session(request: Request, db: Session = Depends(get_db)) -> AuthSession | None:
    auth = sessions.resolve(db, request.cookies.get(SESSION_COOKIE), sessions.COOKIE, get_settings(request))
    if auth is not None:
        db.commit()  # keeps the sliding idle window
    return _remember(request, auth)


def require_bearer(
    request: Request, token: str | None = Depends(oauth2_scheme), db: Session = Depends(get_db)
) -> AuthSession:
    auth = sessions.resolve(db, token, sessions.BEARER, get_settings(request))
    if auth is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="jeton absent, invalide ou expiré",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return _remember(request, auth)


def require_role(*roles: str):
    """A bearer session whose account holds one of `roles`; 403 otherwise. (Role gates only:
    the care-team policy and the access trace of clinical data come with the access package.)"""

    def check(auth: AuthSession = Depends(require_bearer)) -> AuthSession:
        if not set(auth.account.roles) & set(roles):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="rôle insuffisant pour cette opération")
        return auth

    return check
