"""Documents (MDM^T02, PDF or CDA in an ED OBX) into DocumentReference and Binary on a real
database: the bytes kept exactly, the references between them, repeats, and refusals of bad
content located at OBX-5."""

import base64
import hashlib

import pytest
from fhir.resources.R4B.binary import Binary
from fhir.resources.R4B.documentreference import DocumentReference
from sqlalchemy import func, select

from ght.identity.models import LocalIdentity
from ght.record import search, store
from ght.record.models import Resource
from interop.hl7_samples import (  # noqa: F401  (feed: a fixture)
    feed,
    send,
    CHU,
    MINIMAL_CDA,
    MINIMAL_PDF,
    RPPS_DUVAL,
    ed,
    mdm,
    txa,
    xcn,
)

DOCUMENT_ID = f"{CHU}-DOC-42"


def read(db, resource_type: str, fhir_id: str) -> dict:
    db.expire_all()
    return store.read(db, resource_type, fhir_id).body


def test_a_pdf_becomes_a_binary_and_its_document_reference(feed, db):
    raw = mdm("D-1", txa("DOC-42", author=xcn(RPPS_DUVAL, "DUVAL", "Jean")), ed(MINIMAL_PDF))
    assert send(feed, raw) == {"msa1": "AA", "msa2": "D-1"}
    binary = read(db, "Binary", DOCUMENT_ID)
    Binary.model_validate(binary)
    assert binary["contentType"] == "application/pdf"
    assert base64.b64decode(binary["data"]) == MINIMAL_PDF
    assert binary["securityContext"] == {"reference": f"DocumentReference/{DOCUMENT_ID}"}
    document = read(db, "DocumentReference", DOCUMENT_ID)
    DocumentReference.model_validate(document)
    identity = db.scalar(select(LocalIdentity.id).where(LocalIdentity.ipp == "100234"))
    assert document["subject"] == {"reference": f"Patient/{identity}"}
    assert document["identifier"] == [{"system": f"urn:finess:{CHU}:document", "value": "DOC-42"}]
    assert (document["status"], document["docStatus"], document["date"]) == (
        "current", "final", "2024-03-05T16:00:00+01:00")
    assert document["type"]["coding"][0] == {"system": "http://loinc.org", "code": "11490-0",
                                             "display": "Compte rendu d'hospitalisation"}
    assert document["author"][0]["reference"] == f"Practitioner/pr-{RPPS_DUVAL}"
    assert document["custodian"]["reference"] == f"Organization/ej-{CHU}"
    assert document["context"] == {"encounter": [{"reference": f"Encounter/{CHU}-NDA001"}]}
    [content] = document["content"]
    assert content["attachment"] == {
        "contentType": "application/pdf", "url": f"Binary/{DOCUMENT_ID}", "size": len(MINIMAL_PDF),
        "hash": base64.b64encode(hashlib.sha1(MINIMAL_PDF).digest()).decode(),
        "title": "Compte rendu d'hospitalisation", "creation": "2024-03-05T16:00:00+01:00"}
    query = search.compile_query(db, "DocumentReference", [("patient", str(identity)), ("type", "http://loinc.org|11490-0"),
                                                           ("encounter", f"Encounter/{CHU}-NDA001")], lenient=False)
    assert search.run(db, query)[0] == 1


def test_a_cda_document_and_a_repeat(feed, db):
    raw = mdm("D-2", txa("DOC-42", kind="34874-8^Compte rendu opératoire^LN", completion="IP"),
              ed(MINIMAL_CDA, kind="text", subtype="xml"), nda=None)
    assert send(feed, raw)["msa1"] == "AA"
    document = read(db, "DocumentReference", DOCUMENT_ID)
    DocumentReference.model_validate(document)
    assert document["content"][0]["attachment"]["contentType"] == "text/xml"
    assert document["docStatus"] == "preliminary" and "context" not in document
    assert base64.b64decode(read(db, "Binary", DOCUMENT_ID)["data"]) == MINIMAL_CDA
    # Sent again under another control id: the same resources, no new version.
    again = raw.replace(b"|D-2|", b"|D-3|")
    assert send(feed, again)["msa1"] == "AA"
    assert read(db, "DocumentReference", DOCUMENT_ID)["meta"]["versionId"] == "1"
    assert read(db, "Binary", DOCUMENT_ID)["meta"]["versionId"] == "1"
    # The final version of the same document updates both.
    final = mdm("D-4", txa("DOC-42", kind="34874-8^Compte rendu opératoire^LN", completion="LA"),
                ed(MINIMAL_CDA.replace("opératoire".encode(), "opératoire final".encode()),
                   kind="text", subtype="xml"), nda=None)
    assert send(feed, final)["msa1"] == "AA"
    assert read(db, "DocumentReference", DOCUMENT_ID)["docStatus"] == "final"
    assert b"final" in base64.b64decode(read(db, "Binary", DOCUMENT_ID)["data"])
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Resource)) == 2


def test_bad_content_is_refused_at_obx_5_and_nothing_is_written(feed, db):
    pdf = base64.b64encode(MINIMAL_PDF).decode()
    cases = [
        (ed("JVBERi0x!!!"), "OBX^1^5^1^5", "102", "base64 invalide"),
        (ed(MINIMAL_PDF, subtype="msword"), "OBX^1^5^1^2", "103", "application/msword"),
        (ed(MINIMAL_PDF, encoding="Hex"), "OBX^1^5^1^4", "103", "Base64 attendu"),
        (ed(b"hello, not a pdf"), "OBX^1^5^1^5", "102", "n'est pas un PDF"),
        (ed(b"<html/>", kind="text", subtype="xml"), "OBX^1^5^1^5", "102", "ClinicalDocument"),
        (ed(b'<!DOCTYPE x [<!ENTITY a "aaaa">]><ClinicalDocument xmlns="urn:hl7-org:v3">&a;</ClinicalDocument>',
            kind="text", subtype="xml"), "OBX^1^5^1^5", "102", "DTD"),
        (f"OBX|1|TX|X^Texte^L||{pdf}||||||F", "OBX^1^2", "103", "ED attendu"),
    ]
    for number, (content, erl, code, words) in enumerate(cases, start=1):
        fields = send(feed, mdm(f"E-{number}", txa("DOC-42"), content))
        assert (fields["msa1"], fields["err2"], fields["err3"]) == ("AE", erl, code), fields
        assert words in fields["err8"]
    fields = send(feed, mdm("E-20", txa(""), ed(MINIMAL_PDF)))
    assert (fields["msa1"], fields["err2"], fields["err3"]) == ("AE", "TXA^1^12^1^1", "101")
    fields = send(feed, mdm("E-21", ed(MINIMAL_PDF)))
    assert (fields["msa1"], fields["err2"], fields["err3"]) == ("AE", "TXA^1", "100")
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Resource)) == 0
