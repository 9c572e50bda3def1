"""Settings, all read from the environment (prefix GHT_). The one place they are documented:
docs/configuration.md lists each variable with its default."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GHT_", extra="ignore")

    # Storage. Embedded default: SQLite in ./var/ (WAL); production: postgresql+psycopg://...
    database_url: str = f"sqlite:///{VAR_DIR / 'ght.db'}"
    var_dir: Path = VAR_DIR

    # Network. 8000 for HTTP; 2575 is HL7's registered MLLP port.
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    # HTTP worker processes: one per core in production (the demo's SQLite is happy with one).
    http_workers: int = Field(default=1, ge=1, le=64)
    # Threads per worker for the synchronous routes (database work through SQLAlchemy).
    http_threads: int = Field(default=8, ge=1, le=200)
    # Batch and transaction bundles at work at once per worker; the next ones wait their turn
    # (ght.interop.fhir.bundle_limit).
    http_bundles: int = Field(default=2, ge=1, le=200)
    mllp_host: str = "127.0.0.1"
    mllp_port: int = Field(default=2575, ge=1, le=65535)

    # Server secret (keys the stored digests of session tokens). When unset, a random key is
    # created once in var/secret_key (mode 0600): a demo never runs on a well-known key and
    # sessions survive a restart. Changing it ends every open session.
    secret_key: str | None = None
    # Key of the DIM's patient pseudonym, "<version>:<secret>" (ght.dim.pseudonym; docs/dim.md,
    # rotation). When unset, one is created once in var/dim_pseudonym_key (mode 0600).
    dim_pseudonym_key: str | None = None

    # Sessions and tokens.
    session_idle_minutes: int = Field(default=30, ge=1)  # UI session expires after inactivity
    session_max_hours: int = Field(default=12, ge=1)  # and in any case after a shift
    token_minutes: int = Field(default=60, ge=1)  # API bearer tokens
    # A worker remembers a checked bearer token this long (0: never): a deactivation or a
    # revocation reaches a worker that has just checked the token within this delay
    # (see ght.auth.sessions.BearerCache).
    token_cache_seconds: float = Field(default=10, ge=0, le=300)
    # "auto": Secure cookies unless the server listens on loopback only (plain-HTTP demo).
    cookie_secure: str = "auto"

    # Login rate limit (ght.auth.throttle): so many failures of one account name, or from one
    # client address, within the sliding window, and further attempts wait.
    login_max_failures: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=20, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)

    # OpenID Connect for professionals (Pro Santé Connect-style; ght.auth.oidc). Off unless the
    # issuer and the client id are set.
    oidc_issuer: str | None = None  # e.g. https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scopes: str = "openid scope_all"
    # Where the provider sends the browser back; by default this server's /auth/oidc/callback
    # as the request reached it (set it behind a reverse proxy that rewrites the host).
    oidc_redirect_uri: str | None = None
    oidc_acr_values: str | None = None  # e.g. "eidas1" for Pro Santé Connect
    oidc_button_label: str = "Se connecter avec Pro Santé Connect"
    # Claims, as dotted paths into the ID token and userinfo claims; a path through a list
    # collects from each element. PSC's SubjectNameID is the national identifier (idNat_PS):
    # "8" + RPPS or "0" + ADELI; a bare RPPS (11 digits) or ADELI (9) is accepted too.
    oidc_claim_national_id: str = "SubjectNameID"
    oidc_claim_profession: str = "SubjectRefPro.exercices.codeProfession"
    oidc_claim_activity_place: str = "SubjectRefPro.exercices.activities"
    # A professional of the directory who is external to the group's establishments (GP, home
    # nurse) and has no account yet gets one at first OIDC login, with the role "external" only.
    oidc_provision_external: bool = True
    oidc_timeout_seconds: float = Field(default=10, gt=0)

    # Access trace: entries older than this many rolling months are purged by `ght audit purge`
    # (art. R6113-9-2 of the Code de la santé publique: six months).
    audit_retention_months: int = Field(default=6, ge=1)
    # The sealer chains new trace entries this often, in every `ght serve` (0: only `ght audit seal`).
    audit_seal_seconds: float = Field(default=1.0, ge=0)
    # Access policy (ght.access): how long an ended stay, episode of care, task or referral
    # still makes a professional a member of the patient's care team; how long a
    # break-the-glass access lasts.
    access_after_care_days: int = Field(default=365, ge=0)
    access_break_glass_minutes: int = Field(default=240, ge=5, le=24 * 60)

    log_level: str = "INFO"
    log_json: bool = True

    # Engine of Splink's training in `ght identity link`: DuckDB in this process, or Spark
    # when one machine is not enough (needs the `spark` extra and Java 17+).
    linkage_engine: Literal["duckdb", "spark"] = "duckdb"
    spark_master: str = "local[2]"  # local[N], spark://host:7077, yarn or k8s://https://host:port
    spark_shuffle_partitions: int = Field(default=8, ge=1)  # Spark's 200 suit a cluster, not local[2]

    @field_validator("linkage_engine", mode="before")
    @classmethod
    def _engine_name(cls, value):
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("spark_master")
    @classmethod
    def _spark_master(cls, value: str) -> str:
        # Checked here so that a typo stops the command at once, not inside the JVM's start.
        if not _SPARK_MASTER.fullmatch(value.strip()):
            raise ValueError("attendu local[N], local[*], spark://hôte:port, yarn ou k8s://https://hôte:port")
        return value.strip()

    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    def resolved_secret_key(self) -> str:
        if not self.secret_key:
            path = self.var_dir / "secret_key"
            if not path.exists():
                self.var_dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_urlsafe(48))
            self.secret_key = path.read_text().strip()
        return self.secret_key

    def secure_cookies(self) -> bool:
        if self.cookie_secure.lower() in {"1", "true", "yes"}:
            return True
        if self.cookie_secure.lower() in {"0", "false", "no"}:
            return False
        return self.http_host not in {"127.0.0.1", "localhost", "::1"}


_SPARK_MASTER = re.compile(r"local(\[(\d+|\*)(,\d+)?\])?|spark://[^\s/]+(:\d+)?(,[^\s/]+(:\d+)?)*|yarn|k8s://\S+")


class ConfigError(ValueError):
    """An environment variable has a value the service cannot use; says which and why."""


def load_settings(kind: type[BaseSettings] = Settings):
    """Settings of `kind` from the environment, or a ConfigError naming each bad variable."""
    from pydantic import ValidationError

    prefix = kind.model_config.get("env_prefix", "")
    try:
        return kind()
    except ValidationError as exc:
        problems = "; ".join(
            f"{prefix}{'_'.join(str(part) for part in error['loc']).upper()} : {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(f"configuration invalide ({problems})") from None
