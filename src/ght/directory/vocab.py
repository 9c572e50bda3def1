"""Closed vocabularies of the directory: professions, roles, establishment roles."""

from __future__ import annotations

from enum import StrEnum


class EstablishmentRole(StrEnum):
    SUPPORT = "support"  # établissement support du GHT (art. L6132-3)
    PARTIE = "partie"  # établissement partie


class Role(StrEnum):
    """What an account may do; the access policy (issue 5) decides per resource."""

    CLINICIAN = "clinician"
    NURSE = "nurse"
    SECRETARY = "secretary"
    IDENTITY_VIGILANCE = "identity_vigilance"
    DIM_PHYSICIAN = "dim_physician"
    DSI_ADMIN = "dsi_admin"
    DAC_COORDINATOR = "dac_coordinator"
    EXTERNAL = "external"  # external professional of a patient's care team (GP, home nurse)
    DPO = "dpo"  # délégué à la protection des données: reviews break-the-glass, gives grants


ROLE_LABELS_FR: dict[Role, str] = {
    Role.CLINICIAN: "Médecin",
    Role.NURSE: "Infirmier·ère",
    Role.SECRETARY: "Secrétariat médical",
    Role.IDENTITY_VIGILANCE: "Cellule d'identitovigilance",
    Role.DIM_PHYSICIAN: "Médecin DIM",
    Role.DSI_ADMIN: "Administrateur DSI",
    Role.DAC_COORDINATOR: "Coordinateur DAC",
    Role.EXTERNAL: "Professionnel extérieur de l'équipe de soins",
    Role.DPO: "Délégué à la protection des données",
}

# Profession codes with their label and the national register that identifies them.
# Médecins, pharmaciens, sages-femmes, chirurgiens-dentistes, infirmiers and
# masseurs-kinésithérapeutes are in RPPS; other paramedical professions still carry ADELI.
PROFESSIONS: dict[str, tuple[str, str]] = {
    "medecin": ("Médecin", "rpps"),
    "pharmacien": ("Pharmacien", "rpps"),
    "sage_femme": ("Sage-femme", "rpps"),
    "chirurgien_dentiste": ("Chirurgien-dentiste", "rpps"),
    "infirmier": ("Infirmier", "rpps"),
    "masseur_kine": ("Masseur-kinésithérapeute", "rpps"),
    "manipulateur_radio": ("Manipulateur en électroradiologie", "adeli"),
    "psychologue": ("Psychologue", "adeli"),
    "dieteticien": ("Diététicien", "adeli"),
    "secretaire_medicale": ("Secrétaire médicale", "none"),
    "coordinateur": ("Coordinateur de parcours", "none"),
    "informaticien": ("Ingénieur informatique", "none"),
}
