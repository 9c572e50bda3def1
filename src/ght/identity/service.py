"""Identity server operations used by every feed (HL7 v2, FHIR, batch, API).

Each operation runs inside the caller's transaction and does not commit: the feed commits
once the whole message is applied, so a message is applied entirely or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from ght.db.base import utcnow
from ght.directory.models import Establishment
from ght.identity import ins as ins_checks
from ght.identity import publication as _publication  # noqa: F401  (queues publications of link events in the same transaction)
from ght.record import compartment as _compartment  # noqa: F401  (moves clinical resources with their identity)
from ght.identity.models import GhtPatient, IdentityChange, LinkEvent, LocalIdentity
from ght.identity.normalise import given_names_list, rniv_name, sex_code
from ght.identity.rules import Rule, apply_rules
from ght.identity.status import Flag, Status, can_transition


class IdentityRejected(ValueError):
    """The input cannot be applied. `field` names the IdentityInput field at fault, so that each
    feed can point at its own location of it (HL7 segment and field, FHIR path, CSV column)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class IdentityInput:
    """A local identity as a source system sends it. Empty strings mean "not sent"."""

    finess: str  # FINESS juridique of the establishment that owns the IPP
    ipp: str
    birth_name: str = ""
    given_names: str = ""  # all given names, space-separated, first one first
    birth_date: date | None = None
    sex: str = ""
    birth_place: str = ""  # INSEE code of the birth commune, or 99xxx for a country
    used_name: str = ""
    used_given_name: str = ""
    address: str = ""
    postcode: str = ""
    city: str = ""
    phone: str = ""
    ins: str = ""
    ins_oid: str = ""
    status: str = ""  # PROV, RECUP, VALI, QUAL; empty: PROV for a new identity, unchanged otherwise
    flags: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class RecordResult:
    identity_id: int
    patient_id: str
    decision: str  # linked, review, new (a new identity) or updated (a known one)
    created: bool


def establishment_by_finess(db: Session, finess: str) -> Establishment:
    establishment = db.scalar(select(Establishment).where(Establishment.finess_ej == finess))
    if establishment is None:
        raise IdentityRejected("finess", f"établissement inconnu du GHT : FINESS {finess or '(vide)'}")
    return establishment


def find_identity(db: Session, establishment: Establishment, ipp: str) -> LocalIdentity | None:
    return db.scalar(
        select(LocalIdentity).where(
            LocalIdentity.establishment_id == establishment.id, LocalIdentity.ipp == ipp
        )
    )


def snapshot(identity: LocalIdentity) -> dict:
    keep = (
        "ipp", "birth_name", "first_given_name", "given_names", "sex", "birth_place", "used_name",
        "used_given_name", "address", "postcode", "city", "phone", "ins", "ins_oid", "ins_valid",
        "status", "flags", "active", "patient_id",
    )
    data = {name: getattr(identity, name) for name in keep}
    data["birth_date"] = identity.birth_date.isoformat() if identity.birth_date else None
    data["finess"] = identity.establishment.finess_ej
    return data


def _nir_problem_fr(value: str) -> str:
    problem = ins_checks.nir_problem(value)
    return ins_checks.InsError(problem, value).message_fr if problem else "valide"


# The checks of a record as a whole, in the order normalised_traits makes them.

def check_ipp(ipp: str) -> None:
    if not ipp.strip():
        raise IdentityRejected("ipp", "IPP absent")
    if len(ipp) > 40:
        raise IdentityRejected("ipp", "IPP trop long (40 caractères au plus)")


def checked_status(value: str, current: LocalIdentity | None) -> Status:
    status_value = value or (current.status if current else Status.PROV)
    try:
        status = Status(status_value)
    except ValueError:
        raise IdentityRejected("status", f"statut d'identité inconnu « {status_value} » (PROV, RECUP, VALI, QUAL)") from None
    if current is not None and not can_transition(Status(current.status), status):
        raise IdentityRejected(
            "status", f"passage du statut {current.status} à {status} non autorisé par le RNIV"
        )
    return status


def checked_flags(values: tuple[str, ...]) -> str:
    flags = []
    for flag in values:
        try:
            flags.append(Flag(flag).value)
        except ValueError:
            raise IdentityRejected("flags", f"attribut d'identité inconnu « {flag} » (table 0445)") from None
    return " ".join(dict.fromkeys(flags))


# Statuses that need a valid INS: for any other, check_ins_for_status passes whatever the INS.
NEEDS_VALID_INS = frozenset({Status.RECUP, Status.QUAL})


