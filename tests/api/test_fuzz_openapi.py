"""Fuzzing of the API from its OpenAPI schema (Schemathesis, issue 5): every operation of
/openapi.json, served by the real application on a loopback port, receives requests generated
from its schema (examples, coverage and fuzzing phases, valid and invalid inputs) from four
callers — anonymous, a clinician of the prepared patients' care team, a clinician outside it, and
a DSI administrator — and

- no answer is a 5xx, whoever asks;
- no answer to a caller without the right carries the prepared patients' data: not a line of
  the clinical record to the anonymous caller, the clinician outside the care team or the DSI,
  not a line of the identities to the anonymous caller or the DSI (a clinician reads the group's
  identity base). The data is recognised by marker values written into the record and the
  identities (`Markers`); a marker the request itself carried (an echo of the caller's input)
  is not a leak. The clinician of the care team must meet the clinical markers, and the
  clinician outside it the identity markers: the check would be void if the requests never
  reached the patients' data (`test_the_markers_are_seen_by_who_may_see_them`, and the count
  checked when the fuzzing ends).

The schema says little of the FHIR routes (their query and body are free FHIR): the test draws,
with Hypothesis too, FHIR search parameters, FHIR resources and the ids of the prepared patients
and resources into the requests, so that the generated traffic reaches the record rather than
stopping at 404s.

Budget: GHT_FUZZ_EXAMPLES examples per operation in the fuzzing phase (default 100, about two
minutes per backend on two cores), a fixed seed (GHT_FUZZ_SEED), Hypothesis derandomized, no
deadline, no example database: the same requests on every run, in CI too. A longer campaign:
GHT_FUZZ_EXAMPLES=1000 GHT_FUZZ_SEED=<n> pytest -m fuzz (docs/security.md, "Fuzzing of the API")."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import pytest
import schemathesis
from schemathesis.core import NotSet
from access.conftest import CH, CHU, territory  # noqa: F401 - the access tests' territory, as a fixture here
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from ght.record import store

# In the default run (`make test`, CI); `pytest -m fuzz` runs the fuzzing alone.
pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("GHT_FUZZ_EXAMPLES", "100"))
SEED = int(os.environ.get("GHT_FUZZ_SEED", "20261206"))

ANONYMOUS, INSIDER, OUTSIDER, DSI = None, "doc", "outsider", "dsi"
CALLERS = (ANONYMOUS, OUTSIDER, DSI, INSIDER)

# Marker values of the prepared patients' data (see the territory in tests/access/conftest.py).
# Identities: Marie's birth name and INS, her and Paul's birth dates, Paul's birth name.
IDENTITY_MARKERS = ("lefèvre", "lefevre", "2850349007123", "1985-03-14", "durand", "1962-11-02")
# Clinical record: the LOINC codes of the territory's results, and the texts of the results
# and the problem this test adds to Marie's record.
CLINICAL_TEXT = ("marqueur-clinique-fuzz-7f3a91", "probleme-fuzz-c04e27")
CLINICAL_MARKERS = ("2345-7", "2823-3", *CLINICAL_TEXT)
# What each caller may not be shown.
FORBIDDEN = {ANONYMOUS: IDENTITY_MARKERS + CLINICAL_MARKERS, DSI: IDENTITY_MARKERS + CLINICAL_MARKERS,
             OUTSIDER: CLINICAL_MARKERS, INSIDER: ()}

FHIR_TYPES = ("Observation", "Encounter", "Condition", "CareTeam", "Consent", "Patient", "DocumentReference",
              "DiagnosticReport", "Practitioner", "Organization", "AuditEvent", "Task")
SEARCH_NAMES = ("patient", "subject", "_id", "code", "date", "identifier", "status", "_count", "_offset", "_sort",
                "_include", "_revinclude", "_lastUpdated", "family", "given", "name", "birthdate", "gender",
                "encounter", "category", "_summary", "_elements", "_total", "subject:Patient", "code:text",
                "date:missing", "patient.identifier", "_format", "page")
# Operations that give the caller a right (a break-the-glass, the patient's consent): pointed at
# a patient without clinical data, so that the rights the fuzzing itself creates never make a
# later answer lawful.
CONFERRING = {("POST", "/api/access/break-glass"), ("POST", "/api/patients/{patient}/will")}


@dataclass
class FuzzWorld:
    """The live server, the tokens of the callers, the ids to steer requests to, and what the
    run met."""

    url: str
    headers: dict
    marie: str
    paul: str
    ids: list[str]  # local ids of identities and resources, as they appear in URLs
    patients: list[str]  # patient references accepted by the API
    identities: list[str]
    seen: dict = field(default_factory=lambda: {INSIDER: 0, OUTSIDER: 0})

    def leaks(self, caller, sent: str, answer: str) -> list[str]:
        """Markers in the answer that `caller` may not be shown and did not send itself."""
        answer, sent = answer.lower(), sent.lower()
        return [m for m in FORBIDDEN[caller] if m in answer and m not in sent]

    def count(self, caller, answer: str) -> None:
        """Note when the callers who may see the data do see it: the check's evidence that the
        requests reached it."""
        answer = answer.lower()
        if caller == INSIDER and any(m in answer for m in CLINICAL_MARKERS):
            self.seen[INSIDER] += 1
        if caller == OUTSIDER and any(m in answer for m in IDENTITY_MARKERS):
            self.seen[OUTSIDER] += 1


@pytest.fixture
def fuzz_world(territory, db):  # noqa: F811 - the fixture imported above
    t = territory
    system = store.WriteContext(actor="test")
    extra = [
        store.create(db, {"resourceType": "Observation", "status": "final", "meta": {"source": f"urn:finess:{CH}"},
                          "code": {"text": "note de suivi"}, "subject": {"reference": f"Patient/{t.marie_ch}"},
                          "valueString": CLINICAL_TEXT[0]}, system),
        store.create(db, {"resourceType": "Condition", "meta": {"source": f"urn:finess:{CHU}"},
                          "code": {"text": CLINICAL_TEXT[1]}, "subject": {"reference": f"Patient/{t.marie_chu}"}},
                     system),
    ]
    db.commit()
    headers = {None: {}}
    for username in (INSIDER, OUTSIDER, DSI):
        client = t.client(username)  # logs in (POST /auth/token)
        headers[username] = {"Authorization": client.headers["Authorization"]}
        client.close()
    ids = [str(t.marie_chu), str(t.marie_ch), str(t.paul_chu), t.stay_ch, t.result_ch, t.result_chu,
           *(r.body["id"] for r in extra)]
    patients = [t.marie, t.paul, f"Patient/{t.marie_chu}", f"Patient/{t.marie_ch}", f"Patient/{t.paul_chu}"]
    return FuzzWorld(t.server.url, headers, t.marie, t.paul, ids, patients,
                     [str(t.marie_chu), str(t.marie_ch), str(t.paul_chu)])


@pytest.fixture
def api_schema(fuzz_world, request):
    # Schemathesis 4.32 renames the test node by its `_nodeid`, an attribute pytest 9.2 no
    # longer has (its node ids are structured now): give it one, so that the renaming is harmless.
    request.node._nodeid = request.node.nodeid
    config = schemathesis.Config.from_dict({"seed": SEED, "generation": {"database": "none"}})
    schema = schemathesis.openapi.from_url(f"{fuzz_world.url}/openapi.json", config=config)
    yield schema
    # The evidence that the checks of the run were not void (see the module's docstring).
    assert fuzz_world.seen[INSIDER] > 0, "le soignant de l'équipe n'a jamais reçu le dossier : fuzzing sans portée"
    assert fuzz_world.seen[OUTSIDER] > 0, "le soignant hors équipe n'a jamais reçu une identité : fuzzing sans portée"


schema = schemathesis.pytest.from_fixture("api_schema")

# Steering: path parameters by name, to the ids of the prepared data (or left as generated).
_SMALL_IDS = ("1", "2", "3")


def _path_pool(name: str, world: FuzzWorld) -> list[str] | None:
    if name == "resource_type":
        return list(FHIR_TYPES)
    if name in ("fhir_id", "resource_id"):
        return world.ids
    if name in ("patient", "patient_id"):
        return world.patients
    if name == "identity_id":
        return world.identities
    if name in ("version", "version_id"):
        return ["1", "2"]
    if name in ("finess", "group_id"):
        return [CHU, CH]
    if name in ("job_id", "event_id", "item_id", "declaration_id", "grant_id"):
        return list(_SMALL_IDS)
    return None


def _search_value(world: FuzzWorld):
    return st.one_of(st.sampled_from(world.patients + world.ids + [f"Observation/{world.ids[4]}", "2345-7",
                                                                   "ge2026-01-01", "http://loinc.org|2345-7",
                                                                   "Observation:subject", "-date", "0", "10"]),
                     st.text(max_size=30))


def _resource(world: FuzzWorld, resource_type: str | None):
    """A FHIR resource, about a prepared patient or not, with free fields."""
    free = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                        max_leaves=8)
    subject = st.sampled_from(world.patients[2:] + ["Patient/999999", "Patient/abc"]).map(lambda r: {"reference": r})
    return st.fixed_dictionaries(
        {"resourceType": st.sampled_from([resource_type] if resource_type else FHIR_TYPES) | st.text(max_size=12)},
        optional={"subject": subject, "patient": subject, "status": st.sampled_from(["final", "active"]) | st.text(max_size=10),
                  "code": st.fixed_dictionaries({"text": st.text(max_size=20)}), "id": st.sampled_from(world.ids),
                  "meta": st.fixed_dictionaries({"source": st.sampled_from([f"urn:finess:{CHU}", f"urn:finess:{CH}"])}),
                  "name": st.lists(st.fixed_dictionaries({"family": st.text(max_size=12)}), max_size=2),
                  "extra": free})


# Characters a database refuses or a parser trips on, put now and then into generated strings
# (Hypothesis's own text rarely holds them within the budget): NUL, which PostgreSQL text
# cannot hold, a control character, a lone combining mark, a right-to-left mark; in a JSON body
# also a lone surrogate (sent as the escape "\\ud800": UTF-8, hence a URL or a form, cannot carry it).
HOSTILE = ("\x00", "\x07", "\u0301", "\u200f")
HOSTILE_IN_JSON = (*HOSTILE, "\ud800")


def _sharpen(value, data, hostile=HOSTILE):
    """`value` with, now and then, a hostile character in one of its strings."""
    if isinstance(value, str):
        choice = data.draw(st.integers(0, 2 * len(hostile)))
        return value if choice >= len(hostile) else value[:1] + hostile[choice] + value[1:]
    if isinstance(value, dict):
        return {k: _sharpen(v, data, hostile) for k, v in value.items()}
    if isinstance(value, list):
        return [_sharpen(v, data, hostile) for v in value]
    return value


def _steer(case, data, world: FuzzWorld) -> dict:
    """Point the generated request at the prepared data, and add the FHIR query and body the
    schema does not describe; returns the transport arguments to add (the FHIR body)."""
    key = (case.method.upper(), case.path)
    for name in list(case.path_parameters or {}):
        pool = _path_pool(name, world)
        if pool and data.draw(st.integers(0, 3)) < 3:  # three times in four: a prepared id
            case.path_parameters[name] = data.draw(st.sampled_from(pool))
    if key in CONFERRING:
        if "patient" in (case.path_parameters or {}):
            case.path_parameters["patient"] = world.paul
        if isinstance(case.body, dict) and "patient" in case.body:
            case.body["patient"] = world.paul
    extra: dict = {}
    if isinstance(case.body, (dict, list)):
        sharp = _sharpen(case.body, data, HOSTILE_IN_JSON if (case.media_type or "").endswith("json") else HOSTILE)
        if "\\ud800" in json.dumps(sharp):
            # Schemathesis re-validates the case's body, which a surrogate fails to encode: the
            # body is sent as the escaped JSON text instead (the transport's data wins over json).
            extra["content"] = json.dumps(sharp).encode()
            extra["headers"] = {"Content-Type": case.media_type}
        else:
            case.body = sharp
    if case.query:
        case.query = _sharpen(case.query, data)
    if case.path.startswith("/fhir") and case.method.upper() in ("GET", "PUT", "DELETE"):
        query = dict(case.query or {})
        query.update(data.draw(st.dictionaries(st.sampled_from(SEARCH_NAMES) | st.text(max_size=10),
                                               _search_value(world), max_size=4)))
        case.query = query
    if case.path.startswith("/fhir") and case.method.upper() in ("POST", "PUT") and isinstance(case.body, NotSet):
        resource_type = (case.path_parameters or {}).get("resource_type")
        if case.path.startswith("/fhir/Patient"):
            resource_type = "Patient"
        if case.path == "/fhir":
            body = data.draw(st.fixed_dictionaries({
                "resourceType": st.just("Bundle"), "type": st.sampled_from(["transaction", "batch"]) | st.text(max_size=8),
                "entry": st.lists(st.fixed_dictionaries({"resource": _resource(world, None),
                                                         "request": st.fixed_dictionaries({
                                                             "method": st.sampled_from(["POST", "PUT"]),
                                                             "url": st.sampled_from(FHIR_TYPES)})}), max_size=2)}))
        else:
            body = data.draw(_resource(world, resource_type))
        extra["content"] = json.dumps(body).encode()
        extra["headers"] = {"Content-Type": "application/fhir+json"}
    return extra


def _sent(case, extra: dict) -> str:
    """The request as text (path, query, headers, body), to tell an echo from a leak."""
    parts = [case.formatted_path, json.dumps(case.query, default=str, ensure_ascii=False),
             json.dumps(case.path_parameters, default=str, ensure_ascii=False),
             json.dumps(case.body, default=str, ensure_ascii=False), extra.get("content", b"").decode(errors="replace")]
    return " ".join(parts)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@schema.parametrize()
@schema.given(data=st.data())
def test_fuzz_openapi(case, data, fuzz_world):
    extra = _steer(case, data, fuzz_world)
    sent = _sent(case, extra)
    for caller in CALLERS:
        headers = {**fuzz_world.headers[caller], **extra.get("headers", {})}
        kwargs = {"data": extra["content"]} if "content" in extra else {}
        response = case.call(headers=headers, **kwargs)
        answer = response.text + " " + json.dumps(dict(response.headers))
        where = f"{case.method.upper()} {case.formatted_path} par {caller or 'anonyme'}"
        assert response.status_code < 500, f"{where} : {response.status_code}\n{response.text[:2000]}"
        leaks = fuzz_world.leaks(caller, sent, answer)
        assert not leaks, f"{where} : données montrées sans droit ({leaks}) ; statut {response.status_code}\n{answer[:2000]}"
        fuzz_world.count(caller, answer)


def test_the_markers_are_seen_by_who_may_see_them(fuzz_world):
    """The leak check is not void: the markers are in the answers of the callers who may see them,
    and the check flags the same answers when a caller without the right gets them."""
    import httpx

    with httpx.Client(base_url=fuzz_world.url, timeout=15) as http:
        record = http.get("/fhir/Observation", params={"patient": fuzz_world.patients[2]},
                          headers=fuzz_world.headers[INSIDER])
        identity = http.get(f"/fhir/Patient/{fuzz_world.identities[0]}", headers=fuzz_world.headers[OUTSIDER])
        refused = http.get("/fhir/Observation", params={"patient": fuzz_world.patients[2]},
                           headers=fuzz_world.headers[OUTSIDER])
    assert record.status_code == 200 and identity.status_code == 200
    assert CLINICAL_TEXT[0] in record.text and "2345-7" in record.text
    assert fuzz_world.leaks(OUTSIDER, "", record.text) and fuzz_world.leaks(DSI, "", identity.text)
    assert not fuzz_world.leaks(OUTSIDER, "", identity.text)
    assert refused.status_code == 403 and not fuzz_world.leaks(OUTSIDER, "", refused.text)
    # An echo of the caller's own input is not a leak.
    assert not fuzz_world.leaks(DSI, "Lefèvre", '{"detail": "aucun patient « Lefèvre »"}')
