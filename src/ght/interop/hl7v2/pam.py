"""IHE PAM (ITI-30/ITI-31) with its French extension: PID and MRG to identity-server inputs.

Each value keeps where it came from, so that a refusal (ours here, or the identity server's
IdentityRejected naming an IdentityInput field) points the sender at the HL7 field at fault.

PAM FR conventions read here (see docs/hl7v2.md for the whole table):
- PID-3: the IPP has CX.5 = PI and its assigning authority in CX.4 (namespace&OID&ISO, or
  namespace&FINESS&M); the INS has CX.5 = INS and CX.4 = ASIP-SANTE-INS-NIR&<OID>&ISO.
- PID-5: repetition L is the birth name (XPN.2 first given name, XPN.3 the list of birth
  given names), repetition D the used name and used given name.
- PID-11: repetition BDL carries the INSEE code of the birth place in XAD.9.
- PID-32: the identity status (PROV, RECUP, VALI, QUAL) and attributes of table 0445 (DOUT, FICT...).
- MSH-4 / PID-3.4: the FINESS of the establishment that assigned the IPP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date

from ght.identity.normalise import rniv_name
from ght.identity.service import IdentityInput
from ght.identity.status import Status
from ght.interop.hl7v2.ack import ErrorCode, Hl7Error, Location
from ght.interop.hl7v2.message import Parsed, Seg, part

# OIDs of the INS assigning authorities: production NIR and NIA, then the test and demo ones.
INS_AUTHORITIES = {
    "1.2.250.1.213.1.4.8": "ASIP-SANTE-INS-NIR",
    "1.2.250.1.213.1.4.9": "ASIP-SANTE-INS-NIA",
    "1.2.250.1.213.1.4.10": "ASIP-SANTE-INS-NIR-TEST",
    "1.2.250.1.213.1.4.11": "ASIP-SANTE-INS-NIR-DEMO",
}
INS_TYPES = ("INS", "INS-NIR", "INS-NIA")
SEXES = ("M", "F", "U", "O", "A", "N")  # HL7 table 0001
MAX_IPP = 40
_FINESS = re.compile(r"\d{9}|2[AB]\d{7}")
_DTM = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d*)(\.\d+)?([+-]\d{4})?")


def error(code: ErrorCode, message: str, location: Location) -> Hl7Error:
    return Hl7Error(code, message, location)


@dataclass(frozen=True)
class PatientIdentity:
    """A local identity read from a PID, and where each IdentityInput field came from."""

    data: IdentityInput
    locations: dict[str, Location]


@dataclass(frozen=True)
class LocalIpp:
    """An IPP and the FINESS of its establishment, with their locations."""

    finess: str
    ipp: str
    finess_at: Location
    ipp_at: Location


@dataclass(frozen=True)
class Merge:
    """A40: the retired IPP (MRG-1) is merged into the surviving one (PID-3), one establishment."""

    finess: str
    surviving_ipp: str
    retired_ipp: str
    locations: dict[str, Location]


@dataclass(frozen=True)
class IdentifierChange:
    """A47: the IPP in MRG-1 (incorrect) becomes the one in PID-3 (correct)."""

    finess: str
    old_ipp: str
    new_ipp: str
    locations: dict[str, Location]


# --------------------------------------------------------------------------- establishment


def finess_in_hd(components: tuple[str, ...] | list[str]) -> str | None:
    """The FINESS an HD carries: universal id of type M (PAM FR), else a universal id or a
    namespace that is itself a FINESS (9 characters, 2A/2B for Corsica)."""
    namespace, universal, kind = (list(components) + ["", "", ""])[:3]
    for value in (universal, namespace) if kind.upper() != "M" else (universal,):
        if _FINESS.fullmatch(value.strip()):
            return value.strip()
    return None


def _msh_finess(parsed: Parsed) -> str | None:
    return finess_in_hd(parsed.header.sending_facility)


def _cx_authority(rep: list[list[str]]) -> list[str]:
    return [part(rep, 4, sub) for sub in (1, 2, 3)]


def local_ipp(parsed: Parsed, segment: Seg, field: int, *, what: str) -> LocalIpp:
    """The IPP of a CX list (PID-3, MRG-1) and its establishment's FINESS.

    Several PI (a GAM shared by establishments of the GHT): the one whose authority is the
    establishment of MSH-4. The FINESS comes from CX.4, else from MSH-4.
    """
    reps = segment.reps(field)
    where = segment.loc(field)
    if not reps:
        raise error(ErrorCode.REQUIRED_FIELD_MISSING, f"{what} absent", where)
    candidates = [
        (number, rep) for number, rep in enumerate(reps, start=1)
        if part(rep, 1) and part(rep, 5).upper() in ("PI", "")
        and not (part(rep, 5) == "" and part(rep, 4, 2) in INS_AUTHORITIES)
    ]
    typed = [(number, rep) for number, rep in candidates if part(rep, 5).upper() == "PI"]
    candidates = typed or (candidates if len(candidates) == 1 else [])
    if not candidates:
        raise error(ErrorCode.REQUIRED_FIELD_MISSING, f"{what} absent : aucun identifiant de type PI", where)
    msh_finess = _msh_finess(parsed)
    if len(candidates) > 1:
        own = [(n, rep) for n, rep in candidates if finess_in_hd(_cx_authority(rep)) == msh_finess]
        if len(own) != 1:
            raise error(
                ErrorCode.TABLE_VALUE_NOT_FOUND,
                f"{what} ambigu : plusieurs identifiants PI et aucun de l'établissement de MSH-4", where,
            )
        candidates = own
    number, rep = candidates[0]
    ipp = part(rep, 1)
    ipp_at = segment.loc(field, number, 1)
    if len(ipp) > MAX_IPP:
        raise error(ErrorCode.DATA_TYPE, f"IPP trop long ({MAX_IPP} caractères au plus)", ipp_at)
    finess = finess_in_hd(_cx_authority(rep))
    if finess:
        return LocalIpp(finess, ipp, segment.loc(field, number, 4), ipp_at)
    if msh_finess:
        return LocalIpp(msh_finess, ipp, Location("MSH", 1, 4), ipp_at)
    raise error(
        ErrorCode.REQUIRED_FIELD_MISSING,
        "FINESS de l'établissement introuvable : ni l'autorité d'affectation de l'IPP (CX.4, type M) "
        "ni MSH-4 n'en portent un",
        segment.loc(field, number, 4),
    )


# --------------------------------------------------------------------------- traits


def _ins(pid: Seg) -> tuple[str, str, Location | None]:
    for number, rep in enumerate(pid.reps(3), start=1):
        kind = part(rep, 5).upper()
        oid = part(rep, 4, 2)
        if kind not in INS_TYPES and oid not in INS_AUTHORITIES:
            continue
        if oid not in INS_AUTHORITIES:
            raise error(
                ErrorCode.TABLE_VALUE_NOT_FOUND,
                f"autorité d'affectation de l'INS inconnue « {oid or part(rep, 4)} » "
                "(attendu : ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO)",
                pid.loc(3, number, 4),
            )
        value = part(rep, 1)
        if value:
            return value, oid, pid.loc(3, number, 1)
    return "", "", None


def _given_names(first: str, listed: str) -> str:
    """PAM FR puts the full list of birth given names in XPN.3 (first one first); older
    senders follow base HL7, where XPN.3 holds only the second and further given names."""
    if not listed:
        return first
    words = listed.replace(",", " ").split()
    if not first or rniv_name(words[0]) == rniv_name(first):
        return " ".join(words)
    return f"{first} {' '.join(words)}"


def _birth_date(pid: Seg) -> date | None:
    raw = pid.value(7)
    if not raw:
        return None
    where = pid.loc(7)
    match = _DTM.fullmatch(raw)
    if not match:
        raise error(ErrorCode.DATA_TYPE, f"date de naissance invalide « {raw} » (format AAAAMMJJ attendu)", where)
    if match.group(2) is None or match.group(3) is None:
        raise error(ErrorCode.DATA_TYPE, f"date de naissance incomplète « {raw} » (AAAAMMJJ attendu)", where)
    try:
        value = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise error(ErrorCode.DATA_TYPE, f"date de naissance impossible « {raw} »", where) from None
    if value > date.today():
        raise error(ErrorCode.DATA_TYPE, f"date de naissance dans le futur « {raw} »", where)
    return value


def identity_from(parsed: Parsed, pid: Seg | None = None) -> PatientIdentity:
    """The local identity a PID describes (the first PID unless one is given)."""
    pid = pid or parsed.first("PID")
    if pid is None:
        raise error(ErrorCode.SEGMENT_SEQUENCE, "segment PID absent", Location("PID"))
    ipp = local_ipp(parsed, pid, 3, what="IPP (PID-3)")
    locations = {"finess": ipp.finess_at, "ipp": ipp.ipp_at}

    names = pid.reps(5)
    if not names:
        raise error(ErrorCode.REQUIRED_FIELD_MISSING, "nom du patient absent", pid.loc(5))
    typed = {}
    for number, rep in enumerate(names, start=1):
        typed.setdefault(part(rep, 7).upper(), (number, rep))
    birth = typed.get("L") or typed.get("")
    if birth is None or not part(birth[1], 1):
        raise error(ErrorCode.REQUIRED_FIELD_MISSING, "nom de naissance absent (répétition de type L)", pid.loc(5))
    number, rep = birth
    listed = part(rep, 3)
    traits = dict(birth_name=part(rep, 1), given_names=_given_names(part(rep, 2), listed))
    locations["birth_name"] = pid.loc(5, number, 1)
    locations["given_names"] = pid.loc(5, number, 3 if listed else 2)
    if "D" in typed:
        number, rep = typed["D"]
        traits.update(used_name=part(rep, 1), used_given_name=part(rep, 2))
        locations["used_name"] = pid.loc(5, number, 1)
        locations["used_given_name"] = pid.loc(5, number, 2)

    traits["birth_date"] = _birth_date(pid)
    locations["birth_date"] = pid.loc(7)
    sex = pid.value(8).upper()
    if sex and sex not in SEXES:
        raise error(ErrorCode.TABLE_VALUE_NOT_FOUND, f"sexe « {sex} » inconnu (table 0001 : {', '.join(SEXES)})", pid.loc(8))
    traits["sex"] = sex
    locations["sex"] = pid.loc(8)

    locations["birth_place"] = pid.loc(11)
    home = None
    for number, rep in enumerate(pid.reps(11), start=1):
        kind = part(rep, 7).upper()
        if kind == "BDL":
            if "birth_place" not in traits:
                traits["birth_place"] = part(rep, 9)
                locations["birth_place"] = pid.loc(11, number, 9)
        elif any(part(rep, c) for c in (1, 2, 3, 5)) and (home is None or (kind == "H" and home[2] != "H")):
            home = (number, rep, kind)
    if home:
        number, rep, _ = home
        traits.update(
            address=", ".join(value for value in (part(rep, 1), part(rep, 2)) if value),
            postcode=part(rep, 5), city=part(rep, 3),
        )
        for name, component in (("address", 1), ("postcode", 5), ("city", 3)):
            locations[name] = pid.loc(11, number, component)

    for number, rep in enumerate(pid.reps(13), start=1):
        if part(rep, 2).upper() == "NET" or part(rep, 3).upper() in ("INTERNET", "X.400"):
            continue  # an e-mail address, not a phone number
        phone = part(rep, 12) or part(rep, 1)
        if phone:
            traits["phone"] = phone
            locations["phone"] = pid.loc(13, number, 12 if part(rep, 12) else 1)
            break

    ins, ins_oid, ins_at = _ins(pid)
    traits.update(ins=ins, ins_oid=ins_oid)
    locations["ins"] = ins_at or pid.loc(3)

    codes = [part(rep, 1).upper() for rep in pid.reps(32) if part(rep, 1)]
    statuses = list(dict.fromkeys(code for code in codes if code in Status.__members__))
    if len(statuses) > 1:
        raise error(
            ErrorCode.TABLE_VALUE_NOT_FOUND,
            f"plusieurs statuts d'identité ({', '.join(statuses)}) : un seul parmi PROV, RECUP, VALI, QUAL",
            pid.loc(32),
        )
    traits.update(status=statuses[0] if statuses else "", flags=tuple(c for c in codes if c not in statuses))
    locations["status"] = locations["flags"] = pid.loc(32)
    return PatientIdentity(IdentityInput(finess=ipp.finess, ipp=ipp.ipp, **traits), locations)


def with_finess(identity: PatientIdentity, finess: str) -> PatientIdentity:
    return PatientIdentity(replace(identity.data, finess=finess), identity.locations)


# --------------------------------------------------------------------------- A40, A47


def _pid_mrg_pairs(parsed: Parsed) -> list[tuple[Seg, Seg]]:
    """The PATIENT groups of ADT_A39 / ADT_A30: each PID and the MRG that follows it."""
    pairs: list[tuple[Seg, Seg | None]] = []
    for segment in parsed.segments:
        if segment.name == "PID":
            pairs.append((segment, None))
        elif segment.name == "MRG":
            if not pairs or pairs[-1][1] is not None:
                raise error(ErrorCode.SEGMENT_SEQUENCE, "segment MRG sans segment PID avant lui", segment.loc())
            pairs[-1] = (pairs[-1][0], segment)
    if not pairs:
        raise error(ErrorCode.SEGMENT_SEQUENCE, "segment PID absent", Location("PID"))
    for pid, mrg in pairs:
        if mrg is None:
            raise error(ErrorCode.SEGMENT_SEQUENCE, "segment MRG absent après ce PID", pid.loc())
    return pairs  # type: ignore[return-value]


def _same_establishment(survivor: LocalIpp, other: LocalIpp, mrg: Seg) -> None:
    if other.finess != survivor.finess:
        raise error(
            ErrorCode.TABLE_VALUE_NOT_FOUND,
            f"l'IPP de MRG-1 relève d'un autre établissement (FINESS {other.finess}) que celui de PID-3 "
            f"(FINESS {survivor.finess}) : une fusion ou un changement d'IPP reste dans un établissement",
            other.finess_at if other.finess_at.segment == "MRG" else mrg.loc(1),
        )


def merges_from(parsed: Parsed) -> list[Merge]:
    """A40 (ADT_A39): one merge per PID/MRG group, in message order."""
    merges = []
    for pid, mrg in _pid_mrg_pairs(parsed):
        survivor = local_ipp(parsed, pid, 3, what="IPP conservé (PID-3)")
        retired = local_ipp(parsed, mrg, 1, what="IPP à fusionner (MRG-1)")
        _same_establishment(survivor, retired, mrg)
        merges.append(Merge(
            finess=survivor.finess, surviving_ipp=survivor.ipp, retired_ipp=retired.ipp,
            locations={"finess": survivor.finess_at, "ipp": survivor.ipp_at, "retired_ipp": retired.ipp_at},
        ))
    return merges


def change_from(parsed: Parsed) -> IdentifierChange:
    """A47 (ADT_A30): PID-3 holds the correct IPP, MRG-1 the incorrect one it replaces."""
    pid, mrg = _pid_mrg_pairs(parsed)[0]
    new = local_ipp(parsed, pid, 3, what="nouvel IPP (PID-3)")
    old = local_ipp(parsed, mrg, 1, what="IPP à remplacer (MRG-1)")
    _same_establishment(new, old, mrg)
    return IdentifierChange(
        finess=new.finess, old_ipp=old.ipp, new_ipp=new.ipp,
        locations={"finess": new.finess_at, "ipp": old.ipp_at, "retired_ipp": old.ipp_at, "new_ipp": new.ipp_at},
    )