def check_ins_for_status(status: Status, value: str) -> None:
    if status not in NEEDS_VALID_INS:
        return
    ins, _, ins_valid = ins_traits(value, "")
    if not ins_valid:
        raise IdentityRejected(
            "ins", f"une identité {status} doit porter un INS valide"
            + (f" (« {value} » refusé : {_nir_problem_fr(ins)})" if ins else "")
        )


# Each stored trait is a function of its own input field(s) alone: the online path applies them
# to one identity, the batch once per distinct value of a column (batch.prepare).

def birth_place_trait(value: str) -> str:
    birth_place = value.strip().upper()
    if birth_place and (len(birth_place) != 5 or not birth_place[2:].isdigit()):
        raise IdentityRejected("birth_place", f"code INSEE du lieu de naissance invalide « {value} »")
    return birth_place


def given_names_traits(given_names: str, used_given_name: str) -> tuple[str, str, str]:
    """The first given name, all of them and the used one (the first by default), RNIV-spelled."""
    names = given_names_list(given_names)
    first = names[0] if names else ""
    return first, " ".join(names), rniv_name(used_given_name) or first


def ins_traits(value: str, ins_oid: str) -> tuple[str | None, str | None, bool]:
    """The INS (compact), its OID and whether its key is right; `value` is compacted once."""
    ins = ins_checks.compact(value) if value else ""
    ins_valid = bool(ins) and ins_checks.compact_nir_problem(ins) is None
    return ins or None, (ins_oid or (ins_checks.INS_NIR_OID if ins else "")) or None, ins_valid


def _same(value):
    return value


def _stripped(value: str) -> str:
    return value.strip()


# (traits, IdentityInput fields, function); the function returns a tuple when it gives several
# traits. Only birth_place_trait refuses a value.
TRAIT_RULES: tuple[Rule, ...] = (
    (("birth_name",), ("birth_name",), rniv_name),
    (("first_given_name", "given_names", "used_given_name"), ("given_names", "used_given_name"), given_names_traits),
    (("birth_date",), ("birth_date",), _same),
    (("sex",), ("sex",), sex_code),
    (("birth_place",), ("birth_place",), birth_place_trait),
    (("used_name",), ("used_name",), rniv_name),
    (("address",), ("address",), _stripped),
    (("postcode",), ("postcode",), _stripped),
    (("city",), ("city",), rniv_name),
    (("phone",), ("phone",), _stripped),
    (("ins", "ins_oid", "ins_valid"), ("ins", "ins_oid"), ins_traits),
)
# The stored traits, in their order (the rules', then the status and flags of the record).
TRAITS = ("birth_name", "first_given_name", "given_names", "birth_date", "sex", "birth_place", "used_name",
          "used_given_name", "address", "postcode", "city", "phone", "ins", "ins_oid", "ins_valid", "status", "flags")


def normalised_traits(data: IdentityInput, current: LocalIdentity | None) -> dict:
    """The traits to store, RNIV-normalised and checked; raises IdentityRejected."""
    check_ipp(data.ipp)
    status = checked_status(data.status, current)
    flags = checked_flags(data.flags)
    check_ins_for_status(status, data.ins)
    traits = apply_rules(TRAIT_RULES, partial(getattr, data))
    traits["status"] = status.value
    traits["flags"] = flags
    return {name: traits[name] for name in TRAITS}


def record_history(db: Session, identity: LocalIdentity, event: str, *, actor: str, channel: str, reference: str | None) -> None:
    db.add(IdentityChange(
        identity_id=identity.id, version=identity.version, actor=actor, channel=channel,
        reference=reference, event=event, snapshot=snapshot(identity),
    ))


# Traits an update may leave out: HL7 v2 (an empty field means "not sent", not "erase") keeps
# them all; a FHIR update replaces the resource, so only what FHIR readers may not see back (the
# INS of an identity that is not qualified) is kept.
KEEP_UNSENT = ("birth_name", "given_names", "sex", "birth_place", "used_name", "used_given_name",
               "address", "postcode", "city", "phone", "ins_oid", "birth_date", "ins", "flags")
KEEP_UNSENT_ON_REPLACE = ("ins", "ins_oid")


def _completed(data: IdentityInput, identity: LocalIdentity, keep: tuple[str, ...] = KEEP_UNSENT) -> IdentityInput:
    """The update, with the traits it did not send (empty) and listed in `keep` taken from the
    stored identity."""
    kept = {}
    for name in keep:
        if name == "flags":
            continue
        if not getattr(data, name) and getattr(identity, name):
            kept[name] = getattr(identity, name)
    if "flags" in keep and not data.flags and identity.flags:
        kept["flags"] = tuple(identity.flags.split())
    return replace(data, **kept)


