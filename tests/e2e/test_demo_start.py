"""`ght demo start` (what `make demo` runs): empty database -> territory, accounts, landing page."""

import os
import signal
import subprocess
import sys

import httpx

from support import free_port, wait_healthy


def test_demo_start_generates_once_prints_accounts_and_serves(tmp_path):
    port = free_port()
    env = {**os.environ, "GHT_DATABASE_URL": f"sqlite:///{tmp_path}/ght.db", "GHT_VAR_DIR": str(tmp_path / "var"),
           "GHT_HTTP_PORT": str(port), "COLUMNS": "200"}
    url = f"http://127.0.0.1:{port}"
    for run in ("first", "second"):
        server = subprocess.Popen(
            [sys.executable, "-m", "ght", "demo", "start", "--patients", "200"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            wait_healthy(url, server)
            with httpx.Client(base_url=url) as http:
                assert "Connexion" in http.get("/").text
                token = http.post("/auth/token", data={"username": "medecin", "password": "demo-ght-2026"})
                assert token.status_code == 200
        finally:
            server.send_signal(signal.SIGTERM)
            stdout, stderr = server.communicate(timeout=30)
        assert "medecin.traitant" in stdout and "demo-ght-2026" in stdout  # accounts printed
        generated = "Base vide : génération d'un territoire de 200 personnes" in stdout
        assert generated == (run == "first"), stdout
        assert ("Serveur d'identité : " in stdout) == (run == "first"), stdout
    assert (tmp_path / "var" / "territory" / "identities.csv").exists()
    assert (tmp_path / "var" / "territory" / "ground_truth.csv").exists()
