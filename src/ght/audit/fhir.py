"""The trace as FHIR R4 AuditEvent resources, in the style of IHE BALP (Basic Audit Log Patterns).

Mapping of an entry:
- type: `rest` (audit-event-type) for the FHIR door, DICOM 110110 Patient Record for the
  other doors; 110106 Export, 110114 User Authentication (login/logout), 110113 Security Alert
  with 110127 Emergency Override Started (break-glass), 110101 Audit Log Used (purge);
- subtype: the FHIR restful interaction (read, search-type, create, update, delete);
- action C/R/U/D/E; outcome 0 allowed, 4 denied (the request was refused), 8 failed;
- agent: the user (requestor, RPPS as IDNPS `8` + RPPS or else the account, role, network
  address), the establishment acted for (IDNST `1` + FINESS) and the server;
- source: the GHT's system as observer; entity: the patient (role 1), each resource (role 4);
- purposeOfEvent: v3 PurposeOfUse (TREAT, ETREAT, HOPERAT, COC, HSYSADMIN), ETREAT with the
  break-glass reason as text for an emergency access."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from ght.audit.chain import canonical_time
from ght.audit.models import AuditEntry
from ght.directory.models import Establishment
from ght.directory.vocab import ROLE_LABELS_FR
from ght.interop.fhir.systems import IDNPS_SYSTEM, IDNST_SYSTEM

DCM = "http://dicom.nema.org/resources/ontology/DCM"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ROLE_CLASS = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ROLE_SYSTEM = "https://ght.example/fhir/CodeSystem/account-role"  # ght.directory.vocab.Role
ACCOUNT_SYSTEM = "https://ght.example/fhir/NamingSystem/account"  # usernames, when there is no RPPS
BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."

_REST_SUBTYPE = {"read": "read", "search": "search-type", "create": "create", "update": "update", "delete": "delete"}
_ACTION_CODE = {"read": "R", "search": "E", "create": "C", "update": "U", "delete": "D", "export": "R",
                "login": "E", "logout": "E", "break-glass": "E", "purge": "D"}
# BALP profile of a successful REST interaction, with and without a patient.
_PROFILE = {"read": "Read", "search": "Query", "create": "Create", "update": "Update", "delete": "Delete"}
_OUTCOME = {"allowed": ("0", "Success"), "denied": ("4", "Minor failure"), "failed": ("8", "Serious failure")}
_PURPOSE = {"care": ("TREAT", "treatment"), "emergency": ("ETREAT", "Emergency Treatment"),
            "dim": ("HOPERAT", "healthcare operations"), "coordination": ("COC", "coordination of care"),
            "administration": ("HSYSADMIN", "health system administration")}
# BALP's user agent types: the recipient of what is read, the author of what is written.
_AGENT_TYPE = {"create": ("AUT", "author (originator)"), "update": ("AUT", "author (originator)"),
               "delete": ("AUT", "author (originator)"), "purge": ("AUT", "author (originator)"),
               "export": ("INF", "informant")}
_RECIPIENT = ("IRCP", "information recipient")


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def _type_and_subtype(entry: AuditEntry) -> tuple[dict, list[dict]]:
    """(type, subtype codings); R4 codes both as Coding."""
    action = entry.action
    if action in ("login", "logout"):
        sub = coding(DCM, "110122", "Login") if action == "login" else coding(DCM, "110123", "Logout")
        return coding(DCM, "110114", "User Authentication"), [sub]
    if action == "break-glass":
        return coding(DCM, "110113", "Security Alert"), [coding(DCM, "110127", "Emergency Override Started")]
    if action == "purge":
        return coding(DCM, "110101", "Audit Log Used"), []
    if action == "export":
        return coding(DCM, "110106", "Export"), []
    subtype = [coding(RESTFUL, _REST_SUBTYPE[action])]
    if entry.door == "fhir":
        return coding(AUDIT_EVENT_TYPE, "rest", "Restful Operation"), subtype
    return coding(DCM, "110110", "Patient Record"), subtype


def _user_agent(entry: AuditEntry) -> dict[str, Any]:
    if entry.rpps:
        who = {"identifier": {"system": IDNPS_SYSTEM, "value": f"8{entry.rpps}"}, "display": entry.account}
    else:
        who = {"identifier": {"system": ACCOUNT_SYSTEM, "value": entry.account}}
    agent_type = _AGENT_TYPE.get(entry.action, _RECIPIENT)
    agent: dict[str, Any] = {
        "type": {"coding": [coding(PARTICIPATION, *agent_type)]},
        "who": who, "altId": entry.account, "requestor": True,
    }
    if entry.role:
        agent["role"] = [{"coding": [coding(ROLE_SYSTEM, entry.role, ROLE_LABELS_FR.get(entry.role))]}]
    if entry.client_address:
        agent["network"] = {"address": entry.client_address, "type": "2"}  # 2: IP address
    if entry.break_glass_reason:
        agent["purposeOfUse"] = [_purpose(entry)]
    return agent


def _purpose(entry: AuditEntry) -> dict[str, Any]:
    code, display = _PURPOSE["emergency"] if entry.break_glass_reason else _PURPOSE[entry.purpose]
    concept: dict[str, Any] = {"coding": [coding(ACT_REASON, code, display)]}
    if entry.break_glass_reason:
        concept["text"] = f"Bris de glace : {entry.break_glass_reason}"
    return concept


def _entities(entry: AuditEntry, ght_oid: str) -> list[dict[str, Any]]:
    entities = []
    if entry.ght_patient_id:
        entities.append({
            "what": {"reference": f"Patient/{entry.ght_patient_id}",
                     "identifier": {"system": f"urn:oid:{ght_oid}", "value": entry.ght_patient_id}},
            "type": coding(ENTITY_TYPE, "1", "Person"), "role": coding(OBJECT_ROLE, "1", "Patient")})
    for resource in orjson.loads(entry.resources):
        if resource.startswith("AuditAnchor/"):  # the purge's anchor: not a FHIR resource
            what = {"identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:ght:audit-anchor:{resource[12:]}"}}
        else:
            what = {"reference": resource}
        entities.append({"what": what, "type": coding(ENTITY_TYPE, "2", "System Object"),
                         "role": coding(OBJECT_ROLE, "4", "Domain Resource")})
    return entities


def audit_event(entry: AuditEntry, ght_oid: str, establishments: dict[int, Establishment]) -> dict[str, Any]:
    """One entry as an AuditEvent (R4)."""
    event_type, subtype = _type_and_subtype(entry)
    code, display = _OUTCOME[entry.outcome]
    resource: dict[str, Any] = {"resourceType": "AuditEvent", "id": f"ght-audit-{entry.id}"}
    if entry.outcome == "allowed" and entry.action in _PROFILE and entry.door == "fhir":
        resource["meta"] = {"profile": [BALP + ("Patient" if entry.ght_patient_id else "") + _PROFILE[entry.action]]}
    resource.update({"type": event_type, "action": _ACTION_CODE[entry.action],
                     "recorded": canonical_time(entry.recorded_at), "outcome": code})
    if subtype:
        resource["subtype"] = subtype
    if entry.reason:
        resource["outcomeDesc"] = entry.reason
    elif entry.outcome != "allowed":
        resource["outcomeDesc"] = display
    resource["purposeOfEvent"] = [_purpose(entry)]
    agents = [_user_agent(entry)]
    establishment = establishments.get(entry.establishment_id) if entry.establishment_id else None
    if establishment is not None:
        agents.append({"type": {"coding": [coding(ROLE_CLASS, "PROV", "healthcare provider")]},
                       "who": {"identifier": {"system": IDNST_SYSTEM, "value": f"1{establishment.finess_ej}"},
                               "display": establishment.name},
                       "requestor": False})
    agents.append({"type": {"coding": [coding(DCM, "110152", "Destination Role ID")]},
                   "who": {"identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{ght_oid}"},
                           "display": "ght"},
                   "requestor": False})
    resource["agent"] = agents
    resource["source"] = {"site": "GHT", "observer": {"identifier": {"system": "urn:ietf:rfc:3986",
                                                                      "value": f"urn:oid:{ght_oid}"},
                                                       "display": "ght, système d'information du GHT"},
                          "type": [coding(SOURCE_TYPE, "4", "Application Server")]}
    entities = _entities(entry, ght_oid)
    if entities:
        resource["entity"] = entities
    return resource


def entries(db, *, patient: str | None = None, since: datetime | None = None,
            until: datetime | None = None) -> Iterator[AuditEntry]:
    """The entries to export, oldest first, streamed (server-side cursor on PostgreSQL)."""
    query = select(AuditEntry).order_by(AuditEntry.recorded_at, AuditEntry.id)
    if patient:
        query = query.where(AuditEntry.ght_patient_id == patient)
    if since:
        query = query.where(AuditEntry.recorded_at >= since)
    if until:
        query = query.where(AuditEntry.recorded_at < until)
    yield from db.scalars(query.execution_options(yield_per=1_000))


def export_ndjson(db, out: Path, ght_oid: str, *, patient: str | None = None, since: datetime | None = None,
                  until: datetime | None = None) -> int:
    """Write the selected entries as AuditEvent NDJSON (one resource a line); how many."""
    establishments = {e.id: e for e in db.scalars(select(Establishment))}
    count = 0
    with out.open("wb") as fh:
        for entry in entries(db, patient=patient, since=since, until=until):
            fh.write(orjson.dumps(audit_event(entry, ght_oid, establishments)) + b"\n")
            count += 1
    return count
