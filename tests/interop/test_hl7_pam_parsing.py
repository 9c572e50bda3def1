"""Reading PAM FR messages: MSH and charsets, PID to identity inputs, MRG for A40/A47, and the
precise location of every refusal. No database here."""

from datetime import date

import pytest

from ght.interop.hl7v2 import pam
from ght.interop.hl7v2.ack import ErrorCode, Hl7Error
from ght.interop.hl7v2.message import Unreadable, parse, read
from interop.hl7_samples import CH, CHU, INS_MARIE, INS_PAUL, a28, message, mrg, msh, pid


def identity(raw: bytes | str):
    parsed = read(raw if isinstance(raw, bytes) else raw.encode("utf-8"))
    return pam.identity_from(parsed)


def refusal(raw: str, reader=pam.identity_from) -> Hl7Error:
    with pytest.raises(Hl7Error) as caught:
        reader(read(raw.encode("utf-8")))
    return caught.value


def unreadable(data: bytes) -> Unreadable:
    with pytest.raises(Unreadable) as caught:
        read(data)
    return caught.value


def test_a28_with_qualified_ins_gives_every_trait():
    parsed = read(a28("MSG0001"))
    assert parsed.header.message_type == "ADT^A28"
    assert parsed.header.control_id == "MSG0001"
    assert parsed.header.version == "2.5"
    assert parsed.codec == "utf-8"
    data = pam.identity_from(parsed).data
    assert (data.finess, data.ipp) == (CHU, "100234")
    assert data.birth_name == "DUPONT"
    assert data.given_names == "Marie Hélène Anne"
    assert (data.used_name, data.used_given_name) == ("MARTIN", "Marie")
    assert data.birth_date == date(1955, 8, 14)
    assert data.sex == "F"
    assert data.birth_place == "49007"
    assert (data.address, data.postcode, data.city) == ("12 rue des Lices", "49100", "ANGERS")
    assert data.phone == "0241000000"  # the e-mail repetition is not a phone
    assert (data.ins, data.ins_oid) == (INS_MARIE, "1.2.250.1.213.1.4.11")
    assert (data.status, data.flags) == ("QUAL", ())


def test_a31_update_with_status_and_attributes_and_no_ins():
    raw = message("A31", "MSG0002", pid(ins=None, status="PROV~DOUT~HOMD", names="DUPONT^Marie^^^^^L"))
    data = identity(raw).data
    assert (data.status, data.flags) == ("PROV", ("DOUT", "HOMD"))
    assert (data.ins, data.ins_oid, data.used_name) == ("", "", "")
    assert data.given_names == "Marie"


@pytest.mark.parametrize("event", ["A01", "A04", "A05", "A08"])
def test_admissions_carry_the_identity(event):
    parsed = read(message(event, f"ADM-{event}", pid(ipp="555")).encode())
    assert parsed.header.trigger_event == event
    assert pam.identity_from(parsed).data.ipp == "555"
    assert parsed.first("PV1") is not None


def test_base_hl7_given_names_and_finess_from_msh4_and_latin1():
    # An older sender: XPN.3 holds only the further given names, CX.4 has no FINESS, 8859/1.
    raw = (msh("A28", "OLD1", charset="8859/1", facility=f"CHU_ANGERS^{CHU}^M") + "\r"
           "PID|1||77^^^GAM_CHU^PI||LEGOFF^Anne^Sophie Hélène^^^^L||19700102|F\r")
    parsed = read(raw.encode("latin-1"))
    assert parsed.codec == "cp1252"  # 8859/1 as Windows senders write it
    result = pam.identity_from(parsed)
    assert result.data.given_names == "Anne Sophie Hélène"
    assert result.data.finess == CHU
    assert result.locations["finess"].erl() == "MSH^1^4"


def test_without_msh18_utf8_then_latin1():
    raw = msh("A28", "NOCS", charset="") + "\rPID|1||7^^^X&" + CHU + "&M^PI||LÉON^Zoé^^^^^L\r"
    assert pam.identity_from(read(raw.encode("utf-8"))).data.birth_name == "LÉON"
    latin = read(raw.encode("latin-1"))
    assert latin.codec == "cp1252"
    assert pam.identity_from(latin).data.given_names == "Zoé"


