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
