"""Text no column can hold, in a request of the JSON API (/api), is refused with a 400 that
says so, before any route (ght.api.edge): found by fuzzing (tests/api/test_fuzz_openapi.py), a
NUL in a break-the-glass reason or in the note of a patient's will reached PostgreSQL, whose text
and JSONB cannot hold it (500), and a lone surrogate escape ("\\ud800") crashed the encoding of
the answer (500, or a dropped connection). The same requests without them still reach the route,
their body intact."""

from __future__ import annotations

from access.conftest import territory  # noqa: F401 - the access tests' territory, as a fixture here

URL = {"detail": "caractère NUL interdit dans l'URL"}
BODY = {"detail": "caractère NUL (\\u0000) interdit dans le corps de la requête"}
SURROGATE = {"detail": "demi-paire de substitution UTF-16 isolée (\\ud800 à \\udfff), qui n'est pas un caractère, "
                       "interdite dans le corps de la requête"}


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


def test_lone_surrogate_in_a_json_body_is_refused_saying_why(territory):  # noqa: F811
    doc = territory.client("doc")
    json_headers = {"Content-Type": "application/json"}
    glass = doc.post("/api/access/break-glass", headers=json_headers,
                     content=b'{"patient": "%s", "reason": "arr\\ud800t"}' % territory.paul.encode())
    will = doc.post(f"/api/patients/{territory.paul}/will", headers=json_headers,
                    content=b'{"kind": "consent", "note": "\\udc00"}')
    # A pair is a character (here U+1F691, an ambulance): it passes.
    body = '{"patient": "%s", "reason": "arrêt cardiaque, SAMU \\ud83d\\ude91"}' % territory.marie
    paired = doc.post("/api/access/break-glass", headers=json_headers, content=body.encode())
    assert (glass.status_code, glass.json()) == (400, SURROGATE)
    assert (will.status_code, will.json()) == (400, SURROGATE)
    assert paired.status_code == 201 and paired.json()["reason"] == "arrêt cardiaque, SAMU \U0001F691"


def test_nul_in_a_web_form_or_page_url_is_refused_saying_why(territory):  # noqa: F811
    """The web pages store what their forms send (a break-the-glass reason, a vigilance motive)
    and search with what their URLs carry: the same edge refuses NUL there."""
    outsider = territory.browser("outsider")
    glass = outsider.post(f"/patients/{territory.paul}/bris-de-glace",
                          data={"motif": "arrêt\x00cardiaque au SAU", "csrf_token": outsider.csrf})
    search = territory.browser("doc").get("/patients", params={"nom": "MART\x00IN"})
    kept = outsider.post(f"/patients/{territory.paul}/bris-de-glace",
                         data={"motif": "arrêt cardiaque au SAU", "csrf_token": outsider.csrf})
    assert (glass.status_code, glass.json()) == (400, BODY)
    assert (search.status_code, search.json()) == (400, URL)
    assert kept.status_code == 303