def record_identity(
    db: Session, data: IdentityInput, *, actor: str, channel: str, reference: str | None = None,
    replace_traits: bool = False,
) -> RecordResult:
    """Create or update the local identity (finess, ipp) and link it to a GHT patient.

    A new identity is linked by the matcher (qualified INS, then probabilistic scoring); an
    update (`replace_traits`: a FHIR update, which replaces the traits it leaves out) keeps its link unless the traits that changed make the link doubtful, in which case
    a review item is opened (never an automatic move between patients).
    """
    from ght.identity import linkage

    establishment = establishment_by_finess(db, data.finess)
    identity = find_identity(db, establishment, data.ipp)
    if identity is not None:
        data = _completed(data, identity, KEEP_UNSENT_ON_REPLACE if replace_traits else KEEP_UNSENT)
    traits = normalised_traits(data, identity)
    if identity is not None and not identity.active:
        raise IdentityRejected("ipp", f"l'IPP {data.ipp} a été fusionné et n'est plus actif")
    if identity is None:
        identity = LocalIdentity(establishment=establishment, ipp=data.ipp, **traits)
        decision = linkage.link_new_identity(db, identity, actor=actor, channel=channel)
        record_history(db, identity, "create", actor=actor, channel=channel, reference=reference)
        return RecordResult(identity.id, identity.patient_id, decision, True)
    changed = {name: value for name, value in traits.items() if getattr(identity, name) != value}
    if changed:
        for name, value in changed.items():
            setattr(identity, name, value)
        identity.version += 1
        identity.updated_at = utcnow()
        linkage.reindex(db, identity)
        db.flush()
        record_history(db, identity, "update", actor=actor, channel=channel, reference=reference)
        linkage.recheck_after_update(db, identity, set(changed), actor=actor, channel=channel)
    return RecordResult(identity.id, identity.patient_id, "updated", False)


def new_patient(db: Session) -> GhtPatient:
    from ght.identity.patient_ids import new_patient_id

    patient = GhtPatient(id=new_patient_id())
    db.add(patient)
    return patient


def _identity_or_reject(db: Session, establishment: Establishment, ipp: str, field: str) -> LocalIdentity:
    identity = find_identity(db, establishment, ipp)
    if identity is None:
        raise IdentityRejected(field, f"IPP {ipp or '(vide)'} inconnu pour l'établissement {establishment.finess_ej}")
    return identity


def merge_patients(db: Session, survivor: str, absorbed: str, *, actor: str, channel: str, reason: str = "") -> LinkEvent:
    """Move every identity of `absorbed` to `survivor`; the event lists them, for an exact unmerge."""
    if survivor == absorbed:
        raise IdentityRejected("patient_id", "un patient ne peut pas être fusionné avec lui-même")
    kept, gone = db.get(GhtPatient, survivor), db.get(GhtPatient, absorbed)
    for pid, patient in ((survivor, kept), (absorbed, gone)):
        if patient is None:
            raise IdentityRejected("patient_id", f"patient GHT inconnu : {pid}")
        if patient.merged_into:
            raise IdentityRejected("patient_id", f"le patient {pid} a déjà été fusionné dans {patient.merged_into}")
    moved = list(db.scalars(select(LocalIdentity).where(LocalIdentity.patient_id == absorbed)))
    for identity in moved:
        identity.patient_id = survivor
    gone.merged_into = survivor
    event = LinkEvent(action="merge", from_patient=absorbed, to_patient=survivor, actor=actor,
                      channel=channel, reason=reason, details={"identities": [i.id for i in moved]})
    db.add(event)
    db.flush()
    return event


def unmerge(db: Session, merge_event_id: int, *, actor: str, channel: str, reason: str = "") -> LinkEvent:
    """Undo a merge exactly: the absorbed patient reopens with the identities it had."""
    merge = db.get(LinkEvent, merge_event_id)
    if merge is None or merge.action != "merge":
        raise IdentityRejected("event", f"aucune fusion n° {merge_event_id}")
    if merge.undone_by is not None:
        raise IdentityRejected("event", f"la fusion n° {merge_event_id} a déjà été annulée")
    absorbed = db.get(GhtPatient, merge.from_patient)
    absorbed.merged_into = None
    ids = merge.details.get("identities", [])
    restored = list(db.scalars(select(LocalIdentity).where(
        LocalIdentity.id.in_(ids), LocalIdentity.patient_id == merge.to_patient)))
    for identity in restored:
        identity.patient_id = absorbed.id
    event = LinkEvent(action="unmerge", from_patient=merge.to_patient, to_patient=absorbed.id,
                      actor=actor, channel=channel, reason=reason,
                      details={"identities": [i.id for i in restored], "merge_event": merge.id})
    db.add(event)
    db.flush()
    merge.undone_by = event.id
    return event


