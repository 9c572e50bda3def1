"""Synthetic PAM FR messages and helpers shared by the HL7 v2 tests (not a test module).

Persons, IPPs and establishments are invented; INS use the demo OID and keys computed with
the identity server's own function, FINESS keys with the directory's.
"""

from __future__ import annotations

import socket

import hl7
import pytest

from ght.directory.identifiers import finess_with_key
from ght.directory.models import Establishment, Site
from ght.identity.ins import INS_NIR_DEMO_OID, nir_with_key

CHU = finess_with_key("49000015")  # FINESS juridique of the support establishment
CH = finess_with_key("49000022")  # another establishment of the GHT
CHU_SITE = finess_with_key("49000045")  # a site (FINESS géographique) of the CHU
UNKNOWN = finess_with_key("75999999")
INS_MARIE = nir_with_key("2550849007123")
INS_PAUL = nir_with_key("1800175056042")
INS_AUTHORITY = f"ASIP-SANTE-INS-NIR&{INS_NIR_DEMO_OID}&ISO"


def add_establishments(db) -> None:
    chu = Establishment(finess_ej=CHU, name="CHU d'Angers (fictif)", short_name="CHU", role="support")
    chu.sites.append(Site(finess_et=CHU_SITE, name="CHU site principal", commune_insee="49007",
                          postcode="49100", city="ANGERS", is_main=True))
    db.add_all([chu, Establishment(finess_ej=CH, name="CH de Cholet (fictif)", short_name="CH", role="partie")])
    db.commit()


def msh(event: str, control_id: str, *, structure: str = "ADT_A05", facility: str | None = None,
        version: str = "2.5^FRA^2.11", processing: str = "P", charset: str = "UNICODE UTF-8",
        message_code: str = "ADT") -> str:
    facility = facility if facility is not None else f"CHU_ANGERS^{CHU}^M"
    return (f"MSH|^~\\&|GAM_CHU|{facility}|GHT_MPI|GHT|20240301101500||{message_code}^{event}^{structure}|"
            f"{control_id}|{processing}|{version}|||||FRA|{charset}")


def pid(ipp: str = "100234", *, finess: str | None = None, ins: str | None = INS_MARIE,
        names: str = "DUPONT^Marie^Marie Hélène Anne^^^^L~MARTIN^Marie^^^^^D", birth_date: str = "19550814",
        sex: str = "F", address: str = "12 rue des Lices^^ANGERS^^49100^FRA^H~^^^^^^BDL^^49007",
        phone: str = "^PRN^PH^^^^^^^^^0241000000~^NET^Internet^marie.dupont@example.invalid",
        status: str = "QUAL", sequence: int = 1) -> str:
    authority = f"CHU_ANGERS&{finess or CHU}&M"
    identifiers = f"{ipp}^^^{authority}^PI" + (f"~{ins}^^^{INS_AUTHORITY}^INS" if ins else "")
    fields = [""] * 33
    fields[1] = str(sequence)
    fields[3] = identifiers
    fields[5] = names
    fields[7] = birth_date
    fields[8] = sex
    fields[11] = address
    fields[13] = phone
    fields[32] = status
    return "PID|" + "|".join(fields[1:]).rstrip("|")


def mrg(ipp: str, finess: str | None = None) -> str:
    return f"MRG|{ipp}^^^CHU_ANGERS&{finess or CHU}&M^PI"


def message(event: str, control_id: str, *segments: str, **header) -> str:
    structure = {"A28": "ADT_A05", "A31": "ADT_A05", "A05": "ADT_A05", "A40": "ADT_A39",
                 "A47": "ADT_A30"}.get(event, "ADT_A01")
    header.setdefault("structure", structure)
    body = [msh(event, control_id, **header), "EVN||20240301101500"]
    body += list(segments) or [pid()]
    if event in ("A01", "A04", "A05", "A08") and not any(s.startswith("PV1") for s in body):
        body.append("PV1|1|I|^^^CHU_ANGERS&" + CHU + "&M")
    return "\r".join(body) + "\r"


