"""The keyed pseudonym of a GHT patient for every non-nominative patient-level output of the
DIM (the DIM physician's pseudonymised report, on the dashboard and in its CSV and Parquet
exports): HMAC-SHA256 of "<version>:<GHT id>" under the DIM's secret key, 16 hexadecimal
characters, prefixed with the key's version ("v1-…").

The key is GHT_DIM_PSEUDONYM_KEY, "<version>:<secret>" (docs/dim.md, key rotation): outputs
made under a new version cannot be chained with those of the old one, by design; nothing is
stored under the pseudonym, so a rotation rewrites nothing. Unset, a key is created once in
var/dim_pseudonym_key (mode 0600), as the server secret is."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

ENV = "GHT_DIM_PSEUDONYM_KEY"
MIN_SECRET = 32
KEY_FILE = "dim_pseudonym_key"
_VERSION = re.compile(r"[A-Za-z0-9]{1,8}")


class PseudonymKeyInvalid(ValueError):
    """The key is missing or unusable; the message says why, in French."""


class Pseudonymiser:
    def __init__(self, key: str | None) -> None:
        version, sep, secret = (key or "").strip().partition(":")
        expected = f"« version:secret » attendu (version : 1 à 8 lettres ou chiffres, secret d'au moins {MIN_SECRET} caractères)"
        if not key or not key.strip():
            raise PseudonymKeyInvalid(f"{ENV} n'est pas défini : {expected}")
        if not sep or not _VERSION.fullmatch(version):
            raise PseudonymKeyInvalid(f"{ENV} mal formé : {expected}")
        if len(secret) < MIN_SECRET:
            raise PseudonymKeyInvalid(f"{ENV} : secret de {len(secret)} caractères, {MIN_SECRET} au moins")
        self.version = version
        self._secret = secret.encode("utf-8")
        self._cache: dict[str, str] = {}

    def __call__(self, ght_patient_id: str | None) -> str | None:
        if ght_patient_id is None:
            return None
        found = self._cache.get(ght_patient_id)
        if found is None:
            message = f"{self.version}:{ght_patient_id}".encode()
            digest = hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:16]
            found = self._cache[ght_patient_id] = f"{self.version}-{digest}"
        return found


def from_settings(settings) -> Pseudonymiser:
    """The key of the settings (GHT_DIM_PSEUDONYM_KEY); unset, the one created once in
    var/dim_pseudonym_key (mode 0600)."""
    key = settings.dim_pseudonym_key
    if key is None:
        path = Path(settings.var_dir) / KEY_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it meanwhile
                pass
            else:
                with os.fdopen(fd, "w") as out:
                    out.write(f"v1:{secrets.token_urlsafe(48)}\n")
        key = path.read_text().strip()
    return Pseudonymiser(key)
