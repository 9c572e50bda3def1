"""Documents (MDM^T02, with an ED OBX: PDF or CDA in base64) to DocumentReference + Binary.

Ids: `<FINESS EJ>-<TXA-12>` for the DocumentReference and its (first) Binary, `-2`, `-3`...
for further contents; identifier `urn:finess:<EJ>:document`. The same document sent again
(same TXA-12) updates them; unchanged content makes no new version.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import xml.etree.ElementTree as ElementTree

from sqlalchemy.orm import Session

from ght.interop.hl7v2.ack import ErrorCode, Location
from ght.interop.hl7v2.dispatch import Inbound, Registry
from ght.interop.hl7v2.message import Seg, part
from ght.interop.hl7v2.record_feed import (
    codeable, encounter_id, error, fhir_datetime, practitioner, required, stable_id, subject_of, visit_number, write,
)

PDF = "application/pdf"
XML_TYPES = ("text/xml", "application/xml", "application/hl7-v3+xml")  # a CDA R2 document
CDA_ROOT = "{urn:hl7-org:v3}ClinicalDocument"
# OBX-5.2 / OBX-5.3 (type of data, subtype: HL7 table 0191 or a MIME type) -> MIME type.
ALIASES = {"ap/pdf": PDF, "application/pdf": PDF, "text/xml": "text/xml", "ap/xml": "application/xml",
           "application/xml": "application/xml", "application/hl7-v3+xml": "application/hl7-v3+xml",
           "text/hl7-v3+xml": "application/hl7-v3+xml", "multipart/xml": "text/xml"}
# TXA-17 completion status (table 0271) -> DocumentReference.docStatus.
DOC_STATUS = {"AU": "final", "LA": "final", "DO": "final", "IP": "preliminary", "IN": "preliminary",
              "PA": "preliminary", "DI": "preliminary"}
# TXA-19 availability status (table 0273) -> DocumentReference.status.
AVAILABILITY = {"AV": "current", "": "current", "UN": "current", "OB": "superseded", "CA": "entered-in-error"}


def decode_ed(obx: Seg) -> tuple[str, bytes]:
    """The MIME type and bytes of an ED value (source^type^subtype^encoding^data), checked:
    a PDF must be one, an XML document must be a CDA without DTD (no entity expansion)."""
    rep = obx.reps(5)[0] if obx.reps(5) else []
    kind, subtype, encoding, data = (part(rep, c) for c in (2, 3, 4, 5))
    mime = ALIASES.get(f"{kind}/{subtype}".lower())
    if mime is None:
        raise error(ErrorCode.TABLE_VALUE_NOT_FOUND,
                    f"type de contenu « {kind}/{subtype} » non pris en charge (application/pdf ou CDA en text/xml)",
                    obx.loc(5, 1, 2))
    if encoding.lower() != "base64":
        raise error(ErrorCode.TABLE_VALUE_NOT_FOUND, f"encodage « {encoding} » non pris en charge (Base64 attendu)",
                    obx.loc(5, 1, 4))
    if not data:
        raise error(ErrorCode.REQUIRED_FIELD_MISSING, "contenu du document absent", obx.loc(5, 1, 5))
    try:
        content = base64.b64decode(re.sub(r"\s+", "", data), validate=True)
    except (binascii.Error, ValueError):
        raise error(ErrorCode.DATA_TYPE, "contenu base64 invalide", obx.loc(5, 1, 5)) from None
    if mime == PDF and not content.startswith(b"%PDF-"):
        raise error(ErrorCode.DATA_TYPE, "le contenu annoncé PDF n'est pas un PDF", obx.loc(5, 1, 5))
    if mime in XML_TYPES:
        _check_cda(content, obx.loc(5, 1, 5))
    return mime, content


def _check_cda(content: bytes, where: Location) -> None:
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        raise error(ErrorCode.DATA_TYPE, "document XML avec DTD refusé (un CDA n'en a pas)", where)
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError as exc:
        raise error(ErrorCode.DATA_TYPE, f"document XML illisible ({exc})", where) from None
    if root.tag != CDA_ROOT:
        raise error(ErrorCode.DATA_TYPE, f"document CDA attendu (racine ClinicalDocument), reçu « {root.tag} »", where)


def attachment(mime: str, content: bytes, url: str, title: str | None, created: str | None) -> dict:
    found = {"contentType": mime, "url": url, "size": len(content),
             "hash": base64.b64encode(hashlib.sha1(content).digest()).decode("ascii")}
    if title:
        found["title"] = title
    if created:
        found["creation"] = created
    return found


def binary(subject_source: str, mime: str, content: bytes, context: str) -> dict:
    return {"resourceType": "Binary", "meta": {"source": subject_source}, "contentType": mime,
            "securityContext": {"reference": context}, "data": base64.b64encode(content).decode("ascii")}


def _instant(segment: Seg, number: int, what: str) -> str | None:
    """A DocumentReference.date is an instant: a value without time is kept out of it."""
    value = fhir_datetime(segment.value(number), segment.loc(number), what)
    return value if value and "T" in value else None


def store_document(db: Session, inbound: Inbound) -> str:
    parsed = inbound.parsed
    txa = required(parsed.first("TXA"), "TXA", "document")
    number = txa.value(12)
    if not number:
        raise error(ErrorCode.REQUIRED_FIELD_MISSING, "numéro unique du document absent", txa.loc(12, 1, 1))
    kind = codeable(txa.reps(2)[0], "") if txa.reps(2) else None
    if kind is None:
        raise error(ErrorCode.REQUIRED_FIELD_MISSING, "type de document absent", txa.loc(2))
    contents = [obx for obx in parsed.all("OBX")]
    if not contents:
        raise error(ErrorCode.SEGMENT_SEQUENCE, "aucun segment OBX : le contenu du document manque", Location("OBX"))
    for obx in contents:
        if obx.value(2).upper() != "ED":
            raise error(ErrorCode.TABLE_VALUE_NOT_FOUND, f"type de valeur « {obx.value(2)} » : ED attendu", obx.loc(2))
    decoded = [decode_ed(obx) for obx in contents]  # every content checked before anything is written
    availability = txa.value(19).upper()
    completion = txa.value(17).upper()
    if availability not in AVAILABILITY:
        raise error(ErrorCode.TABLE_VALUE_NOT_FOUND, f"statut de disponibilité « {availability} » inconnu (table 0273)",
                    txa.loc(19))
    if completion and completion not in DOC_STATUS:
        raise error(ErrorCode.TABLE_VALUE_NOT_FOUND, f"statut du document « {completion} » inconnu (table 0271)",
                    txa.loc(17))

    subject = subject_of(db, inbound)
    kind = codeable(txa.reps(2)[0], subject.finess)
    fhir_id = stable_id(subject.finess, number)
    created = _instant(txa, 6, "date de création du document") or _instant(txa, 4, "date de l'acte")
    title = kind.get("text")
    document = {
        "resourceType": "DocumentReference", "meta": {"source": subject.source},
        "identifier": [{"system": f"urn:finess:{subject.finess}:document", "value": number}],
        "status": AVAILABILITY[availability],
    }
    if completion:
        document["docStatus"] = DOC_STATUS[completion]
    document.update({"type": kind, "subject": subject.reference})
    if created:
        document["date"] = created
    authors = [ref for rep in (txa.reps(9) or txa.reps(5)) if (ref := practitioner(db, rep, subject.finess))]
    if authors:
        document["author"] = authors
    document["custodian"] = subject.organization
    if title:
        document["description"] = title
    content = []
    for n, (mime, data) in enumerate(decoded, start=1):
        binary_id = fhir_id if n == 1 else stable_id(subject.finess, number, str(n))
        write(db, binary(subject.source, mime, data, f"DocumentReference/{fhir_id}"), binary_id, inbound,
              contents[n - 1].loc(5))
        content.append({"attachment": attachment(mime, data, f"Binary/{binary_id}", title, created)})
    document["content"] = content
    nda, _ = visit_number(parsed.first("PV1"))
    if nda:
        document["context"] = {"encounter": [{"reference": f"Encounter/{encounter_id(subject.finess, nda)}"}]}
    written = write(db, document, fhir_id, inbound, txa.loc(12))
    return f"document {fhir_id} v{written.version} ({len(content)} content)"


def register(registry: Registry) -> None:
    registry.add("MDM", ("T02",), store_document)
