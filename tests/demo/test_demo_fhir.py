"""Generated FHIR resources validate with a FHIR model library; references resolve; PDFs are
well-formed."""

from __future__ import annotations

import base64
import csv
import re
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

from ght.demo import GeneratorConfig, generate
from ght.demo.pdf import render
from ght.identity.ins import INS_NIR_DEMO_SYSTEM

TYPES = ("Patient", "Encounter", "Observation", "DiagnosticReport", "ImagingStudy",
         "DocumentReference", "Organization", "Location", "Practitioner", "Endpoint")
ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
SAMPLE = 150  # resources of each type validated with the model library


@pytest.fixture(scope="module")
def territory(tmp_path_factory) -> tuple[Path, dict[str, list[dict]]]:
    out = tmp_path_factory.mktemp("fhir")
    generate(GeneratorConfig(patients=400, seed=3, workers=1), out)
    resources = {}
    for rtype in TYPES:
        lines = (out / "fhir" / f"{rtype}.ndjson").read_bytes().splitlines()
        resources[rtype] = [orjson.loads(line) for line in lines]
    return out, resources


@pytest.mark.parametrize("rtype", TYPES)
def test_resources_validate(territory, rtype: str) -> None:
    _, resources = territory
    items = resources[rtype]
    assert items, rtype
    model = get_fhir_model_class(rtype)
    step = max(1, len(items) // SAMPLE)
    for resource in items[::step]:
        model.model_validate(resource)  # raises on any invalid element


def test_ids_and_references(territory) -> None:
    _, resources = territory
    known = set()
    for rtype, items in resources.items():
        ids = [r["id"] for r in items]
        assert len(ids) == len(set(ids)), rtype
        for rid in ids:
            assert ID.fullmatch(rid), rid
            known.add(f"{rtype}/{rid}")

    def walk(node, found):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "reference":
                    found.append(value)
                else:
                    walk(value, found)
        elif isinstance(node, list):
            for value in node:
                walk(value, found)

    for rtype, items in resources.items():
        for resource in items:
            found: list[str] = []
            walk(resource, found)
            for reference in found:
                assert reference in known, (rtype, resource["id"], reference)


def test_every_resource_names_its_source_establishment(territory) -> None:
    _, resources = territory
    for rtype in ("Patient", "Encounter", "Observation", "DiagnosticReport", "ImagingStudy",
                  "DocumentReference"):
        for resource in resources[rtype]:
            finess = resource["id"].split("-")[0]
            assert resource["meta"]["source"] == f"urn:finess:{finess}"
            systems = [i["system"] for i in resource["identifier"]]
            assert any(s.startswith(f"urn:finess:{finess}:") for s in systems), systems
            if rtype != "Patient":
                assert resource["subject"]["reference"].startswith(f"Patient/{finess}-")


def test_patients_match_identities_csv(territory) -> None:
    out, resources = territory
    with (out / "identities.csv").open(encoding="utf-8", newline="") as handle:
        rows = {f"{r['source']}-{r['local_id']}": r for r in csv.DictReader(handle)}
    assert set(rows) == {p["id"] for p in resources["Patient"]}
    for patient in resources["Patient"]:
        row = rows[patient["id"]]
        ipp = patient["identifier"][0]
        assert ipp["type"]["coding"][0]["code"] == "PI"
        assert ipp["system"] == f"urn:finess:{row['source']}:ipp" and ipp["value"] == row["local_id"]
        ins = [i["value"] for i in patient["identifier"] if i["system"] == INS_NIR_DEMO_SYSTEM]
        assert ins == ([row["ins"]] if row["ins"] else [])
        official, usual = patient["name"]
        assert official["use"] == "official" and official["family"] == row["birth_name"]
        assert usual["use"] == "usual" and usual["family"] == row["used_name"]
        assert official["extension"][0]["valueString"] == row["given_names"]
        assert patient["birthDate"] == row["birth_date"]
        assert patient["gender"] == {"M": "male", "F": "female"}[row["sex"]]


def test_lab_results_use_loinc_and_ucum(territory) -> None:
    _, resources = territory
    codes = defaultdict(set)
    for obs in resources["Observation"]:
        coding = obs["code"]["coding"][0]
        assert coding["system"] == "http://loinc.org"
        quantity = obs["valueQuantity"]
        assert quantity["system"] == "http://unitsofmeasure.org"
        codes[coding["code"]].add(quantity["unit"])
    for expected in ("718-7", "2160-0", "2823-3", "2951-2", "2345-7", "1988-5", "777-3", "6690-2"):
        assert expected in codes, expected
    assert codes["2160-0"] == {"mg/L"} and codes["2823-3"] == {"mmol/L"}
    panels = {r["code"]["coding"][0]["code"] for r in resources["DiagnosticReport"]}
    assert {"58410-2", "51990-0", "18748-4"} <= panels


def test_imaging_points_to_the_site_pacs(territory) -> None:
    _, resources = territory
    endpoints = {f"Endpoint/{e['id']}" for e in resources["Endpoint"]}
    for study in resources["ImagingStudy"]:
        assert study["endpoint"][0]["reference"] in endpoints
        assert study["identifier"][0]["value"].startswith("urn:oid:2.25.")
        assert study["numberOfInstances"] == sum(s["numberOfInstances"] for s in study["series"])


def _check_pdf(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-1.4\n")
    assert pdf.endswith(b"%%EOF\n")
    startxref = int(pdf[pdf.rindex(b"startxref\n") + 10:].split(b"\n")[0])
    assert pdf[startxref:].startswith(b"xref\n0 7\n")
    entries = pdf[startxref:].split(b"\n")[2:9]
    assert entries[0] == b"0000000000 65535 f "
    for number, entry in enumerate(entries[1:], start=1):
        assert len(entry) + 1 == 20  # fixed-size xref entries
        offset = int(entry[:10])
        assert pdf[offset:].startswith(b"%d 0 obj\n" % number), number
    stream_start = pdf.index(b"stream\n") + 7
    length = int(re.search(rb"/Length (\d+)", pdf).group(1))
    assert pdf[stream_start + length:].startswith(b"\nendstream")


def test_pdf_structure() -> None:
    pdf = render("COMPTE RENDU", ["Patient : LEFÈVRE Hélène (née le 01/02/1950)", "a \\ b", ""])
    _check_pdf(pdf)
    assert "LEFÈVRE Hélène \\(née le 01/02/1950\\)".encode("cp1252") in pdf


def test_documents_embed_valid_pdfs(territory) -> None:
    _, resources = territory
    types = set()
    for doc in resources["DocumentReference"]:
        types.add(doc["type"]["coding"][0]["code"])
        attachment = doc["content"][0]["attachment"]
        assert attachment["contentType"] == "application/pdf"
        pdf = base64.b64decode(attachment["data"])
        assert attachment["size"] == len(pdf)
        _check_pdf(pdf)
        ipp = doc["subject"]["reference"].split("-")[1]
        assert f"IPP : {ipp}".encode() in pdf
    assert {"11490-0", "11488-4", "18748-4"} <= types
