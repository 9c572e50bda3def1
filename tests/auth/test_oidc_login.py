"""OpenID Connect login of professionals against a real OpenID Provider (oidc-provider, over
HTTP on loopback) and a real ght server: the whole authorization code flow, with PKCE, state and
nonce, and the mapping of the asserted RPPS / ADELI to the demo directory."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from sqlalchemy import select

from ght.auth.models import AuthSession
from ght.demo import GeneratorConfig, generate
from ght.directory.accounts import create_account
from ght.directory.identifiers import rpps_with_key
from ght.directory.models import Account, Professional
from ght.directory.seed import create_demo_accounts, load_directory
from ght.directory.vocab import Role
from support import PASSWORD


@pytest.fixture(scope="module")
def territory(tmp_path_factory):
    return generate(GeneratorConfig(patients=20, seed=7, clinical=False), tmp_path_factory.mktemp("territory"))


@pytest.fixture
def directory(db, territory):
    load_directory(db, territory)
    create_demo_accounts(db)
    db.commit()
    return db


def psc_claims(professional: Professional, finess_site: str | None = None, profession: str = "10") -> dict:
    """Claims as Pro Santé Connect sends them (idNat_PS: "8" + RPPS, "0" + ADELI)."""
    idnat = f"8{professional.rpps}" if professional.rpps else f"0{professional.adeli}"
    return {
        "SubjectNameID": idnat, "preferred_username": idnat,
        "family_name": professional.family_name, "given_name": professional.given_name,
        "SubjectRefPro": {"codeCivilite": "DR", "exercices": [{
            "codeProfession": profession, "codeCategorieProfessionnelle": "C",
            "activities": [{"raisonSocialeSite": "Site de test", "numeroFinessSite": finess_site or "",
                            "identifiantStructure": "R10000001"}],
        }]},
    }


def shown(response: httpx.Response) -> str:
    """The page's text as a reader sees it (Jinja2 escapes apostrophes)."""
    return html.unescape(response.text)


def _absolute(response: httpx.Response) -> str:
    return urljoin(str(response.url), response.headers["location"])


def login_with_provider(http: httpx.Client, server, login: str) -> tuple[httpx.Response, str]:
    """Drive the code flow as a browser does: ght -> provider -> its login form -> ght's
    callback. Returns ght's answer to the callback and the authorization URL it built."""
    start = http.get(f"{server.url}/auth/oidc/login")
    assert start.status_code == 302, start.text
    authorization_url = start.headers["location"]
    response = http.get(authorization_url)
    while response.is_redirect and "/interaction/" not in response.headers["location"]:
        response = http.get(_absolute(response))
    interaction = _absolute(response)
    form = http.get(interaction)
    action = re.search(r'action="([^"]+)"', form.text).group(1)
    response = http.post(urljoin(interaction, action), data={"login": login})
    while response.is_redirect:
        target = _absolute(response)
        if target.startswith(server.url):
            return http.get(target), authorization_url
        response = http.get(target)
    raise AssertionError(f"the provider did not send the browser back: {response.status_code} {response.text[:300]}")


def test_professional_logs_in_through_the_provider(oidc_server, oidc_provider, directory):
    account = directory.scalar(select(Account).where(Account.username == "medecin"))
    site = account.establishment.main_site.finess_et
    oidc_provider.set_accounts({"dr-medecin": psc_claims(account.professional, site)})
    with httpx.Client(timeout=15) as http:
        callback, authorization_url = login_with_provider(http, oidc_server, "dr-medecin")
        assert callback.status_code == 303 and callback.headers["location"] == "/"
        cookie = next(c for c in callback.headers.get_list("set-cookie") if c.startswith("ght_session="))
        assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        page = http.get(f"{oidc_server.url}/")
    query = parse_qs(urlsplit(authorization_url).query)
    assert authorization_url.startswith(oidc_provider.issuer)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    assert query["state"][0] and query["nonce"][0]
    assert query["response_type"] == ["code"] and "openid" in query["scope"][0].split()
    assert account.professional.display_name in page.text and "Se déconnecter" in page.text
    session = directory.scalar(select(AuthSession))
    assert session.kind == "cookie" and session.method == "oidc" and session.account_id == account.id
    assert session.profession_claim == "10"
    places = json.loads(session.activity_place)
    assert places[0]["numeroFinessSite"] == site and places[0]["raisonSocialeSite"] == "Site de test"
    assert session.scopes == "user/*.*"


def test_replayed_callback_is_refused(oidc_server, oidc_provider, directory):
    account = directory.scalar(select(Account).where(Account.username == "infirmier"))
    oidc_provider.set_accounts({"ide": psc_claims(account.professional, profession="60")})
    with httpx.Client(timeout=15) as http:
        callback, _ = login_with_provider(http, oidc_server, "ide")
        assert callback.status_code == 303
        again = http.get(str(callback.url))  # the same code and state a second time
    assert again.status_code == 400, again.text
    assert "n'a pas pu être vérifiée" in shown(again)


