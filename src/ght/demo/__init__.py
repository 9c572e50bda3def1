"""Synthetic territory generator (`ght demo generate`): a fictional GHT of Maine-et-Loire.

    from ght.demo import GeneratorConfig, generate
    territory = generate(GeneratorConfig(patients=2000, seed=42), "var/demo")

Output folder (UTF-8, "\\n" line ends; see docs/demo-territory.md):

    identities.csv      one row per local identity, as each establishment recorded it:
                        source,local_id,birth_name,used_name,given_names,birth_date,sex,
                        birth_place,ins,address,postcode,city,phone
    ground_truth.csv    source,local_id,person_id,identity_status,errors,homonym_of
                        (errors: ";"-separated ght.demo.config.ErrorCode values)
    persons.csv         the true persons (civil-register traits, NIR), by person_id
    fhir/<Type>.ndjson  FHIR R4 resources, one file per type (bulk-data style): Patient,
                        Encounter, Observation, DiagnosticReport, ImagingStudy,
                        DocumentReference, and the directory's Organization, Location,
                        Practitioner, Endpoint
    manifest.json       seed, patients, as_of, rates, record counts per file

The same (patients, seed, as_of, rates, homonym_pairs) gives byte-identical files,
whatever the number of worker processes.
"""

from ght.demo.config import ErrorCode, GeneratorConfig, IdentityErrorRates
from ght.demo.generator import generate

__all__ = ["ErrorCode", "GeneratorConfig", "IdentityErrorRates", "generate"]
