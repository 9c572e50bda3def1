"""FHIR R4 interface of ght (REST under /fhir): validation with fhir.resources (R4B, the
nearest to R4 for these resources), errors as OperationOutcome, FR Core mappings."""
