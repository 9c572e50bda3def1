"""A real OpenID Provider (panva/oidc-provider, tests/oidc_provider/) on a loopback port, and a
ght server configured as its client."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from support import LiveServer, free_port

PROVIDER_DIR = Path(__file__).parents[1] / "oidc_provider"


class OidcProvider:
    def __init__(self, issuer: str, accounts_file: Path, process: subprocess.Popen):
        self.issuer = issuer
        self.accounts_file = accounts_file
        self.process = process

    def set_accounts(self, accounts: dict[str, dict]) -> None:
        """The provider's accounts, login -> claims (read by the provider at every look-up)."""
        self.accounts_file.write_text(json.dumps(accounts))

    def register_client(self, redirect_uri: str) -> tuple[str, str]:
        """A confidential client registered by OpenID Connect Dynamic Client Registration."""
        response = httpx.post(f"{self.issuer}/reg", json={
            "redirect_uris": [redirect_uri], "grant_types": ["authorization_code"],
            "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic",
        }, timeout=10)
        response.raise_for_status()
        return response.json()["client_id"], response.json()["client_secret"]


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory):
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node et npm sont absents : le fournisseur OpenID de test (oidc-provider) ne peut pas démarrer")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("tests/oidc_provider/node_modules manque : lancez `make install-dev` (npm ci)")
    accounts = tmp_path_factory.mktemp("oidc") / "accounts.json"
    accounts.write_text("{}")
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([node, "provider.mjs", str(port), str(accounts)], cwd=PROVIDER_DIR,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the OpenID provider exited: {process.stderr.read()}")
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the OpenID provider did not start")
            time.sleep(0.1)
        yield OidcProvider(issuer, accounts, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def oidc_settings(settings, oidc_provider):
    callback = f"http://{settings.http_host}:{settings.http_port}/auth/oidc/callback"
    client_id, client_secret = oidc_provider.register_client(callback)
    return settings.model_copy(update={
        "oidc_issuer": oidc_provider.issuer, "oidc_client_id": client_id,
        "oidc_client_secret": client_secret, "oidc_scopes": "openid profile scope_all",
    })


@pytest.fixture
def oidc_server(oidc_settings, engine):
    with LiveServer(oidc_settings, engine) as server:
        yield server
