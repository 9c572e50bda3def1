"""The read by id's lean path (ght.interop.fhir.hot_path, PostgreSQL) answers as the
application's route does: the same body and headers, the same OperationOutcome errors, the
same trace; a token the process has not checked yet, or another request, goes on to the
application. On SQLite the application's route answers every read, and the same checks hold."""

from sqlalchemy import func, select

from ght.audit.models import AuditEntry
from ght.directory.vocab import Role
from ght.identity import service
from ght.identity.ins import nir_with_key
from ght.interop.fhir import hot_path
from ght.record.patient_search import patient_search
from support import PASSWORD, add_establishments, grant_record, marie

CHU = "490000031"
FHIR = {"Content-Type": "application/fhir+json"}


def _token(http, username):
    return http.post("/auth/token", data={"username": username, "password": PASSWORD}).json()["access_token"]


def _accounts(db, make_account) -> None:
    """The two establishments; `doc` of the CHU, with a grant to every record; `outsider`, without."""
    chu, _ = add_establishments(db, CHU, "490000049")
    doc = make_account("doc", roles=(Role.CLINICIAN,))
    make_account("outsider", roles=(Role.CLINICIAN,))
    doc.establishment_id = chu.id
    db.commit()
    grant_record(db, doc)


def test_hot_read_answers_as_the_route(live_server, db, engine, make_account, monkeypatch):
    _accounts(db, make_account)
    identity = service.record_identity(db, marie(CHU), actor="t", channel="api")
    db.commit()
    served = []
    original = hot_path.read_answer

    async def counted(*args):
        served.append(args[2:])
        return await original(*args)

    monkeypatch.setattr(hot_path, "read_answer", counted)
    postgres = engine.dialect.name == "postgresql"
    with live_server.client() as http:
        headers = {"Authorization": f"Bearer {_token(http, 'doc')}", **FHIR}
        created = http.post("/fhir/Observation", headers=headers, json={
            "resourceType": "Observation", "status": "final", "code": {"text": "glycémie"},
            "subject": {"reference": f"Patient/{identity.identity_id}"}})
        assert created.status_code == 201
        fhir_id = created.json()["id"]
        entries = db.scalar(select(func.count()).select_from(AuditEntry))
        first = http.get(f"/fhir/Observation/{fhir_id}", headers=headers)  # the token was checked by the POST
        second = http.get(f"/fhir/Observation/{fhir_id}", headers=headers)
        assert served == ([("Observation", fhir_id)] * 2 if postgres else [])
        for answer in (first, second):
            assert answer.status_code == 200 and answer.json() == created.json()
            assert answer.headers["content-type"] == "application/fhir+json"
            for name in ("etag", "last-modified", "location"):
                assert answer.headers[name] == first.headers[name] == created.headers[name]
            assert answer.headers["x-request-id"] and answer.headers["server-timing"].startswith("app;dur=")
        assert db.scalar(select(func.count()).select_from(AuditEntry)) == entries + 2  # one entry per read
        not_modified = http.get(f"/fhir/Observation/{fhir_id}", headers={**headers, "If-None-Match": first.headers["etag"]})
        assert not_modified.status_code == 304
        unknown = http.get("/fhir/Observation/unknown-id", headers=headers)
        assert unknown.status_code == 404 and unknown.json()["resourceType"] == "OperationOutcome"
        assert http.delete(f"/fhir/Observation/{fhir_id}", headers=headers).status_code == 204
        gone = http.get(f"/fhir/Observation/{fhir_id}", headers=headers)
        assert gone.status_code == 410 and gone.json()["issue"][0]["code"] == "deleted"
        # A bad token is the application's: 401 with its challenge.
        anonymous = http.get(f"/fhir/Observation/{fhir_id}", headers={"Authorization": "Bearer nope"})
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
        # A refusal of the policy: 403 OperationOutcome, traced as denied, on either path.
        other = {"Authorization": f"Bearer {_token(http, 'outsider')}", **FHIR}
        kept = http.post("/fhir/Observation", headers=headers, json={
            "resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "subject": {"reference": f"Patient/{identity.identity_id}"}}).json()["id"]
        before = len(served)
        for _ in range(2):  # the first checks the new token (the application), the second is the hot path's
            refused = http.get(f"/fhir/Observation/{kept}", headers=other)
            assert refused.status_code == 403 and refused.json()["issue"][0]["code"] == "forbidden"
        assert len(served) == before + (1 if postgres else 0)
        denied = db.scalars(select(AuditEntry).where(AuditEntry.account == "outsider", AuditEntry.outcome == "denied")).all()
        assert len(denied) == 2 and all(f"Observation/{kept}" in e.resources for e in denied)


def test_hot_search_by_patient_answers_as_the_general_search(live_server, db, engine, make_account, monkeypatch):
    """Every answer of the common form by patient (ght.record.patient_search) is the general
    search's, compared with the lean path turned off: pages, totals, links, a deleted resource
    left out, a patient known by two establishments, an unknown one, a refusal."""
    _accounts(db, make_account)
    at_chu = service.record_identity(db, marie(CHU, ins=nir_with_key("2850349007123"), status="QUAL"), actor="t",
                                     channel="api")
    at_ch = service.record_identity(db, marie("490000049", ipp="M-9", ins=nir_with_key("2850349007123"),
                                              status="QUAL"), actor="t", channel="api")
    db.commit()
    assert at_chu.patient_id == at_ch.patient_id
    served = []
    original = hot_path.search_answer

    async def counted(*args):
        served.append(args[2])
        return await original(*args)

    monkeypatch.setattr(hot_path, "search_answer", counted)
    with live_server.client() as http:
        headers = {"Authorization": f"Bearer {_token(http, 'doc')}", **FHIR}
        ids = []
        for n, identity in enumerate([at_chu.identity_id, at_ch.identity_id] * 4):
            answer = http.post("/fhir/Observation", headers=headers, json={
                "resourceType": "Observation", "status": "final", "code": {"text": f"n{n}"},
                "subject": {"reference": f"Patient/{identity}"}})
            ids.append(answer.json()["id"])
        assert http.delete(f"/fhir/Observation/{ids[3]}", headers=headers).status_code == 204
        queries = [f"patient={at_chu.identity_id}", f"patient=Patient/{at_ch.identity_id}&_count=3",
                   f"subject=Patient/{at_chu.patient_id}&_count=3&_offset=3", f"patient={at_chu.patient_id}&_offset=6",
                   f"_count=2&patient={at_chu.identity_id}&_offset=20", "patient=999999", "patient=Patient/ZZZZZZZZZZZZ"]

        def both(query, token_headers):
            served.clear()
            hot = http.get(f"/fhir/Observation?{query}", headers=token_headers)
            hot_served = len(served)
            monkeypatch.setattr(hot_path, "patient_search", lambda *a: None)
            general = http.get(f"/fhir/Observation?{query}", headers=token_headers)
            monkeypatch.setattr(hot_path, "patient_search", patient_search)
            return hot, general, hot_served

        postgres = engine.dialect.name == "postgresql"
        for query in queries:
            hot, general, hot_served = both(query, headers)
            assert hot_served == (1 if postgres and "ZZZ" not in query else 0), query
            assert hot.status_code == general.status_code == 200, query
            assert hot.json() == general.json(), query
            assert hot.headers["content-type"] == general.headers["content-type"]
        page = http.get(f"/fhir/Observation?patient={at_chu.identity_id}&_count=3", headers=headers).json()
        assert page["total"] == 7 and len(page["entry"]) == 3 and ids[3] not in str(page)
        other = {"Authorization": f"Bearer {_token(http, 'outsider')}", **FHIR}
        http.get("/fhir/Observation/none", headers=other)  # its token checked: the lean path may answer it
        hot, general, hot_served = both(f"patient={at_chu.identity_id}", other)
        assert hot.status_code == general.status_code == 403 and hot.json() == general.json()
        denied = db.scalars(select(AuditEntry).where(AuditEntry.account == "outsider", AuditEntry.outcome == "denied",
                                                     AuditEntry.action == "search")).all()
        assert len(denied) == 2


