"""`GET /auth/oidc/login` and `GET /auth/oidc/callback`: OpenID Connect login of the web UI
(authorization code flow with PKCE, state and nonce, by Authlib; ght.auth.oidc maps the
professional to an account). Both answer 404 when GHT_OIDC_ISSUER / GHT_OIDC_CLIENT_ID are unset.

State, nonce and PKCE verifier live between the two requests in a signed cookie `ght_oidc`
(Starlette's session middleware, only on /auth/oidc/, ten minutes), which binds the callback
to the browser that started the login."""

from __future__ import annotations

import hashlib
import hmac
import logging

import httpx
from fastapi import APIRouter, Depends, HTTPException, Request, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from ght.api.deps import get_db, get_settings
from ght.auth import oidc, throttle
from ght.config import Settings
from ght.web.pages import client_address, open_session, render

log = logging.getLogger("ght.auth.oidc")

PREFIX = "/auth/oidc/"
STATE_COOKIE = "ght_oidc"
STATE_SECONDS = 600

router = APIRouter(include_in_schema=False)


class OidcStateMiddleware:
    """Starlette's SessionMiddleware for the OpenID Connect routes alone: every other request
    goes straight through, with no cookie parsed or set."""

    def __init__(self, app, settings: Settings):
        self.app = app
        key = hmac.new(settings.resolved_secret_key().encode(), b"ght-oidc-state", hashlib.sha256).hexdigest()
        self.with_session = SessionMiddleware(
            app, secret_key=key, session_cookie=STATE_COOKIE, max_age=STATE_SECONDS, path="/auth/oidc",
            same_site="lax", https_only=settings.secure_cookies(),
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            return await self.with_session(scope, receive, send)
        return await self.app(scope, receive, send)


def _client(request: Request):
    client = getattr(request.app.state, "oidc_client", None)
    if client is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="connexion OpenID Connect non configurée")
    return client


def _refuse(request: Request, message: str, status_code: int):
    return render(request, "index.html", None, status_code, error=message)


@router.get("/auth/oidc/login", name="oidc_login")
async def oidc_login(request: Request):
    client = _client(request)
    settings = get_settings(request)
    redirect_uri = settings.oidc_redirect_uri or str(request.url_for("oidc_callback"))
    extra = {"acr_values": settings.oidc_acr_values} if settings.oidc_acr_values else {}
    try:
        return await client.authorize_redirect(request, redirect_uri, **extra)
    except (httpx.HTTPError, ValueError, KeyError) as error:
        log.warning("oidc provider unreachable", extra={"error": str(error)})
        return _refuse(request, "Le fournisseur d'identité est injoignable : réessayez plus tard "
                                "ou connectez-vous avec votre identifiant.", status.HTTP_502_BAD_GATEWAY)


@router.get("/auth/oidc/callback", name="oidc_callback")
async def oidc_callback(request: Request, db: Session = Depends(get_db)):
    from authlib.integrations.base_client import OAuthError

    client = _client(request)
    settings = get_settings(request)
    address = throttle.Keys(None, client_address(request))
    wait = await run_in_threadpool(throttle.retry_after, db, settings, address)
    if wait is not None:
        response = _refuse(request, throttle.wait_message(wait), status.HTTP_429_TOO_MANY_REQUESTS)
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        claims = await _verified_claims(request, client, settings)
    except OAuthError as error:
        log.info("oidc callback refused", extra={"error": error.error, "description": error.description})
        await run_in_threadpool(_failed, db, settings, address)
        if error.error in {"access_denied", "login_required", "consent_required", "interaction_required"}:
            message = "La connexion a été annulée ou refusée par le fournisseur d'identité."
        else:
            message = ("La réponse du fournisseur d'identité n'a pas pu être vérifiée "
                       "(lien expiré ou déjà utilisé) : recommencez la connexion.")
        return _refuse(request, message, status.HTTP_400_BAD_REQUEST)
    except httpx.HTTPError as error:
        log.warning("oidc provider unreachable", extra={"error": str(error)})
        return _refuse(request, "Le fournisseur d'identité est injoignable : réessayez plus tard.",
                       status.HTTP_502_BAD_GATEWAY)
    return await run_in_threadpool(_open, request, db, settings, claims, address)


async def _verified_claims(request: Request, client, settings: Settings) -> dict:
    """The ID token's claims (validated by Authlib) with the userinfo's, after the checks of
    OpenID Connect Core §5.3.2 and RFC 9207 that Authlib leaves to its caller."""
    from authlib.integrations.base_client import OAuthError

    metadata = await client.load_server_metadata()
    issuer = settings.oidc_issuer.rstrip("/")
    if str(metadata.get("issuer", "")).rstrip("/") != issuer:
        raise OAuthError(error="invalid_issuer", description="metadata issuer differs from GHT_OIDC_ISSUER")
    returned_iss = request.query_params.get("iss")
    if returned_iss is not None and returned_iss.rstrip("/") != issuer:
        raise OAuthError(error="invalid_issuer", description="iss of the authorization response")
    token = await client.authorize_access_token(request)
    id_claims = token.get("userinfo")
    if not id_claims:
        raise OAuthError(error="missing_id_token", description="no ID token in the token response")
    claims = dict(id_claims)
    if metadata.get("userinfo_endpoint"):
        userinfo = await client.userinfo(token=token)
        if userinfo.get("sub") != id_claims.get("sub"):
            raise OAuthError(error="invalid_userinfo", description="userinfo sub differs from the ID token's")
        claims.update(userinfo)
    return claims


def _failed(db: Session, settings: Settings, keys: throttle.Keys) -> None:
    throttle.record_failure(db, settings, keys)
    db.commit()


def _open(request: Request, db: Session, settings: Settings, claims: dict, address: throttle.Keys):
    try:
        login = oidc.login_account(db, settings, claims)
    except oidc.Refusal as refusal:
        db.rollback()
        log.info("oidc login refused", extra={"reason": str(refusal)})
        _failed(db, settings, address)
        return _refuse(request, str(refusal), status.HTTP_403_FORBIDDEN)
    log.info("oidc login", extra={"account": login.account.username, "national_id": str(login.national_id)})
    return open_session(
        request, db, login.account, method="oidc",
        profession_claim=login.profession, activity_place=login.activity_place,
    )
