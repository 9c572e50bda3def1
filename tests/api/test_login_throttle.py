"""Login rate limit (ght.auth.throttle) on the token endpoint and the web form, on a real
HTTP server; failures are counted in the database, so a second server sees them too."""

import re
from datetime import timedelta

from sqlalchemy import func, select, update

from ght.auth.models import LoginFailure
from ght.db.base import utcnow
from support import PASSWORD, LiveServer, free_port


def _token(http, username="claire.m", password=PASSWORD):
    return http.post("/auth/token", data={"username": username, "password": password})


def _limits(server, per_account=3, per_address=100):
    server.app.state.settings.login_max_failures = per_account
    server.app.state.settings.login_max_failures_per_address = per_address


def test_token_endpoint_answers_429_after_failures_of_one_account(live_server, make_account):
    make_account("claire.m")
    _limits(live_server)
    with live_server.client() as http:
        for _ in range(3):
            assert _token(http, password="wrong password!").status_code == 400
        blocked = _token(http)  # even the right password waits
        assert blocked.status_code == 429
        assert blocked.json()["error"] == "too_many_attempts"
        assert "Trop de tentatives de connexion échouées" in blocked.json()["error_description"]
        assert 1 <= int(blocked.headers["retry-after"]) <= 900
        assert blocked.headers["cache-control"] == "no-store"
        # Another account from the same address is not concerned by this account's limit.
        make_account("paul.d")
        assert _token(http, "paul.d").status_code == 200


def test_unknown_account_names_are_limited_the_same(live_server):
    _limits(live_server)
    with live_server.client() as http:
        answers = [_token(http, "nobody", "whatever it is").status_code for _ in range(4)]
    assert answers == [400, 400, 400, 429]


def test_failures_leave_the_window_and_success_clears_them(live_server, make_account, db):
    make_account("claire.m")
    _limits(live_server)
    with live_server.client() as http:
        for _ in range(3):
            _token(http, password="wrong password!")
        assert _token(http).status_code == 429
        window = live_server.app.state.settings.login_window_seconds
        db.execute(update(LoginFailure).values(failed_at=utcnow() - timedelta(seconds=window + 1)))
        db.commit()
        assert _token(http).status_code == 200
        _token(http, password="wrong password!")
        assert _token(http).status_code == 200  # the success forgets the account's failures
    account_rows = db.scalar(select(func.count()).select_from(LoginFailure).where(LoginFailure.kind == "account"))
    assert account_rows == 0


def test_one_address_trying_many_names_is_limited(live_server, make_account):
    make_account("claire.m")
    _limits(live_server, per_account=100, per_address=4)
    with live_server.client() as http:
        for name in ("a1", "a2", "a3", "a4"):
            assert _token(http, name, "whatever it is").status_code == 400
        assert _token(http).status_code == 429


def test_limit_holds_across_servers_sharing_the_database(live_server, settings, engine, make_account):
    make_account("claire.m")
    _limits(live_server)
    with live_server.client() as http:
        for _ in range(3):
            _token(http, password="wrong password!")
    with LiveServer(settings.model_copy(update={"http_port": free_port()}), engine) as other:
        _limits(other)
        with other.client() as http:
            assert _token(http).status_code == 429


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_web_form_refuses_in_french_after_failures(live_server, make_account):
    make_account("claire.m")
    _limits(live_server)
    with live_server.client() as http:
        token = _csrf(http.get("/").text)
        form = {"username": "claire.m", "password": "wrong password!", "csrf_token": token}
        for _ in range(3):
            assert http.post("/login", data=form).status_code == 401
        blocked = http.post("/login", data={**form, "password": PASSWORD})
    assert blocked.status_code == 429
    assert "Trop de tentatives de connexion échouées : réessayez dans" in blocked.text
    assert "retry-after" in blocked.headers
    assert "ght_session" not in blocked.headers.get("set-cookie", "")


def test_invalid_scope_is_refused_with_the_oauth_error(live_server, make_account):
    make_account("claire.m")
    with live_server.client() as http:
        response = http.post("/auth/token", data={"username": "claire.m", "password": PASSWORD,
                                                  "scope": "user/Observation.read user/Observaton.read"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "« user/Observaton.read »" in response.json()["error_description"]


def test_scope_is_normalised_and_defaults_to_the_account_s_rights(live_server, make_account, db):
    from ght.auth.models import AuthSession

    make_account("claire.m")
    with live_server.client() as http:
        plain = _token(http).json()
        asked = http.post("/auth/token", data={"username": "claire.m", "password": PASSWORD,
                                               "scope": "patient/Observation.sr  user/Patient.read"}).json()
    assert plain["scope"] == "user/*.*"
    assert asked["scope"] == "patient/Observation.rs user/Patient.read"
    stored = sorted(db.scalars(select(AuthSession.scopes)).all())
    assert stored == ["patient/Observation.rs user/Patient.read", "user/*.*"]


def test_nul_in_the_login_name_is_refused_saying_why(live_server, make_account, db):
    """Found by fuzzing (tests/api/test_fuzz_openapi.py): a NUL in the name reached PostgreSQL,
    which cannot hold NUL in text, and the token endpoint answered 500."""
    make_account("claire.m")
    with live_server.client() as http:
        refused = _token(http, "claire.m\x00")
        form = {"username": "claire.m\x00", "password": PASSWORD, "csrf_token": _csrf(http.get("/").text)}
        page = http.post("/login", data=form)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_request", "error_description": "identifiant mal formé : caractère "
                              "de contrôle (NUL, tabulation, saut de ligne...) interdit"}
    # The web form, which shows no such detail, refuses it as any wrong name, and counts it.
    assert page.status_code == 401 and "Identifiant ou mot de passe incorrect." in page.text
    keys = db.scalars(select(LoginFailure.key).where(LoginFailure.kind == "account")).all()
    assert keys == ["claire.m\ufffd"]
