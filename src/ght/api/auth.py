"""`POST /auth/token` (OAuth2 password flow) and `GET /api/me`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy.orm import Session

from ght.api.deps import get_db, get_settings, require_bearer
from ght.auth import scopes, sessions, throttle
from ght.auth.models import AuthSession
from ght.directory.accounts import authenticate, has_control_character

router = APIRouter(tags=["authentification"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    scope: str


class OAuthError(BaseModel):
    error: str
    error_description: str


class Me(BaseModel):
    username: str
    display_name: str
    roles: list[str]
    profession: str
    rpps: str | None
    adeli: str | None
    establishment_finess: str | None
    establishment_name: str | None


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    responses={
        400: {"model": OAuthError, "description": "identifiants refusés, identifiant mal formé ou portée invalide "
                                                 "(RFC 6749 §5.2)"},
        429: {"model": OAuthError, "description": "trop de tentatives échouées : attendre `Retry-After` secondes"},
    },
    summary="Obtenir un jeton d'accès (OAuth2, flux password)",
)
def issue_token(
    request: Request,
    form: OAuth2PasswordRequestForm = Depends(),
    db: Session = Depends(get_db),
):
    settings = get_settings(request)
    if has_control_character(form.username):
        return _oauth_error("invalid_request", "identifiant mal formé : caractère de contrôle (NUL, tabulation, "
                                               "saut de ligne...) interdit", 400)
    try:
        scope = scopes.validate(" ".join(form.scopes))
    except ValueError as error:
        return _oauth_error("invalid_scope", str(error), 400)
    keys = throttle.Keys(form.username, request.client.host if request.client else None)
    wait = throttle.retry_after(db, settings, keys)
    if wait is not None:
        return _oauth_error("too_many_attempts", throttle.wait_message(wait), 429, {"Retry-After": str(wait)})
    account = authenticate(db, form.username, form.password)
    if account is None:
        throttle.record_failure(db, settings, keys)
        db.commit()
        return _oauth_error("invalid_grant", "identifiant ou mot de passe incorrect", 400)
    throttle.record_success(db, settings, keys)
    issued = sessions.issue(
        db,
        account,
        sessions.BEARER,
        settings,
        scopes=scope,
        client_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )
    db.commit()
    return JSONResponse(
        TokenResponse(
            access_token=issued.token, expires_in=settings.token_minutes * 60, scope=scope
        ).model_dump(),
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def _oauth_error(error: str, description: str, status_code: int, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status_code,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def describe(auth: AuthSession) -> Me:
    account = auth.account
    professional = account.professional
    return Me(
        username=account.username,
        display_name=professional.display_name,
        roles=account.roles,
        profession=professional.profession,
        rpps=professional.rpps,
        adeli=professional.adeli,
        establishment_finess=account.establishment.finess_ej if account.establishment else None,
        establishment_name=account.establishment.name if account.establishment else None,
    )


@router.get("/api/me", response_model=Me, summary="Le compte authentifié")
def me(auth: AuthSession = Depends(require_bearer)) -> Me:
    return describe(auth)
