"""Identifier systems, code systems and extension URLs used in FR Core resources."""

from __future__ import annotations

import re

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
FR_V2_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
FR_V2_0445 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445"
FR_IDENTITY_RELIABILITY = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
FR_BIRTH_LIST_GIVEN_NAME = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name"
FR_INSEE_CODE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
COMMUNE_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
FINESS_SYSTEM = "http://finess.sante.gouv.fr"
IDNST_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"  # national id of health structures (1 + FINESS)
IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"  # national id of health professionals (8 + RPPS, 0 + ADELI)
# The GHT directory's identifiers of professionals without RPPS or ADELI (a DAC coordinator).
GHT_PROFESSIONAL_SYSTEM = "urn:ght:annuaire:professionnel"
MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"

# INS matricule: the FR Core INS-NIR / INS-NIA systems (production, test and demo OIDs).
INS_SYSTEMS = {
    "urn:oid:1.2.250.1.213.1.4.8": "INS-NIR",
    "urn:oid:1.2.250.1.213.1.4.9": "INS-NIA",
    "urn:oid:1.2.250.1.213.1.4.10": "INS-NIR",  # test
    "urn:oid:1.2.250.1.213.1.4.11": "INS-NIR",  # demo
}

_IPP_SYSTEM = re.compile(r"^urn:finess:(\d{9}):ipp$")


def ipp_system(finess: str) -> str:
    """The namespace of an establishment's IPPs, as the generator and publisher write it."""
    return f"urn:finess:{finess}:ipp"


def finess_of_ipp_system(system: str) -> str | None:
    match = _IPP_SYSTEM.match(system or "")
    return match.group(1) if match else None


def ght_patient_system(ght_oid: str) -> str:
    return f"urn:oid:{ght_oid}"
