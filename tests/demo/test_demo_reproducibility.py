"""Same configuration, same bytes: whatever the number of worker processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ght.demo import GeneratorConfig, IdentityErrorRates, generate

PATIENTS = 1100  # more than two chunks of 500, so that two workers share the work


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict[str, bytes]]:
    results = {}
    for name, seed, workers in (("one", 42, 1), ("two", 42, 2), ("other_seed", 43, 1)):
        out = tmp_path_factory.mktemp(name)
        progress: list[tuple[int, int]] = []

        def report(done: int, total: int, calls: list[tuple[int, int]] = progress) -> None:
            calls.append((done, total))

        territory = generate(GeneratorConfig(patients=PATIENTS, seed=seed, workers=workers), out,
                             progress=report)
        assert territory.person_count == PATIENTS
        assert progress[0] == (0, PATIENTS) and progress[-1] == (PATIENTS, PATIENTS)
        assert [d for d, _ in progress] == sorted(d for d, _ in progress)
        results[name] = _files(out)
    return results


def test_same_seed_same_bytes_whatever_the_workers(runs) -> None:
    one, two = runs["one"], runs["two"]
    assert sorted(one) == sorted(two)
    assert "fhir/Observation.ndjson" in one and "fhir/DocumentReference.ndjson" in one
    for name in one:
        assert one[name] == two[name], name
    assert not any(name.startswith(".parts") for name in two)  # worker part files removed


def test_other_seed_other_persons(runs) -> None:
    one, other = runs["one"], runs["other_seed"]
    for name in ("identities.csv", "ground_truth.csv", "persons.csv", "fhir/Patient.ndjson",
                 "fhir/Observation.ndjson"):
        assert one[name] != other[name], name
    # The directory does not depend on the seed (stable demo accounts).
    for name in ("fhir/Organization.ndjson", "fhir/Practitioner.ndjson", "fhir/Location.ndjson"):
        assert one[name] == other[name], name


def test_identities_do_not_depend_on_clinical_data(runs, tmp_path) -> None:
    generate(GeneratorConfig(patients=PATIENTS, seed=42, workers=1, clinical=False), tmp_path)
    for name in ("identities.csv", "ground_truth.csv", "persons.csv"):
        assert (tmp_path / name).read_bytes() == runs["one"][name], name
    assert not (tmp_path / "fhir" / "Observation.ndjson").exists()


def test_manifest_counts_the_records(runs) -> None:
    files = runs["one"]
    manifest = json.loads(files["manifest.json"])
    assert manifest["seed"] == 42 and manifest["patients"] == PATIENTS
    assert manifest["as_of"] == "2025-01-01"
    assert manifest["rates"]["typo"] == 0.03
    for name, count in manifest["files"].items():
        lines = files[name].decode("utf-8").splitlines()
        header = 1 if name.endswith(".csv") else 0
        assert len(lines) - header == count, name
    assert manifest["persons"] == PATIENTS
    for name, data in files.items():
        assert b"\r" not in data, name
        data.decode("utf-8")


def test_configuration_is_checked() -> None:
    with pytest.raises(ValueError):
        GeneratorConfig(patients=-1)
    with pytest.raises(ValueError):
        GeneratorConfig(workers=0)
    with pytest.raises(ValueError):
        IdentityErrorRates(typo=1.5)