def merge_local_identities(
    db: Session, finess: str, surviving_ipp: str, retired_ipp: str, *, actor: str, channel: str,
    reference: str | None = None,
) -> RecordResult:
    """An establishment merged two of its own records (HL7 A40): the retired IPP is kept in the
    history but inactive, and the GHT patients of both identities become one."""
    establishment = establishment_by_finess(db, finess)
    survivor = _identity_or_reject(db, establishment, surviving_ipp, "ipp")
    retired = _identity_or_reject(db, establishment, retired_ipp, "retired_ipp")
    if survivor.id == retired.id:
        raise IdentityRejected("retired_ipp", "l'IPP fusionné est l'IPP conservé")
    if not retired.active:
        return RecordResult(survivor.id, survivor.patient_id, "updated", False)  # already merged
    retired.active = False
    retired.version += 1
    retired.updated_at = utcnow()
    from ght.identity import linkage

    linkage.reindex(db, retired)
    record_history(db, retired, "retire", actor=actor, channel=channel, reference=reference)
    if retired.patient_id != survivor.patient_id:
        merge_patients(db, survivor.patient_id, retired.patient_id, actor=actor, channel=channel,
                       reason=f"fusion des IPP {retired_ipp} → {surviving_ipp} ({finess})")
    return RecordResult(survivor.id, survivor.patient_id, "updated", False)


def change_ipp(
    db: Session, finess: str, old_ipp: str, new_ipp: str, *, actor: str, channel: str,
    reference: str | None = None,
) -> RecordResult:
    """An establishment changed the IPP of a record (HL7 A47); the identity and its links stay."""
    establishment = establishment_by_finess(db, finess)
    identity = _identity_or_reject(db, establishment, old_ipp, "ipp")
    if not new_ipp.strip() or len(new_ipp) > 40:
        raise IdentityRejected("new_ipp", "nouvel IPP absent ou trop long")
    if find_identity(db, establishment, new_ipp) is not None:
        raise IdentityRejected("new_ipp", f"l'IPP {new_ipp} existe déjà pour l'établissement {finess}")
    identity.ipp = new_ipp
    identity.version += 1
    identity.updated_at = utcnow()
    db.flush()
    record_history(db, identity, "change-ipp", actor=actor, channel=channel, reference=reference)
    return RecordResult(identity.id, identity.patient_id, "updated", False)


def _move(db: Session, identity: LocalIdentity, to_patient: str, action: str, *, actor: str, channel: str, reason: str) -> LinkEvent:
    event = LinkEvent(action=action, identity_id=identity.id, from_patient=identity.patient_id,
                      to_patient=to_patient, actor=actor, channel=channel, reason=reason)
    identity.patient_id = to_patient
    db.add(event)
    db.flush()
    return event


def unlink_identity(db: Session, identity_id: int, *, actor: str, channel: str, reason: str) -> LinkEvent:
    """Detach an identity from its patient into a new GHT patient of its own."""
    identity = db.get(LocalIdentity, identity_id)
    if identity is None:
        raise IdentityRejected("identity", f"identité locale n° {identity_id} inconnue")
    others = db.scalar(select(LocalIdentity.id).where(
        LocalIdentity.patient_id == identity.patient_id, LocalIdentity.id != identity.id).limit(1))
    if others is None:
        raise IdentityRejected("identity", "cette identité est la seule de son patient : rien à délier")
    patient = new_patient(db)
    db.flush()
    return _move(db, identity, patient.id, "unlink", actor=actor, channel=channel, reason=reason)


def link_identity(db: Session, identity_id: int, patient_id: str, *, actor: str, channel: str, reason: str) -> LinkEvent:
    """Attach an identity to another, existing GHT patient."""
    identity = db.get(LocalIdentity, identity_id)
    if identity is None:
        raise IdentityRejected("identity", f"identité locale n° {identity_id} inconnue")
    patient = db.get(GhtPatient, patient_id)
    if patient is None or patient.merged_into:
        raise IdentityRejected("patient_id", f"patient GHT {patient_id} inconnu ou fusionné")
    if identity.patient_id == patient_id:
        raise IdentityRejected("patient_id", "l'identité est déjà liée à ce patient")
    return _move(db, identity, patient_id, "link", actor=actor, channel=channel, reason=reason)
