"""Interoperability feeds: HL7 v2 over MLLP (hl7v2/), FHIR later."""
