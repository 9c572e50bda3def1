"""Synthetic PAM FR messages and helpers shared by the HL7 v2 tests (not a test module).

Persons, IPPs and establishments are invented; INS use the demo OID and keys computed with
the identity server's own function, FINESS keys with the directory's.
"""

from __future__ import annotations

import socket

import hl7

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
