"""A NUL character in a request of the JSON API (/api) is refused with a 400 that says so,
before any route (ght.api.nul): found by fuzzing (tests/api/test_fuzz_openapi.py), a NUL in a
break-the-glass reason or in the note of a patient's will reached PostgreSQL, whose text and
JSONB cannot hold it, and answered 500. The same requests without the NUL still reach the route,
their body intact."""

from __future__ import annotations

from access.conftest import territory  # noqa: F401 - the access tests' territory, as a fixture here

URL = {"detail": "caractère NUL interdit dans l'URL"}
BODY = {"detail": "caractère NUL (\\u0000) interdit dans le corps de la requête"}


def test_nul_in_a_json_body_is_refused_saying_why(territory):  # noqa: F811
    doc = territory.client("doc")
    glass = doc.post("/api/access/break-glass", json={"patient": territory.paul, "reason": "arrêt\x00cardiaque"})
    will = doc.post(f"/api/patients/{territory.paul}/will", json={"kind": "opposition", "note": "refus\x00"})
    raw = doc.post("/api/access/break-glass", content=b'{"patient": "x", "reason": "a\x00b"}',
                   headers={"Content-Type": "application/json"})
    kept = doc.post("/api/access/break-glass", json={"patient": territory.paul, "reason": "arrêt cardiaque"})
    assert (glass.status_code, glass.json()) == (400, BODY)
    assert (will.status_code, will.json()) == (400, BODY)
    assert (raw.status_code, raw.json()) == (400, BODY)
    assert kept.status_code == 201 and kept.json()["reason"] == "arrêt cardiaque"


def test_nul_in_an_api_url_is_refused_saying_why(territory):  # noqa: F811
    iv = territory.client("iv")
    query = iv.get("/api/identity/review", params={"status": "open\x00"})
    path = iv.get("/api/identity/patients/AB%00CD")
    plain = iv.get("/api/identity/review")
    assert (query.status_code, query.json()) == (400, URL)
    assert (path.status_code, path.json()) == (400, URL)
    assert plain.status_code == 200
