"""The CapabilityStatement: what this server really does, built from the routers' own
declarations so that it cannot drift from them."""

from __future__ import annotations

from typing import Any

from ght import __version__
from ght.interop.fhir import patient_routes
from ght.interop.fhir.resource_routes import RECORD_TYPES
from ght.record.search_parameters import COMMON, SEARCH_PARAMETERS

BULK = "http://hl7.org/fhir/uv/bulkdata"

_PATIENT_SEARCH = {
    "_id": ("token", "Id de la ressource (identité locale)"),
    "identifier": ("token", "IPP (urn:finess:<FINESS>:ipp), INS (urn:oid:1.2.250.1.213.1.4.x) ou identifiant GHT"),
    "family": ("string", "Nom de naissance ou nom utilisé (normalisé RNIV ; :exact, :contains)"),
    "given": ("string", "Prénom (l'un des prénoms de naissance, ou le prénom utilisé)"),
    "name": ("string", "Nom ou prénom"),
    "birthdate": ("date", "Date de naissance (préfixes eq, ne, lt, le, gt, ge)"),
    "gender": ("token", "male, female, other, unknown"),
    "active": ("token", "false : identités retirées par fusion"),
}


def capability_statement(base_url: str, ght_oid: str) -> dict[str, Any]:
    patient = {
        "type": "Patient",
        "profile": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient",
        "documentation": "Identités locales (FINESS + IPP) du serveur d'identités du GHT ; "
                         f"Patient/<identifiant GHT> (système urn:oid:{ght_oid}) présente le patient GHT.",
        "interaction": [{"code": code} for code in
                        ("read", "vread", "update", "create", "search-type", "history-instance")],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": False,
        "conditionalCreate": True,
        "conditionalRead": "not-supported",
        "conditionalUpdate": True,
        "conditionalDelete": "not-supported",
        "searchParam": [{"name": name, "type": kind, "documentation": doc}
                        for name in patient_routes.SEARCH_PARAMETERS
                        for kind, doc in [_PATIENT_SEARCH[name]]],
        "operation": [
            {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"},
            {"name": "export", "definition": f"{BULK}/OperationDefinition/patient-export"},
            {"name": "ihe-pix", "definition": "https://profiles.ihe.net/ITI/PIXm/OperationDefinition/IHE.PIXm.pix"},
            {"name": "match", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-match"},
        ],
    }
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-22",
        "kind": "instance",
        "software": {"name": "ght", "version": __version__},
        "implementation": {"description": "Système d'information convergent du GHT", "url": base_url},
        "instantiates": [f"{BULK}/CapabilityStatement/bulk-data"],
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "security": {"description": "Jeton porteur (POST /auth/token) ; rôles vérifiés à chaque requête."},
            "resource": [patient, *[_record_type(t) for t in RECORD_TYPES], {
                "type": "Group",
                "documentation": "Groupe = les patients connus d'un établissement (id : son FINESS).",
                "operation": [{"name": "export", "definition": f"{BULK}/OperationDefinition/group-export"}],
            }],
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
            "operation": [{"name": "export", "definition": f"{BULK}/OperationDefinition/export"}],
        }],
    }


def _record_type(resource_type: str) -> dict[str, Any]:
    params = {**COMMON, **SEARCH_PARAMETERS.get(resource_type, {})}
    return {
        "type": resource_type,
        "interaction": [{"code": code} for code in ("read", "vread", "update", "delete", "create", "search-type",
                                                    "history-instance", "history-type")],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-supported",
        "conditionalUpdate": True,
        "conditionalDelete": "not-supported",
        "searchInclude": [f"{resource_type}:{p.name}" for p in params.values() if p.type == "reference"],
        "searchRevInclude": sorted(f"{other}:{p.name}" for other, table in SEARCH_PARAMETERS.items()
                                   for p in table.values()
                                   if p.type == "reference" and (not p.targets or resource_type in p.targets)),
        "searchParam": [{"name": "_id", "type": "token"}, {"name": "_lastUpdated", "type": "date"}]
        + [{"name": p.name, "type": p.type, **({"documentation": p.description} if p.description else {})}
           for p in params.values()],
    }
