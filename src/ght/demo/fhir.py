"""FHIR R4 resources of the directory (Organization, Location, Practitioner, Endpoint) and
the systems shared with the per-person resources (see records.py).

Ids: `ej-<FINESS EJ>`, `et-<FINESS ET>`, `uf-<FINESS EJ>-<UF>`, `pacs-<FINESS ET>`,
`pr-<RPPS>` / `pr-adeli-<ADELI>` / `pr-ght-<directory id>`; per-person resources are `<FINESS EJ>-<IPP>...`.
"""

from __future__ import annotations

from typing import Any

from ght.access.subject import practitioner_ids
from ght.demo.model import Establishment, Professional, Site
from ght.directory.vocab import PROFESSIONS
from ght.interop.fhir.systems import (  # noqa: F401  (re-exported for the per-person resources)
    BIRTH_PLACE, COMMUNE_SYSTEM, FINESS_SYSTEM, FR_BIRTH_LIST_GIVEN_NAME, FR_IDENTITY_RELIABILITY, FR_INSEE_CODE,
    FR_V2_0203, FR_V2_0445, GHT_PROFESSIONAL_SYSTEM, IDNPS_SYSTEM, IDNST_SYSTEM, V2_0203,
)

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
DICOM_DCM = "http://dicom.nema.org/resources/ontology/DCM"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def source(finess_ej: str) -> str:
    return f"urn:finess:{finess_ej}"


def idnps(pro: Professional) -> str:
    """IDNPS: 8 + RPPS, or 0 + ADELI (the value form of the FR Core idNatPs slice)."""
    return f"8{pro.rpps}" if pro.rpps else f"0{pro.adeli}"


def practitioner_id(pro: Professional) -> str:
    return practitioner_ids(pro.rpps, pro.adeli, pro.directory_id)[0]


def _address(site: Site) -> dict[str, Any]:
    return {"use": "work", "city": site.city, "postalCode": site.postcode, "country": "FRA",
            "extension": [{"url": FR_INSEE_CODE,
                           "valueCoding": {"system": COMMUNE_SYSTEM, "code": site.commune_insee}}]}


def _org_identifiers(finess: str) -> list[dict[str, Any]]:
    return [
        {"use": "official", "type": {"coding": [{"system": FR_V2_0203, "code": "IDNST"}]},
         "system": IDNST_SYSTEM, "value": f"1{finess}"},
        {"system": FINESS_SYSTEM, "value": finess},
    ]


def organizations(est: Establishment) -> list[dict[str, Any]]:
    prov = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type",
                         "code": "prov", "display": "Healthcare Provider"}]}]
    out: list[dict[str, Any]] = [{
        "resourceType": "Organization", "id": f"ej-{est.finess_ej}",
        "meta": {"source": source(est.finess_ej)},
        "identifier": _org_identifiers(est.finess_ej), "active": True, "type": prov,
        "name": est.name, "alias": [est.short_name], "address": [_address(est.sites[0])],
    }]
    for site in est.sites:
        out.append({
            "resourceType": "Organization", "id": f"et-{site.finess_et}",
            "meta": {"source": source(est.finess_ej)},
            "identifier": _org_identifiers(site.finess_et), "active": True, "type": prov,
            "name": site.name, "address": [_address(site)],
            "partOf": {"reference": f"Organization/ej-{est.finess_ej}", "display": est.name},
        })
    return out


def locations(est: Establishment) -> list[dict[str, Any]]:
    return [
        {"resourceType": "Location", "id": f"uf-{est.finess_ej}-{uf.code}",
         "meta": {"source": source(est.finess_ej)},
         "identifier": [{"system": f"urn:finess:{est.finess_ej}:uf", "value": uf.code}],
         "status": "active", "name": f"{uf.name} ({site.name})", "mode": "instance",
         "type": [{"text": f"{uf.specialty} - {uf.activity}"}],
         "physicalType": {"coding": [{
             "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
             "code": "wa", "display": "Ward"}]},
         "managingOrganization": {"reference": f"Organization/et-{site.finess_et}"}}
        for site in est.sites for uf in site.units
    ]


def pacs_sites(est: Establishment) -> list[Site]:
    """Sites with an imaging unit: each has its PACS."""
    return [site for site in est.sites if any(uf.specialty == "Radiologie" for uf in site.units)]


def endpoints(est: Establishment) -> list[dict[str, Any]]:
    return [
        {"resourceType": "Endpoint", "id": f"pacs-{site.finess_et}",
         "meta": {"source": source(est.finess_ej)},
         "status": "active",
         "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                            "code": "dicom-wado-rs"},
         "name": f"PACS {site.name}",
         "managingOrganization": {"reference": f"Organization/et-{site.finess_et}"},
         "payloadType": [{"text": "DICOM WADO-RS"}],
         "payloadMimeType": ["application/dicom"],
         # .invalid (RFC 2606): a placeholder no client can reach.
         "address": f"https://pacs-{site.finess_et}.ght-demo.invalid/dicomweb"}
        for site in pacs_sites(est)
    ]


def practitioner(pro: Professional, support_ej: str) -> dict[str, Any]:
    label = PROFESSIONS[pro.profession][0]
    name: dict[str, Any] = {"use": "official", "family": pro.family_name, "given": [pro.given_name]}
    if pro.profession == "medecin":
        name["prefix"] = ["Dr"]
    qualification = label if not pro.specialty else f"{label} - {pro.specialty}"
    return {
        "resourceType": "Practitioner", "id": practitioner_id(pro),
        # The GHT directory is kept by the support establishment.
        "meta": {"source": source(support_ej)},
        "identifier": [{"use": "official",
                        "type": {"coding": [{"system": FR_V2_0203, "code": "IDNPS"}]},
                        "system": IDNPS_SYSTEM, "value": idnps(pro)}] if pro.rpps or pro.adeli else
                      [{"use": "secondary", "system": GHT_PROFESSIONAL_SYSTEM, "value": pro.directory_id}],
        "active": True, "name": [name],
        "qualification": [{"code": {"text": qualification}}],
    }
