"""Landing page, login and logout (French UI)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from ght.api.deps import SESSION_COOKIE, get_db, get_settings, optional_ui_session
from ght.auth import sessions, throttle
from ght.auth.models import AuthSession
from ght.directory.accounts import authenticate
from ght.directory.vocab import PROFESSIONS, ROLE_LABELS_FR, Role
from ght.web import csrf

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
templates.env.globals["role_label"] = lambda code: ROLE_LABELS_FR.get(Role(code), code)
templates.env.globals["role_codes"] = {r.value for r in Role}
templates.env.globals["profession_label"] = lambda code: PROFESSIONS.get(code, (code,))[0]

router = APIRouter(include_in_schema=False)


def render(request: Request, name: str, auth: AuthSession | None, status_code: int = 200, **context):
    token = csrf.token_for(request)
    settings = get_settings(request)
    oidc_label = settings.oidc_button_label if settings.oidc_enabled() else None
    response = templates.TemplateResponse(
        request, name, {"auth": auth, "csrf_token": token, "oidc_label": oidc_label, **context},
        status_code=status_code,
    )
    csrf.attach(response, token, settings.secure_cookies())
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/", response_class=HTMLResponse)
def landing(request: Request, auth: AuthSession | None = Depends(optional_ui_session)):
    return render(request, "index.html", auth)


@router.post("/login")
def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    db: Session = Depends(get_db),
):
    if not csrf.is_valid(request, csrf_token):
        return render(
            request, "index.html", None, status.HTTP_403_FORBIDDEN,
            error="Le formulaire a expiré : rechargez la page et recommencez.", username=username,
        )
    settings = get_settings(request)
    keys = throttle.Keys(username, client_address(request))
    wait = throttle.retry_after(db, settings, keys)
    if wait is not None:
        response = render(
            request, "index.html", None, status.HTTP_429_TOO_MANY_REQUESTS,
            error=throttle.wait_message(wait), username=username,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    account = authenticate(db, username, password)
    if account is None:
        throttle.record_failure(db, settings, keys)
        db.commit()
        return render(
            request, "index.html", None, status.HTTP_401_UNAUTHORIZED,
            error="Identifiant ou mot de passe incorrect.", username=username,
        )
    throttle.record_success(db, settings, keys)
    return open_session(request, db, account)


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def open_session(request: Request, db: Session, account, **details) -> RedirectResponse:
    """Issue a UI session for `account`, commit, and send the browser to the landing page with
    its cookie (password login and OpenID Connect alike)."""
    settings = get_settings(request)
    issued = sessions.issue(
        db, account, sessions.COOKIE, settings,
        client_address=client_address(request),
        user_agent=request.headers.get("user-agent"),
        **details,
    )
    db.commit()
    response = RedirectResponse("/", status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE, issued.token, httponly=True, samesite="lax",
        secure=settings.secure_cookies(), path="/", max_age=settings.session_max_hours * 3600,
    )
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form(""), db: Session = Depends(get_db)):
    if not csrf.is_valid(request, csrf_token):
        return RedirectResponse("/", status.HTTP_303_SEE_OTHER)
    sessions.revoke(db, request.cookies.get(SESSION_COOKIE), get_settings(request))
    db.commit()
    response = RedirectResponse("/", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# Paths whose errors stay machine-readable (JSON, OperationOutcome), whatever the client accepts.
MACHINE_PATHS = ("/api/", "/fhir", "/auth/token", "/health", "/openapi.json", "/docs", "/static/")


def _wants_page(request: Request) -> bool:
    return (not request.url.path.startswith(MACHINE_PATHS)
            and "text/html" in request.headers.get("accept", ""))


def install_error_pages(app) -> None:
    """A browser that meets an error on a page (403, 404, 400...) gets a French page saying
    what happened, with the same status; API clients keep their JSON. Redirections (a page's
    303 to the login form) pass through. Installed after the FHIR handlers, which it wraps."""
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from ght.access.gate import AccessDenied

    previous_http = app.exception_handlers[StarletteHTTPException]
    previous_denied = app.exception_handlers[AccessDenied]

    def page(request: Request, status_code: int, message: str):
        # Without the layout's user panel: the request's database session may already be closed.
        return render(request, "error.html", None, status_code, code=status_code, message=message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code < 400 or not _wants_page(request):
            return await previous_http(request, exc)
        detail = exc.detail if isinstance(exc.detail, str) else "requête invalide"
        return page(request, exc.status_code, detail)

    @app.exception_handler(AccessDenied)
    async def access_denied(request: Request, exc: AccessDenied):
        if not _wants_page(request):
            return await previous_denied(request, exc)
        return page(request, status.HTTP_403_FORBIDDEN, f"Accès refusé : {exc.reason}.")
