"""CSRF protection for forms: double-submit token bound to a cookie, compared in constant time."""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response

CSRF_COOKIE = "ght_csrf"


def token_for(request: Request) -> str:
    """The browser's current token, or a new one when it has none."""
    token = request.cookies.get(CSRF_COOKIE)
    return token if token and len(token) >= 32 else secrets.token_urlsafe(32)


def attach(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/")


def is_valid(request: Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    return bool(cookie and submitted) and hmac.compare_digest(cookie, submitted)
