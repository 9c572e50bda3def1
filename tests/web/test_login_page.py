"""French landing page, login by form with CSRF protection, session cookie, logout, expiry."""

import re
from datetime import timedelta

from sqlalchemy import update

from ght.auth.models import AuthSession
from ght.db.base import utcnow
from support import PASSWORD


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _login(http, username="claire.m", password=PASSWORD):
    page = http.get("/")
    return http.post("/login", data={"username": username, "password": password, "csrf_token": _csrf(page.text)})


def test_landing_page_is_french_with_a_login_form(live_server):
    with live_server.client() as http:
        page = http.get("/")
    assert page.status_code == 200
    assert '<html lang="fr">' in page.text
    assert "Connexion" in page.text and 'name="password"' in page.text
    assert 'for="username"' in page.text and 'for="password"' in page.text  # labelled fields
    assert "httponly" in page.headers["set-cookie"].lower()


def test_login_shows_user_role_and_establishment(live_server, make_account):
    make_account("claire.m")
    with live_server.client() as http:
        response = _login(http)
        assert response.status_code == 303
        cookie = response.headers["set-cookie"].lower()
        assert "ght_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        page = http.get("/")
    assert "Claire MARTIN" in page.text
    assert "Médecin" in page.text and "CHU de Test" in page.text
    assert "Se déconnecter" in page.text


def test_wrong_password_is_refused_in_french(live_server, make_account):
    make_account("claire.m")
    with live_server.client() as http:
        response = _login(http, password="not the password")
        assert response.status_code == 401
        assert "Identifiant ou mot de passe incorrect" in response.text
        assert "ght_session" not in http.cookies


def test_login_without_csrf_token_is_refused(live_server, make_account):
    make_account("claire.m")
    with live_server.client() as http:
        response = http.post("/login", data={"username": "claire.m", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 403
    assert "ght_session" not in response.headers.get("set-cookie", "")


def test_logout_ends_the_session(live_server, make_account):
    make_account("claire.m")
    with live_server.client() as http:
        _login(http)
        token = http.cookies["ght_session"]
        page = http.get("/")
        assert http.post("/logout", data={"csrf_token": _csrf(page.text)}).status_code == 303
        # Even replayed by hand, the old cookie no longer opens a session.
        http.cookies.clear()
        http.cookies.set("ght_session", token)
        again = http.get("/")
    assert "Se déconnecter" not in again.text and "Connexion" in again.text


def test_idle_session_expires(live_server, make_account, db):
    make_account("claire.m")
    with live_server.client() as http:
        _login(http)
        assert "Se déconnecter" in http.get("/").text
        db.execute(update(AuthSession).values(last_seen_at=utcnow() - timedelta(minutes=31)))
        db.commit()
        assert "Se déconnecter" not in http.get("/").text


def test_session_cookie_flags_and_absolute_expiry(live_server, make_account, db):
    make_account("claire.m")
    with live_server.client() as http:
        response = _login(http)
        cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("ght_session="))
        flags = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
        assert "httponly" in flags and flags["samesite"].lower() == "samesite=lax" and flags["path"] == "Path=/"
        assert flags["max-age"] == f"Max-Age={12 * 3600}"
        assert "secure" not in flags  # a loopback demo over plain HTTP
        db.execute(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.commit()
        assert "Se déconnecter" not in http.get("/").text  # past the shift's maximum, even if active


def test_cookies_are_secure_when_served_beyond_loopback(settings):
    assert settings.model_copy(update={"http_host": "0.0.0.0"}).secure_cookies()
    assert settings.model_copy(update={"cookie_secure": "true"}).secure_cookies()
    assert not settings.secure_cookies()


def test_csrf_cookie_is_strict_and_http_only(live_server):
    with live_server.client() as http:
        cookie = http.get("/").headers["set-cookie"].lower()
    assert cookie.startswith("ght_csrf=") and "httponly" in cookie and "samesite=strict" in cookie


def test_logout_without_csrf_token_keeps_the_session(live_server, make_account):
    make_account("claire.m")
    with live_server.client() as http:
        _login(http)
        assert http.post("/logout", data={"csrf_token": "forged"}).status_code == 303
        assert "Se déconnecter" in http.get("/").text
