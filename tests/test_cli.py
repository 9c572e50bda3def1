"""The `ght` command, run as a real process: accounts, migrations, clear errors."""

import os
import subprocess
import sys

from sqlalchemy import select

from ght.directory.accounts import authenticate
from ght.directory.models import Account, Establishment

GHT = [sys.executable, "-m", "ght"]


def run(args, database_url, stdin="", **env):
    environment = {**os.environ, "GHT_DATABASE_URL": database_url, "GHT_LOG_JSON": "false", **env}
    return subprocess.run(GHT + args, input=stdin, capture_output=True, text=True, env=environment, timeout=120)


def test_users_create_new_professional_and_log_in(db, engine, database_url):
    db.add(Establishment(finess_ej="750712184", name="CHU de Test", short_name="CHU", role="support"))
    db.commit()
    result = run(
        ["users", "create", "c.martin", "--role", "clinician", "--role", "dim_physician",
         "--rpps", "10001234565", "--family-name", "Martin", "--given-name", "Claire",
         "--profession", "medecin", "--specialty", "Information médicale",
         "--establishment", "750712184", "--password-stdin"],
        database_url, stdin="une phrase de passe solide\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Compte « c.martin » créé pour Claire MARTIN" in result.stdout
    db.expire_all()
    account = authenticate(db, "c.martin", "une phrase de passe solide")
    assert account.roles == ["clinician", "dim_physician"]
    assert account.professional.rpps == "10001234565"
    assert account.establishment.finess_ej == "750712184"

    listed = run(["users", "list"], database_url)
    assert "c.martin" in listed.stdout and "10001234565" in listed.stdout


def test_users_create_errors_are_one_clear_sentence(tmp_path):
    database_url = f"sqlite:///{tmp_path}/cli.db"  # the CLI checks, not the backend, are tested
    cases = [
        (["--role", "surgeon"], "rôle inconnu « surgeon »"),
        (["--role", "nurse", "--rpps", "10001234567"], "RPPS invalide « 10001234567 »"),
        (["--role", "nurse", "--rpps", "10001234565"], "indiquez --family-name, --given-name, --profession"),
        (["--role", "nurse", "--establishment", "999999999"], "aucun établissement du GHT"),
    ]
    for extra, message in cases:
        result = run(["users", "create", "x.y", *extra, "--password-stdin"], database_url, stdin="une phrase de passe solide\n")
        assert result.returncode == 2, (extra, result.stderr)
        assert message in result.stderr, (extra, result.stderr)
        assert "Traceback" not in result.stderr


def test_weak_password_refused(db, engine, database_url):
    result = run(
        ["users", "create", "x.y", "--role", "secretary", "--family-name", "Petit", "--given-name", "Luc",
         "--profession", "secretaire_medicale", "--password-stdin"],
        database_url, stdin="court\n",
    )
    assert result.returncode == 2 and "au moins 12 caractères" in result.stderr
    assert db.scalar(select(Account).where(Account.username == "x.y")) is None  # nothing half-created


def test_db_upgrade_and_current(engine, database_url):
    upgraded = run(["db", "upgrade"], database_url)
    assert upgraded.returncode == 0 and "Schéma à jour" in upgraded.stdout
    current = run(["db", "current"], database_url)
    assert current.returncode == 0 and "dernière" in current.stdout


def test_unreachable_database_is_reported_without_traceback(tmp_path):
    result = run(["db", "upgrade"], "postgresql://postgres@127.0.0.1:1/ght")
    assert result.returncode == 2
    assert "base de données injoignable (postgresql+psycopg://postgres@127.0.0.1:1/ght)" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_configuration_names_the_variable(tmp_path):
    result = run(["db", "upgrade"], f"sqlite:///{tmp_path}/x.db", GHT_HTTP_PORT="http")
    assert result.returncode == 2
    assert "GHT_HTTP_PORT" in result.stderr and "Traceback" not in result.stderr