def a28(control_id: str = "MSG0001", **pid_fields) -> bytes:
    return message("A28", control_id, pid(**pid_fields)).encode("utf-8")


def parse_ack(data: bytes | str) -> hl7.Message:
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return hl7.parse(text)


def ack_fields(data: bytes | str) -> dict[str, str]:
    """MSA-1, MSA-2, ERR-2, ERR-3.1, ERR-4 and ERR-8 of an ACK, as strings."""
    ack = parse_ack(data)
    values = {"msa1": str(ack.segment("MSA")(1)), "msa2": str(ack.segment("MSA")(2))}
    try:
        err = ack.segment("ERR")
    except KeyError:
        return values
    values.update(err2=str(err(2)), err3=str(err(3)(1)(1)), err4=str(err(4)), err8=ack.unescape(str(err(8))))
    return values


# --------------------------------------------------------------------------- raw MLLP client

VT, FS, CR = b"\x0b", b"\x1c", b"\r"


def frame(payload: bytes) -> bytes:
    return VT + payload + FS + CR


def read_block(sock: socket.socket) -> bytes:
    """One MLLP block from the socket (without its framing); b"" if the peer closed."""
    data = b""
    while not data.endswith(FS + CR):
        chunk = sock.recv(65536)
        if not chunk:
            return b""
        data += chunk
    assert data.startswith(VT), data
    return data[1:-2]


def connect(port: int, timeout: float = 15) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return sock


def exchange(port: int, payload: bytes, *, raw: bool = False) -> bytes:
    """Send one frame (or raw bytes) on a new connection and read the answer."""
    with connect(port) as sock:
        sock.sendall(payload if raw else frame(payload))
        return read_block(sock)


# --------------------------------------------------------------------------- record feeds
# Movements (PAM FR ITI-31 with ZBE), lab results (ORU^R01) and documents (MDM^T02).

RPPS_DUVAL = "10001234567"  # attending physician, declared in the directory by the tests
RPPS_UNKNOWN = "10009999999"  # a consultant the directory does not know
UF_CARDIO, UF_REA = "1234", "5678"


def xcn(rpps: str, family: str, given: str) -> str:
    return f"{rpps}^{family}^{given}^^^Dr^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^L^^^RPPS"


def pv1(nda: str = "NDA001", *, klass: str = "I", point: str = "", room: str = "", bed: str = "",
        attending: str = "", consulting: str = "", admitted: str = "", discharged: str = "") -> str:
    fields = [""] * 46
    fields[1] = "1"
    fields[2] = klass
    fields[3] = "^".join([point, room, bed]).rstrip("^")
    fields[7] = attending
    fields[9] = consulting
    fields[19] = f"{nda}^^^CHU_ANGERS&{CHU}&M^VN" if nda else ""
    fields[44] = admitted
    fields[45] = discharged
    return "PV1|" + "|".join(fields[1:]).rstrip("|")


def zbe(movement_id: str, at: str, *, action: str = "INSERT", uf: str = "", uf_label: str = "",
        original: str = "") -> str:
    unit = f"{uf_label}^^^^^^^^^{uf}" if uf else ""
    return f"ZBE|{movement_id}^GAM_CHU|{at}||{action}|N|{original}|{unit}||HMS"


def movement(event: str, control_id: str, movement_id: str, at: str, *, nda: str = "NDA001", ipp: str = "100234",
             action: str | None = None, uf: str = "", uf_label: str = "", original: str = "", **pv1_fields) -> bytes:
    """An ITI-31 movement of Marie (PID of `pid()`), with its PV1 and ZBE."""
    if action is None:
        action = "CANCEL" if event in ("A11", "A12", "A13", "A52", "A53") else "INSERT"
    segments = [pid(ipp=ipp), pv1(nda, **pv1_fields), zbe(movement_id, at, action=action, uf=uf, uf_label=uf_label,
                                                          original=original)]
    return message(event, control_id, *segments).encode("utf-8")


