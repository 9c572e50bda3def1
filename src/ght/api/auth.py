"""`POST /auth/token` (OAuth2 password flow) and `GET /api/me`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy.orm import Session

from ght.api.deps import get_db, get_settings, require_bearer
from ght.auth import sessions
from ght.auth.models import AuthSession
from ght.directory.accounts import authenticate

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
    responses={400: {"model": OAuthError, "description": "identifiants refusés (RFC 6749 §5.2)"}},
    summary="Obtenir un jeton d'accès (OAuth2, flux password)",
)
def issue_token(
    request: Request,
    form: OAuth2PasswordRequestForm = Depends(),
    db: Session = Depends(get_db),
):
    account = authenticate(db, form.username, form.password)
    if account is None:
        return JSONResponse(
            {"error": "invalid_grant", "error_description": "identifiant ou mot de passe incorrect"},
            status_code=400,
            headers={"Cache-Control": "no-store"},
        )
    settings = get_settings(request)
    scope = " ".join(form.scopes)
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