def test_8859_1_senders_writing_windows_1252():
    raw = message("A28", "W1", pid(names="CŒUR^Lœtitia^^^^^L"), charset="8859/1")
    assert identity(raw.encode("cp1252")).data.given_names == "Lœtitia"
    undefined = unreadable(raw.encode("cp1252").replace(b"\x8c", b"\x81"))  # 0x8C is Œ; 0x81 is undefined
    assert "0x81" in undefined.error.message and undefined.error.location.erl() == "PID^1^5"


def test_shared_gam_with_several_ipps_takes_the_one_of_msh4():
    segment = (f"PID|1||900^^^CH_CHOLET&{CH}&M^PI~100234^^^CHU_ANGERS&{CHU}&M^PI~{INS_PAUL}^^^"
               "ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||MARTIN^Paul^^^^^L||19800117|M")
    data = identity(message("A28", "M2", segment)).data
    assert (data.finess, data.ipp, data.ins_oid) == (CHU, "100234", "1.2.250.1.213.1.4.8")
    error = refusal(message("A28", "M3", segment, facility="GAM_GHT"))
    assert error.code == ErrorCode.TABLE_VALUE_NOT_FOUND and error.location.erl() == "PID^1^3"


def test_escaped_delimiters_are_unescaped():
    raw = message("A28", "ESC", pid(names="D\\T\\ANGELO^Luc^^^^^L", address="1 rue A\\S\\B^^NANTES^^44000^^H"))
    data = identity(raw).data
    assert data.birth_name == "D&ANGELO"
    assert data.address == "1 rue A^B"


@pytest.mark.parametrize(
    ("changes", "erl", "code", "words"),
    [
        ({"birth_date": "1955-08-14"}, "PID^1^7", 102, "date de naissance invalide"),
        ({"birth_date": "195508"}, "PID^1^7", 102, "incomplète"),
        ({"birth_date": "19550231"}, "PID^1^7", 102, "impossible"),
        ({"birth_date": "29990101"}, "PID^1^7", 102, "futur"),
        ({"sex": "X"}, "PID^1^8", 103, "sexe"),
        ({"names": "MARTIN^Marie^^^^^D"}, "PID^1^5", 101, "nom de naissance"),
        ({"names": ""}, "PID^1^5", 101, "nom du patient"),
        ({"status": "VALI~QUAL"}, "PID^1^32", 103, "plusieurs statuts"),
        ({"ipp": "X" * 41}, "PID^1^3^1^1", 102, "IPP trop long"),
    ],
)
def test_pid_refusals_point_at_the_field(changes, erl, code, words):
    error = refusal(message("A28", "BAD", pid(**changes)))
    assert (error.location.erl(), int(error.code), error.ack_code) == (erl, code, "AE")
    assert words in error.message


def test_missing_ipp_points_at_pid3():
    error = refusal(message("A28", "NOIPP", f"PID|1||{INS_MARIE}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS"
                                           "||DUPONT^Marie^^^^^L"))
    assert error.location.erl() == "PID^1^3"
    assert error.code == ErrorCode.REQUIRED_FIELD_MISSING
    assert "IPP (PID-3) absent" in error.message
    error = refusal(message("A28", "NOPID3", "PID|1||||DUPONT^Marie^^^^^L"))
    assert error.location.erl() == "PID^1^3"


def test_unknown_ins_authority_and_missing_finess():
    error = refusal(message("A28", "OID", "PID|1||1^^^X&" + CHU + "&M^PI~" + INS_MARIE
                            + "^^^INS-C&1.2.250.1.213.1.4.2&ISO^INS||A^B^^^^^L"))
    assert error.location.erl() == "PID^1^3^2^4"
    assert "autorité d'affectation de l'INS" in error.message
    error = refusal(message("A28", "NOFINESS", "PID|1||1^^^GAM^PI||A^B^^^^^L", facility="CHU_ANGERS"))
    assert error.location.erl() == "PID^1^3^1^4"
    assert "FINESS" in error.message


def test_missing_pid_segment():
    raw = msh("A28", "NOPID") + "\rEVN||20240301\r"
    error = refusal(raw)
    assert (error.code, error.location.erl()) == (ErrorCode.SEGMENT_SEQUENCE, "PID^1")


