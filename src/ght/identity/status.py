"""Identity status (RNIV) and reliability flags (French HL7 table 0445)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """RNIV statuses. VALI needs a high-trust identity document checked; RECUP, an INS
    retrieved by the INSi service; QUAL, both. Only a QUAL identity may carry its INS to
    other systems."""

    PROV = "PROV"  # provisoire
    RECUP = "RECUP"  # récupérée (INSi, no document checked)
    VALI = "VALI"  # validée (document checked, no INS retrieved)
    QUAL = "QUAL"  # qualifiée


STATUS_LABELS_FR = {
    Status.PROV: "Identité provisoire",
    Status.RECUP: "Identité récupérée",
    Status.VALI: "Identité validée",
    Status.QUAL: "Identité qualifiée",
}

# Transitions RNIV allows: an identity rises as checks are added (both at once from PROV to
# QUAL when the document is checked at the desk while INSi answers), and falls back when a
# check is withdrawn (document found false, INS invalidated, doubt raised). RECUP and VALI
# never turn into one another: one check cannot be traded for the other.
ALLOWED_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PROV: frozenset({Status.RECUP, Status.VALI, Status.QUAL}),
    Status.RECUP: frozenset({Status.PROV, Status.QUAL}),
    Status.VALI: frozenset({Status.PROV, Status.QUAL}),
    Status.QUAL: frozenset({Status.VALI, Status.RECUP, Status.PROV}),
}


class Flag(StrEnum):
    """Identity attributes of the French extension of HL7 table 0445 (PID-32), as listed by
    the FR Core code system fr-core-cs-v2-0445 (codes other than the four statuses)."""

    VIDE = "VIDE"  # identité non encore qualifiée (legacy value)
    DOUB = "DOUB"  # doublon
    DPOT = "DPOT"  # doublon potentiel
    DOUA = "DOUA"  # doublon avéré
    COLP = "COLP"  # collision potentielle (two persons on one record or one INS)
    COLV = "COLV"  # collision avérée
    DESA = "DESA"  # identité désactivée
    FILI = "FILI"  # filiation (a newborn's identity tied to the mother's)
    CACH = "CACH"  # identité cachée (confidential stay)
    ANOM = "ANOM"  # anonyme (legal anonymity, e.g. accouchement sous X)
    IDVER = "IDVER"  # identité vérifiée
    DOUT = "DOUT"  # identité douteuse
    FICT = "FICT"  # identité fictive
    HOMD = "HOMD"  # homonyme détecté
    HOMA = "HOMA"  # homonyme avéré


def can_transition(current: Status, target: Status) -> bool:
    return current == target or target in ALLOWED_TRANSITIONS[current]


def may_share_ins(status: Status, flags: set[str]) -> bool:
    """Only a qualified identity, with no doubt nor fiction on it, carries its INS outward."""
    return status == Status.QUAL and not ({Flag.DOUT, Flag.FICT} & flags)
