"""The signed-in user of a web page and the access gate of the page's request.

A page without a valid session sends the browser to the login page (303), saying whether the
session expired; API routes answer 401 instead (ght.api.deps)."""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session

from ght.access.gate import Gate
from ght.api.deps import SESSION_COOKIE, get_db, make_gate, optional_ui_session, require_roles
from ght.audit.trail import Door
from ght.auth.models import AuthSession
from ght.directory.vocab import Role


def require_ui_session(request: Request, auth: AuthSession | None = Depends(optional_ui_session)) -> AuthSession:
    if auth is None:
        expired = SESSION_COOKIE in request.cookies  # a cookie the server no longer honours
        raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": "/?session=expiree" if expired else "/"})
    return auth


class Page:
    """What a page's handler needs: the session (for the layout) and the gate (for the data)."""

    def __init__(self, auth: AuthSession, gate: Gate, db: Session) -> None:
        self.auth, self.gate, self.db = auth, gate, db


def ui_page(request: Request, auth: AuthSession = Depends(require_ui_session), db: Session = Depends(get_db)) -> Page:
    return Page(auth, make_gate(request, auth, db, Door.WEB), db)


def role_page(*roles: Role):
    """`ui_page` for a workspace reserved to `roles`: another user gets the refusal (403 page),
    traced like the policy's own."""

    def dependency(request: Request, page: Page = Depends(ui_page)) -> Page:
        require_roles(page.gate, request, roles)  # a refusal is traced in a transaction of its own
        return page

    return dependency