def test_a40_reads_every_patient_group():
    raw = message("A40", "MRG1", pid(ipp="100"), mrg("200"), pid(ipp="300", sequence=2), mrg("400"))
    merges = pam.merges_from(read(raw.encode()))
    assert [(m.finess, m.surviving_ipp, m.retired_ipp) for m in merges] == [(CHU, "100", "200"), (CHU, "300", "400")]
    assert merges[1].locations["retired_ipp"].erl() == "MRG^2^1^1^1"
    assert merges[1].locations["ipp"].erl() == "PID^2^3^1^1"


def test_a40_refusals():
    missing = refusal(message("A40", "MRG2", pid(ipp="100")), pam.merges_from)
    assert (missing.code, missing.location.erl()) == (ErrorCode.SEGMENT_SEQUENCE, "PID^1")
    other = refusal(message("A40", "MRG3", pid(ipp="100"), mrg("200", finess=CH)), pam.merges_from)
    assert other.location.erl() == "MRG^1^1^1^4"
    assert "autre établissement" in other.message
    empty = refusal(message("A40", "MRG4", pid(ipp="100"), "MRG|"), pam.merges_from)
    assert empty.location.erl() == "MRG^1^1"


def test_a47_new_ipp_in_pid3_old_in_mrg1():
    change = pam.change_from(read(message("A47", "CHG1", pid(ipp="NEW-1"), mrg("OLD-1")).encode()))
    assert (change.finess, change.old_ipp, change.new_ipp) == (CHU, "OLD-1", "NEW-1")
    assert change.locations["new_ipp"].erl() == "PID^1^3^1^1"
    assert change.locations["retired_ipp"].erl() == "MRG^1^1^1^1"


# --------------------------------------------------------------------------- unreadable messages


def test_no_msh_is_refused_with_segment_sequence_error():
    problem = unreadable(b"PID|1||100234^^^X^PI\r")
    assert (problem.error.ack_code, problem.error.code) == ("AR", ErrorCode.SEGMENT_SEQUENCE)
    assert "doit commencer par le segment MSH" in problem.error.message
    assert unreadable(b"   \r\n").error.message == "message vide"


def test_wrong_encoding_characters():
    raw = a28("ENC1").replace(b"MSH|^~\\&|", b"MSH|^~^&|")
    problem = unreadable(raw)
    assert problem.error.location.erl() == "MSH^1^2"
    assert problem.header.control_id == "ENC1"  # still read, for MSA-2
    assert unreadable(a28("ENC2").replace(b"MSH|^~\\&|", b"MSH|^~|")).error.location.erl() == "MSH^1^2"


def test_invalid_utf8_bytes_with_declared_utf8():
    raw = a28("UTF1").replace("Hélène".encode(), "Hélène".encode("latin-1"))
    problem = unreadable(raw)
    assert problem.error.location.erl() == "MSH^1^18"
    assert "octet 0xE9 invalide en UNICODE UTF-8" in problem.error.message
    assert problem.header.control_id == "UTF1"
    assert "\\xe9" in problem.text  # kept, visibly


def test_unknown_charset_and_control_characters():
    problem = unreadable(a28("CS1").replace(b"UNICODE UTF-8", b"UNICODE UTF-16"))
    assert (problem.error.code, problem.error.location.erl()) == (ErrorCode.TABLE_VALUE_NOT_FOUND, "MSH^1^18")
    problem = unreadable(a28("CTL1").replace(b"DUPONT", b"DUP\x00ONT"))
    assert problem.error.location.erl() == "PID^1^5"
    assert "0x00" in problem.error.message


def test_header_required_fields_and_second_msh():
    assert unreadable(a28("").replace(b"|ADT_A05||P|", b"|ADT_A05||P|")).error.location.erl() == "MSH^1^10"
    no_type = a28("T1").replace(b"ADT^A28^ADT_A05", b"")
    assert unreadable(no_type).error.location.erl() == "MSH^1^9"
    double = a28("D1") + a28("D2")
    assert "second segment MSH" in unreadable(double).error.message


def test_parse_accepts_lf_line_endings_and_blank_lines():
    text = message("A28", "LF1", pid()).replace("\r", "\n\n")
    assert pam.identity_from(parse(text)).data.ipp == "100234"
