"""ACK building: MSH of the answer, MSA-1/MSA-2, ERR-2/3/4/8, escaping and charsets."""

import hl7

from ght.interop.hl7v2.ack import (
    AckHeader,
    ErrorCode,
    Hl7Error,
    Location,
    ack_charset,
    build_ack,
    encode,
    escape,
    reject,
)
from ght.interop.hl7v2.message import read, rough_header
from interop.hl7_samples import CHU, a28, ack_fields

HEADER = AckHeader(
    sending_application=("GAM_CHU",), sending_facility=("CHU_ANGERS", CHU, "M"),
    receiving_application=("GHT_MPI",), receiving_facility=("GHT",),
    message_code="ADT", trigger_event="A28", control_id="MSG0001", processing_id="P",
)


def test_aa_answers_the_sender_with_its_control_id():
    ack = hl7.parse(build_ack(HEADER, "AA"))
    msh = ack.segment("MSH")
    assert str(msh(3)) == "GHT_MPI" and str(msh(4)) == "GHT"
    assert str(msh(5)) == "GAM_CHU" and str(msh(6)) == f"CHU_ANGERS^{CHU}^M"
    assert str(msh(9)) == "ACK^A28^ACK"
    assert str(msh(10)) and str(msh(10)) != "MSG0001"
    assert (str(msh(11)), str(msh(12)), str(msh(18))) == ("P", "2.5", "UNICODE UTF-8")
    assert len(str(msh(7))) == 19  # YYYYMMDDHHMMSS+ZZZZ
    assert str(ack.segment("MSA")) == "MSA|AA|MSG0001"
    assert [str(segment[0]) for segment in ack] == ["MSH", "MSA"]


def test_ae_names_the_field_code_and_reason_in_french():
    error = Hl7Error(ErrorCode.DATA_TYPE, "date de naissance invalide « 1955-08-14 »", Location("PID", 1, 7))
    text = build_ack(HEADER, "AE", error)
    fields = ack_fields(text)
    assert fields == {
        "msa1": "AE", "msa2": "MSG0001", "err2": "PID^1^7", "err3": "102", "err4": "E",
        "err8": "PID-7 : date de naissance invalide « 1955-08-14 »",
    }
    err = hl7.parse(text).segment("ERR")
    assert str(err(3)) == "102^Data type error^HL70357"
    assert str(hl7.parse(text).segment("MSA")(3)).startswith("PID-7 : date")


def test_component_location_and_repetition_label():
    error = Hl7Error(ErrorCode.UNKNOWN_KEY, "établissement inconnu", Location("PID", 2, 3, 2, 4))
    fields = ack_fields(build_ack(HEADER, "AE", error))
    assert fields["err2"] == "PID^2^3^2^4"
    assert fields["err8"] == "PID(2)-3[2].4 : établissement inconnu"
    assert Location("MRG", 1, 1, None, 1).erl() == "MRG^1^1^1^1"


def test_ar_for_a_message_too_broken_to_parse():
    data = a28("BROKEN7").replace(b"MSH|^~\\&|", b"MSH|^~^&|")
    error = reject(ErrorCode.DATA_TYPE, "séparateurs invalides", Location("MSH", 1, 2))
    fields = ack_fields(build_ack(rough_header(data.decode("latin-1")), "AR", error))
    assert (fields["msa1"], fields["msa2"], fields["err2"]) == ("AR", "BROKEN7", "MSH^1^2")
    nothing = ack_fields(build_ack(AckHeader(), "AR", reject(ErrorCode.SEGMENT_SEQUENCE, "message vide")))
    assert (nothing["msa1"], nothing["msa2"], nothing["err3"]) == ("AR", "", "100")


def test_delimiters_in_texts_and_values_are_escaped():
    header = AckHeader(control_id="A|B^C", sending_application=("X&Y",), trigger_event="A28")
    error = Hl7Error(ErrorCode.DATA_TYPE, "valeur « a|b^c~d\\e&f » refusée\nsur deux lignes")
    text = build_ack(header, "AE", error)
    ack = hl7.parse(text)
    assert ack.unescape(str(ack.segment("MSA")(2))) == "A|B^C"
    assert ack_fields(text)["err8"] == "valeur « a|b^c~d\\e&f » refusée sur deux lignes"
    assert escape("a|b") == "a\\F\\b"


def test_ack_charset_follows_the_message():
    assert ack_charset("latin-1") == "8859/1"
    assert ack_charset("utf-8") == ack_charset("ascii") == "UNICODE UTF-8"
    error = Hl7Error(ErrorCode.UNKNOWN_KEY, "établissement inconnu du GHT")
    latin = build_ack(HEADER, "AE", error, charset="8859/1")
    assert "établissement".encode("latin-1") in encode(latin)
    ascii_ack = build_ack(HEADER, "AE", Hl7Error(ErrorCode.UNKNOWN_KEY, "établissement œuvre"), charset="")
    assert b"etablissement ?uvre" in encode(ascii_ack)


def test_ack_of_a_parsed_message_roundtrip():
    parsed = read(a28("RT1"))
    text = build_ack(parsed.header, "AA", charset=ack_charset(parsed.codec))
    assert ack_fields(encode(text)) == {"msa1": "AA", "msa2": "RT1"}
