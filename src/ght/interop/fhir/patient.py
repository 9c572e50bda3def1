"""FR Core Patient ↔ local identity.

In: the IPP (identifier of type PI, its establishment given by the `urn:finess:<FINESS>:ipp`
system or by the assigner's FINESS), the INS (FR Core INS-NIR/INS-NIA systems), the official
name (birth name, with the FR Core list of birth given names), the usual name (used name),
birth date, gender, birth place (INSEE code), home address, phone, and the identity status
of the FR Core identity-reliability extension.
Out: the same elements rendered from the identity's traits; the INS only when the identity
is qualified (RNIV: only a QUAL identity carries its INS to other systems).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ght.identity.models import LocalIdentity
from ght.identity.service import IdentityInput
from ght.identity.status import Flag, Status, may_share_ins
from ght.interop.fhir import systems as s
from ght.interop.fhir.outcome import FhirError, Issue

GENDER_IN = {"male": "M", "female": "F", "other": "U", "unknown": "U"}
GENDER_OUT = {"M": "male", "F": "female"}
STATUS_CODES = {status.value for status in Status}
FLAG_CODES = {flag.value for flag in Flag}

# Elements a rendering owns; every other element of a body written through FHIR is kept.
RENDERED = ("identifier", "name", "gender", "birthDate", "address", "telecom", "extension")


def _codes(concept: dict | None) -> set[str]:
    return {c.get("code") for c in (concept or {}).get("coding", []) if isinstance(c, dict)}


def is_ipp(identifier: dict) -> bool:
    return "PI" in _codes(identifier.get("type")) or s.finess_of_ipp_system(identifier.get("system", "")) is not None


def _is_ins(identifier: dict) -> bool:
    return identifier.get("system") in s.INS_SYSTEMS or bool({"INS-NIR", "INS-NIA"} & _codes(identifier.get("type")))


def _ipp(resource: dict, problems: list[Issue], required: bool) -> tuple[str, str]:
    found = [(i, ident) for i, ident in enumerate(resource.get("identifier", [])) if is_ipp(ident)]
    if not found and not required:
        return "", ""
    if not found:
        problems.append(Issue("required", "IPP absent : un identifier de type PI (v2-0203) de l'établissement est attendu",
                              "Patient.identifier"))
        return "", ""
    if len(found) > 1:
        problems.append(Issue("value", "plusieurs IPP : une ressource Patient décrit l'identité d'un seul établissement",
                              f"Patient.identifier[{found[1][0]}]"))
    index, identifier = found[0]
    finess = s.finess_of_ipp_system(identifier.get("system", ""))
    assigner = (identifier.get("assigner") or {}).get("identifier") or {}
    if not finess and assigner.get("system") in (s.FINESS_SYSTEM, s.IDNST_SYSTEM):
        value = assigner.get("value", "")
        finess = value[1:] if assigner["system"] == s.IDNST_SYSTEM and len(value) == 10 else value
    if not finess:
        problems.append(Issue("required", "établissement de l'IPP absent : system urn:finess:<FINESS>:ipp "
                                          "ou assigner.identifier FINESS attendu", f"Patient.identifier[{index}]"))
    if not identifier.get("value"):
        problems.append(Issue("required", "valeur de l'IPP absente", f"Patient.identifier[{index}].value"))
    return finess or "", identifier.get("value", "")


def _names(resource: dict) -> tuple[dict, dict]:
    names = [n for n in resource.get("name", []) if isinstance(n, dict)]
    official = next((n for n in names if n.get("use") == "official"), None)
    official = official or next((n for n in names if not n.get("use")), {})
    usual = next((n for n in names if n.get("use") == "usual"), {})
    return official, usual


def _birth_given_names(name: dict) -> str:
    for extension in name.get("extension", []):
        if extension.get("url") == s.FR_BIRTH_LIST_GIVEN_NAME and extension.get("valueString"):
            return extension["valueString"]
    return " ".join(name.get("given", []))


def _extension(resource: dict, url: str) -> dict | None:
    return next((e for e in resource.get("extension", []) if e.get("url") == url), None)


def _status_and_flags(resource: dict) -> tuple[str, tuple[str, ...]]:
    reliability = _extension(resource, s.FR_IDENTITY_RELIABILITY) or {}
    codes = [(e.get("valueCoding") or {}).get("code", "") for e in reliability.get("extension", [])
             if e.get("url") == "identityStatus"]
    status = next((c for c in codes if c in STATUS_CODES), "")
    return status, tuple(c for c in codes if c in FLAG_CODES)


def _birth_place(resource: dict) -> str:
    address = (_extension(resource, s.BIRTH_PLACE) or {}).get("valueAddress") or {}
    for extension in address.get("extension", []):
        if extension.get("url") == s.FR_INSEE_CODE:
            return (extension.get("valueCoding") or {}).get("code", "")
    return ""


def _home_address(resource: dict) -> dict:
    addresses = [a for a in resource.get("address", []) if isinstance(a, dict)]
    return next((a for a in addresses if a.get("use") == "home"), addresses[0] if addresses else {})


def _phone(resource: dict) -> str:
    return next((t.get("value", "") for t in resource.get("telecom", []) if t.get("system") == "phone"), "")


def _birth_date(resource: dict, problems: list[Issue]) -> date | None:
    value = resource.get("birthDate")
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(Issue("value", f"date de naissance complète (AAAA-MM-JJ) attendue, « {value} » reçu",
                              "Patient.birthDate"))
        return None


def identity_input(resource: dict, *, require_ipp: bool = True) -> IdentityInput:
    """The identity a valid FR Core Patient carries; FhirError (422) listing what is missing.
    `require_ipp=False` for a person described without a local identity ($match)."""
    problems: list[Issue] = []
    finess, ipp = _ipp(resource, problems, require_ipp)
    official, usual = _names(resource)
    gender = resource.get("gender", "")
    if gender and gender not in GENDER_IN:
        problems.append(Issue("code-invalid", f"sexe « {gender} » inconnu (male, female, other, unknown)", "Patient.gender"))
    ins = next((i for i in resource.get("identifier", []) if _is_ins(i)), {})
    status, flags = _status_and_flags(resource)
    birth_date = _birth_date(resource, problems)
    if problems:
        raise FhirError(422, *problems)
    address = _home_address(resource)
    return IdentityInput(
        finess=finess, ipp=ipp,
        birth_name=official.get("family", ""), given_names=_birth_given_names(official),
        birth_date=birth_date, sex=GENDER_IN.get(gender, ""), birth_place=_birth_place(resource),
        used_name=usual.get("family", ""), used_given_name=" ".join(usual.get("given", [])[:1]),
        address=" ".join(address.get("line", [])), postcode=address.get("postalCode", ""),
        city=address.get("city", ""), phone=_phone(resource),
        ins=ins.get("value", ""), ins_oid=ins.get("system", "").removeprefix("urn:oid:"),
        status=status, flags=flags,
    )


# Where each IdentityInput field lives in a Patient, for the identity server's refusals.
FIELD_PATHS = {
    "finess": "Patient.identifier", "ipp": "Patient.identifier", "birth_name": "Patient.name",
    "given_names": "Patient.name", "birth_date": "Patient.birthDate", "sex": "Patient.gender",
    "birth_place": f"Patient.extension('{s.BIRTH_PLACE}')", "ins": "Patient.identifier",
    "status": f"Patient.extension('{s.FR_IDENTITY_RELIABILITY}')",
    "flags": f"Patient.extension('{s.FR_IDENTITY_RELIABILITY}')",
}


# --------------------------------------------------------------------------- rendering


def ins_shareable(identity: LocalIdentity | dict) -> bool:
    get = identity.get if isinstance(identity, dict) else lambda name: getattr(identity, name)
    return bool(get("ins")) and may_share_ins(Status(get("status")), set((get("flags") or "").split()))


def without_unshareable_ins(body: dict, identity: LocalIdentity) -> dict:
    """A body as a system sent it, minus its INS when the identity is not qualified."""
    if ins_shareable(identity) or not any(_is_ins(i) for i in body.get("identifier", [])):
        return body
    kept = [i for i in body["identifier"] if not _is_ins(i)]
    return {k: v for k, v in body.items() if k != "identifier"} | ({"identifier": kept} if kept else {})


def render(traits: dict, finess: str, base: dict | None = None) -> dict[str, Any]:
    """A Patient from an identity's traits (a LocalIdentity snapshot: see service.snapshot);
    elements of `base` (an earlier body written through FHIR) that traits do not hold are kept."""
    identifiers: list[dict] = [{
        "use": "usual", "type": {"coding": [{"system": s.V2_0203, "code": "PI"}]},
        "system": s.ipp_system(finess), "value": traits["ipp"],
        "assigner": {"identifier": {"system": s.FINESS_SYSTEM, "value": finess}},
    }]
    if ins_shareable(traits):
        system = f"urn:oid:{traits.get('ins_oid') or '1.2.250.1.213.1.4.8'}"
        identifiers.append({"use": "official",
                            "type": {"coding": [{"system": s.FR_V2_0203, "code": s.INS_SYSTEMS.get(system, "INS-NIR")}]},
                            "system": system, "value": traits["ins"]})
    codes = [traits["status"], *(traits.get("flags") or "").split()]
    extensions: list[dict] = [{"url": s.FR_IDENTITY_RELIABILITY, "extension": [
        {"url": "identityStatus", "valueCoding": {"system": s.FR_V2_0445, "code": code}} for code in codes]}]
    if traits.get("birth_place"):
        extensions.append({"url": s.BIRTH_PLACE, "valueAddress": {"extension": [
            {"url": s.FR_INSEE_CODE, "valueCoding": {"system": s.COMMUNE_SYSTEM, "code": traits["birth_place"]}}]}})
    given = traits["given_names"].split()
    names: list[dict] = [{
        **({"extension": [{"url": s.FR_BIRTH_LIST_GIVEN_NAME, "valueString": traits["given_names"]}]} if given else {}),
        "use": "official", "family": traits["birth_name"], **({"given": given[:1]} if given else {}),
    }]
    if traits.get("used_name"):
        used_given = traits.get("used_given_name") or (given[0] if given else "")
        names.append({"use": "usual", "family": traits["used_name"], **({"given": [used_given]} if used_given else {})})
    rendered: dict[str, Any] = {
        "extension": extensions, "identifier": identifiers, "name": names,
        "gender": GENDER_OUT.get(traits["sex"], "unknown"),
    }
    if traits.get("birth_date"):
        rendered["birthDate"] = str(traits["birth_date"])
    if traits.get("phone"):
        rendered["telecom"] = [{"system": "phone", "value": traits["phone"]}]
    if traits.get("address") or traits.get("postcode") or traits.get("city"):
        rendered["address"] = [{"use": "home", **({"line": [traits["address"]]} if traits.get("address") else {}),
                                **({"city": traits["city"]} if traits.get("city") else {}),
                                **({"postalCode": traits["postcode"]} if traits.get("postcode") else {})}]
    if base:
        kept_ids = [i for i in base.get("identifier", []) if not (is_ipp(i) or _is_ins(i))]
        kept_ext = [e for e in base.get("extension", []) if e.get("url") not in (s.FR_IDENTITY_RELIABILITY, s.BIRTH_PLACE)]
        rendered["identifier"] += kept_ids
        rendered["extension"] += kept_ext
        rest = {k: v for k, v in base.items() if k not in RENDERED and k not in ("resourceType", "id", "meta")}
        rendered = rest | rendered
    return {"resourceType": "Patient", **rendered, "active": traits.get("active", True)}