def obx(set_id: int, kind: str, code: str, value: str, *, unit: str = "", ref_range: str = "", flags: str = "",
        status: str = "F", sub_id: str = "", when: str = "") -> str:
    fields = [""] * 15
    fields[1], fields[2], fields[3], fields[4], fields[5] = str(set_id), kind, code, sub_id, value
    fields[6], fields[7], fields[8], fields[11], fields[14] = unit, ref_range, flags, status, when
    return "OBX|" + "|".join(fields[1:]).rstrip("|")


def obr(set_id: int, filler: str, code: str, *, placer: str = "", collected: str = "202403011015",
        reported: str = "202403011230", status: str = "F") -> str:
    fields = [""] * 26
    fields[1], fields[2], fields[3], fields[4] = str(set_id), placer, f"{filler}^LABO_CHU" if filler else "", code
    fields[7], fields[22], fields[25] = collected, reported, status
    return "OBR|" + "|".join(fields[1:]).rstrip("|")


def oru(control_id: str, *segments: str, nda: str | None = "NDA001", ipp: str = "100234") -> bytes:
    head = [msh("R01", control_id, structure="ORU_R01", message_code="ORU"), pid(ipp=ipp)]
    if nda:
        head.append(pv1(nda))
    return ("\r".join(head + list(segments)) + "\r").encode("utf-8")


def txa(number: str, *, kind: str = "11490-0^Compte rendu d'hospitalisation^LN", author: str = "",
        created: str = "202403051600", completion: str = "AU", availability: str = "AV") -> str:
    fields = [""] * 20
    fields[1], fields[2], fields[3] = "1", kind, "AP"
    fields[6], fields[9], fields[12] = created, author, f"{number}^GAM_CHU"
    fields[17], fields[19] = completion, availability
    return "TXA|" + "|".join(fields[1:]).rstrip("|")


def ed(data: bytes | str, *, kind: str = "application", subtype: str = "pdf", encoding: str = "Base64") -> str:
    import base64

    payload = data if isinstance(data, str) else base64.b64encode(data).decode("ascii")
    return f"OBX|1|ED|11490-0^Compte rendu^LN||^{kind}^{subtype}^{encoding}^{payload}||||||F"


def mdm(control_id: str, *segments: str, nda: str | None = "NDA001", ipp: str = "100234") -> bytes:
    head = [msh("T02", control_id, structure="MDM_T02", message_code="MDM"), "EVN||202403051600", pid(ipp=ipp)]
    head.append(pv1(nda) if nda else "PV1|1|I")
    return ("\r".join(head + list(segments)) + "\r").encode("utf-8")


MINIMAL_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
               b"trailer<</Root 1 0 R>>\n%%EOF\n")
MINIMAL_CDA = ('<?xml version="1.0" encoding="UTF-8"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3">'
               '<title>Compte rendu opératoire</title></ClinicalDocument>').encode("utf-8")


def add_directory(db) -> None:
    """The establishments, two UFs of the CHU site and the attending physician."""
    from sqlalchemy import select

    from ght.directory.models import FunctionalUnit, Professional

    add_establishments(db)
    chu = db.scalar(select(Establishment).where(Establishment.finess_ej == CHU))
    site = chu.sites[0]
    db.add_all([
        FunctionalUnit(establishment_id=chu.id, site=site, code=UF_CARDIO, name="Cardiologie",
                       specialty="Cardiologie", activity="MCO"),
        FunctionalUnit(establishment_id=chu.id, site=site, code=UF_REA, name="Réanimation",
                       specialty="Réanimation", activity="MCO"),
        Professional(rpps=RPPS_DUVAL, family_name="DUVAL", given_name="Jean", profession="medecin",
                     specialty="Cardiologie", external=False),
    ])
    db.commit()


@pytest.fixture
def feed(engine, db):
    """The HL7 feed over a database holding the test directory (import it into a test module)."""
    from ght.interop.hl7v2.feed import Feed

    add_directory(db)
    return Feed(engine)


def send(feed, raw: bytes) -> dict:
    """The fields of the ACK the feed answers to `raw`."""
    return ack_fields(feed.receive(raw).payload)
