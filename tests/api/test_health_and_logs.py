"""Health endpoint, OpenAPI docs served without a CDN, one JSON log line per request."""

import json
import logging


def test_health_reports_database_and_schema(live_server):
    with live_server.client() as http:
        response = http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["schema"] == body["expected_schema"] is not None


def test_openapi_docs_are_served_from_the_package(live_server):
    with live_server.client() as http:
        docs = http.get("/docs")
        assert docs.status_code == 200
        assert "cdn" not in docs.text.lower()
        for url in ("/static-offline-docs/swagger-ui-bundle.js", "/static-offline-docs/swagger-ui.css"):
            assert http.get(url).status_code == 200
        schema = http.get("/openapi.json").json()
        assert "/auth/token" in schema["paths"] and "/health" in schema["paths"]


def test_one_json_log_line_per_request_with_its_id(live_server, capfd):
    from ght import logs

    logs.configure("INFO", json_lines=True)
    try:
        with live_server.client() as http:
            first = http.get("/health")
            second = http.get("/health", headers={"X-Request-ID": "proxy-abc-123"})
    finally:
        logging.getLogger().handlers[:] = []
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["event"] == "request"]
    assert [line["request_id"] for line in requests] == [first.headers["x-request-id"], "proxy-abc-123"]
    assert requests[0]["path"] == "/health" and requests[0]["status"] == 200
    assert requests[0]["method"] == "GET" and requests[0]["duration_ms"] >= 0


def test_every_answer_says_the_servers_own_time(live_server):
    with live_server.client() as http:
        for response in (http.get("/health"), http.get("/"), http.get("/fhir/metadata")):
            name, _, duration = response.headers["server-timing"].partition(";dur=")
            assert name == "app" and float(duration) >= 0, response.headers["server-timing"]


def test_liveness_answers_without_the_database(live_server, engine):
    from sqlalchemy import event

    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with live_server.client() as http:
        response = http.get("/health/live")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert statements == []
