"""`POST /auth/token` (OAuth2 password flow) and bearer access, on a real HTTP server."""

from support import PASSWORD


def test_token_issued_for_right_password_and_used_as_bearer(live_server, make_account):
    make_account("claire.m")
    with live_server.client() as http:
        response = http.post("/auth/token", data={"username": "claire.m", "password": PASSWORD})
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 3600
        me = http.get("/api/me", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.status_code == 200
        assert me.json()["username"] == "claire.m"
        assert me.json()["roles"] == ["clinician"]
        assert me.json()["establishment_name"] == "CHU de Test"


def test_wrong_password_refused_with_oauth_error(live_server, make_account):
    make_account("claire.m")
    with live_server.client() as http:
        response = http.post("/auth/token", data={"username": "claire.m", "password": "wrong password!"})
        assert response.status_code == 400
        assert response.json() == {
            "error": "invalid_grant", "error_description": "identifiant ou mot de passe incorrect",
        }
        unknown = http.post("/auth/token", data={"username": "nobody", "password": PASSWORD})
        assert unknown.status_code == 400  # same answer: no hint of which accounts exist


def test_missing_form_fields_are_reported(live_server):
    with live_server.client() as http:
        response = http.post("/auth/token", data={"username": "x"})
        assert response.status_code == 422
        assert any(error["loc"] == ["body", "password"] for error in response.json()["detail"])


def test_api_refuses_missing_forged_or_cookie_tokens(live_server, make_account):
    make_account("claire.m")
    with live_server.client() as http:
        assert http.get("/api/me").status_code == 401
        forged = http.get("/api/me", headers={"Authorization": "Bearer not-a-token"})
        assert forged.status_code == 401
        assert forged.headers["www-authenticate"] == "Bearer"


def test_token_stored_only_as_keyed_digest(live_server, make_account, db):
    from sqlalchemy import text

    make_account("claire.m")
    with live_server.client() as http:
        token = http.post("/auth/token", data={"username": "claire.m", "password": PASSWORD}).json()["access_token"]
    stored = db.execute(text("SELECT token_hash FROM auth_session")).scalars().all()
    assert len(stored) == 1 and len(stored[0]) == 64 and token not in stored[0]


def test_disabled_account_token_stops_working(live_server, make_account, db):
    from ght.directory.accounts import disable_account

    make_account("claire.m")
    with live_server.client() as http:
        token = http.post("/auth/token", data={"username": "claire.m", "password": PASSWORD}).json()["access_token"]
        disable_account(db, "claire.m")
        db.commit()
        assert http.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def _token(http) -> str:
    return http.post("/auth/token", data={"username": "claire.m", "password": PASSWORD}).json()["access_token"]


def test_checked_token_is_remembered_without_querying_sessions_again(live_server, make_account, engine):
    from sqlalchemy import event

    make_account("claire.m")
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    with live_server.client() as http:
        headers = {"Authorization": f"Bearer {_token(http)}"}
        assert http.get("/api/me", headers=headers).status_code == 200
        event.listen(engine, "before_cursor_execute", count)
        try:
            for _ in range(3):
                me = http.get("/api/me", headers=headers)
                assert me.status_code == 200 and me.json()["roles"] == ["clinician"]
                assert me.json()["establishment_name"] == "CHU de Test"
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert not [s for s in statements if "auth_session" in s]


def test_disabled_account_refused_once_the_cache_delay_has_passed(live_server, make_account, db):
    import time

    from ght.directory.accounts import disable_account

    make_account("claire.m")
    live_server.app.state.bearer_cache.seconds = 0.5
    with live_server.client() as http:
        headers = {"Authorization": f"Bearer {_token(http)}"}
        assert http.get("/api/me", headers=headers).status_code == 200  # now remembered
        disable_account(db, "claire.m")
        db.commit()
        time.sleep(0.6)
        assert http.get("/api/me", headers=headers).status_code == 401


def test_without_cache_a_disabled_account_is_refused_at_once(live_server, make_account, db):
    from ght.directory.accounts import disable_account

    make_account("claire.m")
    live_server.app.state.bearer_cache.seconds = 0
    with live_server.client() as http:
        headers = {"Authorization": f"Bearer {_token(http)}"}
        assert http.get("/api/me", headers=headers).status_code == 200
        disable_account(db, "claire.m")
        db.commit()
        assert http.get("/api/me", headers=headers).status_code == 401


def test_expired_token_refused_even_when_remembered(live_server, make_account, db):
    from datetime import timedelta

    from sqlalchemy import update

    from ght.auth.models import AuthSession
    from ght.db.base import utcnow

    make_account("claire.m")
    with live_server.client() as http:
        headers = {"Authorization": f"Bearer {_token(http)}"}
        assert http.get("/api/me", headers=headers).status_code == 200
        cache = live_server.app.state.bearer_cache
        for _, row in cache._entries.values():  # as if an hour had passed since the token was issued
            row.expires_at = utcnow() - timedelta(seconds=1)
        db.execute(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.commit()
        assert http.get("/api/me", headers=headers).status_code == 401
