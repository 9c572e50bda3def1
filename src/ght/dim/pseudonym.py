"""The keyed pseudonym of a GHT patient for every non-nominative output (reports of the roles
other than the DIM physician, CSV and Parquet exports): HMAC-SHA256 of the GHT id under the
DIM's secret key, 16 hexadecimal characters, prefixed with the key's version ("v1-…").

The key is GHT_DIM_PSEUDONYM_KEY, "<version>:<secret>" (docs/dim.md, key rotation): outputs
made under a new version cannot be chained with those of the old one, by design; nothing is
stored under the pseudonym, so a rotation rewrites nothing."""

from __future__ import annotations

import hashlib
import hmac
import os

ENV = "GHT_DIM_PSEUDONYM_KEY"


class PseudonymKeyMissing(RuntimeError):
    pass


class Pseudonymiser:
    def __init__(self, key: str) -> None:
        version, sep, secret = key.partition(":")
        if not sep or not version or len(secret) < 32:
            raise PseudonymKeyMissing(f"{ENV} : « version:secret » attendu, secret d'au moins 32 caractères")
        self.version = version
        self._secret = secret.encode("utf-8")
        self._cache: dict[str, str] = {}

    def __call__(self, ght_patient_id: str | None) -> str | None:
        if ght_patient_id is None:
            return None
        found = self._cache.get(ght_patient_id)
        if found is None:
            digest = hmac.new(self._secret, ght_patient_id.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
            found = self._cache[ght_patient_id] = f"{self.version}-{digest}"
        return found


def from_environment(var_dir=None) -> Pseudonymiser:
    """The key from the environment; for the demo only (no key set), one made once in
    var/dim_pseudonym_key (mode 0600), as the session secret is."""
    key = os.environ.get(ENV)
    if not key and var_dir is not None:
        import secrets
        from pathlib import Path

        path = Path(var_dir) / "dim_pseudonym_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"v1:{secrets.token_urlsafe(48)}\n")
            path.chmod(0o600)
        key = path.read_text().strip()
    if not key:
        raise PseudonymKeyMissing(f"{ENV} n'est pas défini")
    return Pseudonymiser(key)