def test_callback_from_another_browser_is_refused(oidc_server, oidc_provider, directory):
    account = directory.scalar(select(Account).where(Account.username == "medecin"))
    oidc_provider.set_accounts({"dr": psc_claims(account.professional)})
    with httpx.Client(timeout=15) as victim, httpx.Client(timeout=15) as attacker:
        start = attacker.get(f"{oidc_server.url}/auth/oidc/login")
        # The victim's browser is sent the attacker's authorization response: its state is bound
        # to the attacker's browser (cookie ght_oidc), not to the victim's.
        response = attacker.get(start.headers["location"])
        while response.is_redirect and "/interaction/" not in response.headers["location"]:
            response = attacker.get(_absolute(response))
        interaction = _absolute(response)
        form = attacker.get(interaction)
        action = re.search(r'action="([^"]+)"', form.text).group(1)
        response = attacker.post(urljoin(interaction, action), data={"login": "dr"})
        while response.is_redirect and not _absolute(response).startswith(oidc_server.url):
            response = attacker.get(_absolute(response))
        answer = victim.get(_absolute(response))
    assert answer.status_code == 400
    assert "ght_session" not in answer.headers.get("set-cookie", "")


def test_professional_unknown_to_the_directory_is_refused(oidc_server, oidc_provider, directory):
    stranger = Professional(rpps=rpps_with_key("1999999999"), adeli=None, family_name="INCONNU",
                            given_name="Jean", profession="medecin", specialty=None, external=True)
    oidc_provider.set_accounts({"stranger": psc_claims(stranger)})
    with httpx.Client(timeout=15) as http:
        callback, _ = login_with_provider(http, oidc_server, "stranger")
    assert callback.status_code == 403
    assert "pas enregistré dans l'annuaire du GHT" in shown(callback) and stranger.rpps in shown(callback)
    assert "ght_session" not in callback.headers.get("set-cookie", "")


def test_staff_without_an_account_is_refused(oidc_server, oidc_provider, directory):
    with_account = select(Account.professional_id)
    professional = directory.scalars(
        select(Professional).where(Professional.external.is_(False), Professional.rpps.is_not(None),
                                   Professional.id.not_in(with_account)).order_by(Professional.id)
    ).first()
    oidc_provider.set_accounts({"staff": psc_claims(professional)})
    with httpx.Client(timeout=15) as http:
        callback, _ = login_with_provider(http, oidc_server, "staff")
    assert callback.status_code == 403
    assert "n'avez pas encore de compte" in shown(callback)
    assert directory.scalar(select(Account).where(Account.professional_id == professional.id)) is None


def test_external_professional_gets_an_external_account_once(oidc_server, oidc_provider, directory):
    with_account = select(Account.professional_id)
    gp = directory.scalars(
        select(Professional).where(Professional.external.is_(True), Professional.rpps.is_not(None),
                                   Professional.id.not_in(with_account)).order_by(Professional.id)
    ).first()
    oidc_provider.set_accounts({"gp": psc_claims(gp)})
    for _ in range(2):
        with httpx.Client(timeout=15) as http:
            callback, _ = login_with_provider(http, oidc_server, "gp")
            assert callback.status_code == 303
            assert "Professionnel extérieur" in http.get(f"{oidc_server.url}/").text
    directory.expire_all()
    accounts = directory.scalars(select(Account).where(Account.professional_id == gp.id)).all()
    assert len(accounts) == 1
    assert accounts[0].username == f"psc.{gp.rpps}" and accounts[0].roles == ["external"]
    assert accounts[0].establishment is None and accounts[0].password_hash is None


def test_adeli_professional_logs_in(oidc_server, oidc_provider, directory):
    professional = directory.scalars(
        select(Professional).where(Professional.adeli.is_not(None), Professional.external.is_(False))
        .order_by(Professional.id)
    ).first()
    account = create_account(directory, "psy", PASSWORD, professional, None, [Role.NURSE])
    directory.commit()
    oidc_provider.set_accounts({"psy": psc_claims(professional, profession="93")})
    with httpx.Client(timeout=15) as http:
        callback, _ = login_with_provider(http, oidc_server, "psy")
    assert callback.status_code == 303
    assert directory.scalar(select(AuthSession.account_id)) == account.id


def test_disabled_account_is_refused(oidc_server, oidc_provider, directory):
    from ght.directory.accounts import disable_account

    account = disable_account(directory, "medecin")
    directory.commit()
    oidc_provider.set_accounts({"dr": psc_claims(account.professional)})
    with httpx.Client(timeout=15) as http:
        callback, _ = login_with_provider(http, oidc_server, "dr")
    assert callback.status_code == 403 and "Votre compte est désactivé" in shown(callback)


def test_cancelled_login_and_rate_limit_on_the_callback(oidc_server):
    oidc_server.app.state.settings.login_max_failures_per_address = 2
    with httpx.Client(base_url=oidc_server.url, timeout=15) as http:
        cancelled = http.get("/auth/oidc/callback", params={"error": "access_denied", "state": "x"})
        assert cancelled.status_code == 400 and "annulée ou refusée" in shown(cancelled)
        forged = http.get("/auth/oidc/callback", params={"code": "forged", "state": "forged"})
        assert forged.status_code == 400 and "n'a pas pu être vérifiée" in shown(forged)
        blocked = http.get("/auth/oidc/callback", params={"code": "forged", "state": "forged"})
    assert blocked.status_code == 429 and "Trop de tentatives" in shown(blocked)
    assert int(blocked.headers["retry-after"]) >= 1


def test_login_page_shows_the_provider_button(oidc_server, oidc_settings):
    with oidc_server.client() as http:
        page = http.get("/")
    assert "Se connecter avec Pro Santé Connect" in page.text and 'href="/auth/oidc/login"' in page.text


def test_without_configuration_no_button_and_404(live_server):
    with live_server.client() as http:
        page = http.get("/")
        assert "Pro Santé Connect" not in page.text and "/auth/oidc/login" not in page.text
        assert http.get("/auth/oidc/login").status_code == 404
        assert http.get("/auth/oidc/callback", params={"code": "x", "state": "y"}).status_code == 404
