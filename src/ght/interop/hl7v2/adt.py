"""ADT handlers of the identity feed (IHE PAM ITI-30 and the identity part of ITI-31).

A28/A31 create or update a person; A01/A04/A05/A08 carry the identity of the patient they
admit, which is recorded the same way; A40 merges two IPPs of one establishment; A47
replaces an IPP. The identity server decides; its refusals come back as an AE pointing at
the HL7 field of the IdentityInput field it names.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ght.directory.lookup import juridique_finess
from ght.identity import service
from ght.interop.hl7v2 import pam
from ght.interop.hl7v2.ack import ErrorCode, Hl7Error, Location
from ght.interop.hl7v2.dispatch import Inbound, Registry

IDENTITY_EVENTS = ("A28", "A31", "A01", "A04", "A05", "A08")

# Table 0357 code of each IdentityInput field the identity server may refuse.
_CODES = {
    "finess": ErrorCode.UNKNOWN_KEY,
    "ipp": ErrorCode.UNKNOWN_KEY,  # an IPP retired by a merge, or unknown to a merge/change
    "retired_ipp": ErrorCode.UNKNOWN_KEY,
    "new_ipp": ErrorCode.DUPLICATE_KEY,  # the replacement IPP is already in use
    "patient_id": ErrorCode.UNKNOWN_KEY,  # a merge whose GHT patient is gone
    "status": ErrorCode.TABLE_VALUE_NOT_FOUND,
    "flags": ErrorCode.TABLE_VALUE_NOT_FOUND,
    "sex": ErrorCode.TABLE_VALUE_NOT_FOUND,
    "birth_name": ErrorCode.REQUIRED_FIELD_MISSING,
    "given_names": ErrorCode.REQUIRED_FIELD_MISSING,
}


def refused(exc: service.IdentityRejected, locations: dict[str, Location]) -> Hl7Error:
    """The AE for an IdentityRejected: its French message, at the HL7 location of its field."""
    return Hl7Error(
        _CODES.get(exc.field, ErrorCode.DATA_TYPE), exc.message,
        locations.get(exc.field) or locations.get("ipp"),
    )


def recorded_identity(db: Session, inbound: Inbound) -> tuple[service.RecordResult, str]:
    """The PID's identity recorded (or updated) by the identity server, and its FINESS juridique;
    a refusal becomes the AE at the HL7 field of the trait at fault."""
    identity = pam.identity_from(inbound.parsed)
    identity = pam.with_finess(identity, juridique_finess(db, identity.data.finess))
    try:
        result = service.record_identity(
            db, identity.data, actor=inbound.actor, channel=inbound.channel, reference=inbound.reference
        )
    except service.IdentityRejected as exc:
        raise refused(exc, identity.locations) from exc
    return result, identity.data.finess


def record_identity(db: Session, inbound: Inbound) -> str:
    result, _ = recorded_identity(db, inbound)
    return f"identity {result.identity_id} patient {result.patient_id} {result.decision}"


def merge_identities(db: Session, inbound: Inbound) -> str:
    done = []
    for merge in pam.merges_from(inbound.parsed):
        try:
            result = service.merge_local_identities(
                db, juridique_finess(db, merge.finess), merge.surviving_ipp, merge.retired_ipp,
                actor=inbound.actor, channel=inbound.channel, reference=inbound.reference,
            )
        except service.IdentityRejected as exc:
            raise refused(exc, merge.locations) from exc
        done.append(f"{merge.retired_ipp}->{merge.surviving_ipp} identity {result.identity_id} patient {result.patient_id}")
    return "merged " + "; ".join(done)


def change_ipp(db: Session, inbound: Inbound) -> str:
    change = pam.change_from(inbound.parsed)
    try:
        result = service.change_ipp(
            db, juridique_finess(db, change.finess), change.old_ipp, change.new_ipp,
            actor=inbound.actor, channel=inbound.channel, reference=inbound.reference,
        )
    except service.IdentityRejected as exc:
        raise refused(exc, change.locations) from exc
    return f"ipp {change.old_ipp}->{change.new_ipp} identity {result.identity_id} patient {result.patient_id}"


def register(registry: Registry) -> None:
    registry.add("ADT", IDENTITY_EVENTS, record_identity)
    registry.add("ADT", ("A40",), merge_identities)
    registry.add("ADT", ("A47",), change_ipp)
