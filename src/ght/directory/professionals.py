"""Professionals of the directory: lookup by national identifier, creation with checks."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ght.directory.accounts import AccountError
from ght.directory.identifiers import adeli_is_valid, rpps_is_valid
from ght.directory.models import Professional
from ght.directory.vocab import PROFESSIONS


def find_or_create_professional(
    db: Session,
    *,
    rpps: str | None,
    adeli: str | None,
    family_name: str | None,
    given_name: str | None,
    profession: str | None,
    specialty: str | None,
    external: bool,
) -> Professional:
    """The professional with this RPPS or ADELI, or a new one built from the other fields."""
    if rpps and not rpps_is_valid(rpps):
        raise AccountError(f"RPPS invalide « {rpps} » (11 chiffres, clé de Luhn)")
    if adeli and not adeli_is_valid(adeli):
        raise AccountError(f"ADELI invalide « {adeli} » (9 caractères, clé de Luhn)")
    existing = None
    if rpps:
        existing = db.scalar(select(Professional).where(Professional.rpps == rpps))
    elif adeli:
        existing = db.scalar(select(Professional).where(Professional.adeli == adeli))
    if existing is not None:
        return existing
    missing = [
        flag for flag, value in
        (("--family-name", family_name), ("--given-name", given_name), ("--profession", profession))
        if not value
    ]
    if missing:
        raise AccountError(
            "professionnel inconnu de l'annuaire : indiquez " + ", ".join(missing)
            + " (ou le --rpps / --adeli d'un professionnel existant)"
        )
    if profession not in PROFESSIONS:
        raise AccountError(
            f"profession inconnue « {profession} » (possibles : {', '.join(PROFESSIONS)})"
        )
    register = PROFESSIONS[profession][1]
    if register == "rpps" and not rpps:
        raise AccountError(f"la profession « {profession} » est identifiée par un RPPS : indiquez --rpps")
    professional = Professional(
        rpps=rpps, adeli=adeli, family_name=family_name.strip().upper(),
        given_name=given_name.strip(), profession=profession, specialty=specialty,
        external=external,
    )
    db.add(professional)
    db.flush()
    return professional
