"""One decision point for every door: every route of the application (from its OpenAPI schema
and the web router) refuses an anonymous caller and a caller outside the care team (or without
the route's role, where the route is about no patient), and each allowed access leaves exactly
one trace entry per patient it shows or changes. A route added without its case here fails
(the routes come from the OpenAPI schema and the web routers, which stay out of it)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from support import last_entries, trace_count

from ght.web import dim as web_dim
from ght.web import oidc as web_oidc
from ght.web import pages
from ght.web import patients as web_patients
from ght.web import vigilance as web_vigilance

CHU, CH = "490000031", "490000049"  # as in conftest.py

PUBLIC = {
    ("GET", "/health"), ("GET", "/health/live"), ("GET", "/fhir/metadata"), ("POST", "/auth/token"),
    # The web routers: the landing page with its login form, login, logout and the OpenID
    # Connect login show no patient data.
    ("GET", "/"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/auth/oidc/login"), ("GET", "/auth/oidc/callback"),
}


@dataclass
class Case:
    method: str
    url: str | Callable  # a URL, or a function of the territory (and the state) giving it
    allowed: str  # the account the access is allowed to
    outsider: str | None  # outside the care team, or without the route's role; None: no such caller
    json: object = None
    params: dict | None = None
    headers: dict = field(default_factory=dict)
    traced: int | Callable = 1  # entries the allowed access leaves (a function of the answer's JSON)
    status: tuple[int, ...] = (200, 201)
    why_untraced: str = ""  # when traced == 0: why the route accesses no patient data
    form: dict | Callable | None = None  # a web form (the CSRF token is added): the case is a web page's
    web: bool = False  # a web page: a browser's session cookie; anonymous is sent to the login page


def _observation(patient) -> dict:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "poids"},
            "subject": {"reference": f"Patient/{patient}"}, "valueQuantity": {"value": 70, "unit": "kg"}}


def _marie_fhir(t, ipp: str, finess: str = CHU) -> dict:
    return {"resourceType": "Patient",
            "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PI"}]},
                            "system": f"urn:finess:{finess}:ipp", "value": ipp}],
            "name": [{"use": "official", "family": "MARTIN", "given": ["Marie"]}],
            "gender": "female", "birthDate": "1985-03-12"}


def _patients_in(answer: dict) -> int:
    """Distinct GHT patients an identity-vigilance answer shows (one trace entry each)."""
    found = set()

    def walk(value):
        if isinstance(value, dict):
            if "patient_id" in value and "ipp" in value:
                found.add(value["patient_id"])
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
    walk(answer)
    return max(1, len(found))  # a listing that shows no one is traced as itself


def _patients_on_page(page: str) -> int:
    """Distinct GHT patients an identity-vigilance page shows (its identities carry
    data-patient): one trace entry each, or one for a page that shows no one."""
    return max(1, len(set(re.findall(r'data-patient="([^"]+)"', page))))


def cases(t, state) -> dict[tuple[str, str], Case]:
    asynchronous = {"Prefer": "respond-async", "Accept": "application/fhir+json"}
    return {
        # ---- the shared record
        ("GET", "/fhir/{resource_type}"): Case("GET", "/fhir/Observation", "doc", "outsider",
                                               params={"patient": t.marie_chu}),
        ("POST", "/fhir/{resource_type}"): Case("POST", "/fhir/Observation", "doc", "gp.expired",
                                                json=_observation(t.marie_chu)),
        ("PUT", "/fhir/{resource_type}"): Case("PUT", "/fhir/Observation?identifier=urn:t%7C1", "doc", "gp.expired",
                                               json={**_observation(t.marie_chu),
                                                     "identifier": [{"system": "urn:t", "value": "1"}]}),
        ("GET", "/fhir/{resource_type}/{fhir_id}"): Case("GET", f"/fhir/Observation/{t.result_ch}", "doc", "outsider"),
        ("PUT", "/fhir/{resource_type}/{fhir_id}"): Case(
            "PUT", f"/fhir/Observation/{t.result_chu}", "doc", "gp.expired",
            json={**_observation(t.marie_chu), "id": t.result_chu}),
        ("DELETE", "/fhir/{resource_type}/{fhir_id}"): Case(
            "DELETE", lambda t, s: f"/fhir/Observation/{s['spare']}", "doc", "gp.expired", status=(204,)),
        ("GET", "/fhir/{resource_type}/_history"): Case("GET", "/fhir/Encounter/_history", "doc", "dsi"),
        ("GET", "/fhir/{resource_type}/{fhir_id}/_history/{version}"): Case(
            "GET", f"/fhir/Observation/{t.result_ch}/_history/1", "doc", "outsider"),
        ("GET", "/fhir/{resource_type}/{fhir_id}/_history"): Case(
            "GET", f"/fhir/Observation/{t.result_ch}/_history", "doc", "outsider"),
        ("POST", "/fhir"): Case("POST", "/fhir", "doc", "gp.expired", json={
            "resourceType": "Bundle", "type": "transaction", "entry": [
                {"resource": _observation(t.marie_chu), "request": {"method": "POST", "url": "Observation"}}]}),
        ("GET", "/fhir/Patient/{resource_id}/$everything"): Case(
            "GET", f"/fhir/Patient/{t.marie}/$everything", "doc", "outsider"),
        # ---- bulk export (under an explicit grant to every record: `dim` holds one here)
        ("GET", "/fhir/$export"): Case("GET", "/fhir/$export", "dim", "doc", headers=asynchronous, status=(202,),
                                       traced=1),
        ("POST", "/fhir/$export"): Case("POST", "/fhir/$export", "dim", "doc", headers=asynchronous, status=(202,),
                                        json={"resourceType": "Parameters", "parameter": [
                                            {"name": "_type", "valueString": "Encounter"}]}),
        ("GET", "/fhir/Patient/$export"): Case("GET", "/fhir/Patient/$export", "dim", "doc", headers=asynchronous,
                                               status=(202,)),
        ("POST", "/fhir/Patient/$export"): Case("POST", "/fhir/Patient/$export", "dim", "doc", headers=asynchronous,
                                                status=(202,), json={"resourceType": "Parameters", "parameter": []}),
        ("GET", "/fhir/Group/{group_id}/$export"): Case("GET", f"/fhir/Group/{CH}/$export", "dim", "doc",
                                                        headers=asynchronous, status=(202,)),
        ("POST", "/fhir/Group/{group_id}/$export"): Case("POST", f"/fhir/Group/{CH}/$export", "dim", "doc",
                                                         headers=asynchronous, status=(202,),
                                                         json={"resourceType": "Parameters", "parameter": []}),
        ("GET", "/fhir/$export-status/{job_id}"): Case(
            "GET", lambda t, s: s["job_status"], "dim", "doc", traced=0, status=(200,),
            why_untraced="the job's state: what it exported is traced by the job, patient by patient"),
        ("GET", "/fhir/$export-file/{job_id}/{name}"): Case("GET", lambda t, s: s["job_file"], "dim", "doc",
                                                            status=(200,)),
        ("DELETE", "/fhir/$export-status/{job_id}"): Case(
            "DELETE", lambda t, s: s["job_status"], "dim", "doc", traced=0, status=(202,),
            why_untraced="removing one's own export files shows nothing"),
        # ---- identities (FHIR Patient)
        ("GET", "/fhir/Patient"): Case("GET", "/fhir/Patient", "doc", "dsi", params={"family": "MARTIN"}),
        ("POST", "/fhir/Patient"): Case("POST", "/fhir/Patient", "desk", "doc", json=_marie_fhir(t, "NEW-1", CH)),
        ("PUT", "/fhir/Patient"): Case("PUT", f"/fhir/Patient?identifier=urn:finess:{CHU}:ipp%7CNEW-2", "desk", "doc",
                                       json=_marie_fhir(t, "NEW-2")),
        ("GET", "/fhir/Patient/$ihe-pix"): Case("GET", "/fhir/Patient/$ihe-pix", "doc", "dsi", params={
            "sourceIdentifier": f"urn:finess:{CH}:ipp|M-9"}),
        ("POST", "/fhir/Patient/$match"): Case("POST", "/fhir/Patient/$match", "doc", "dsi", json={
            "resourceType": "Parameters", "parameter": [{"name": "resource", "resource": {
                "resourceType": "Patient", "name": [{"family": "MARTIN", "given": ["Marie"]}], "gender": "female",
                "birthDate": "1985-03-12"}}]}, traced=lambda answer: len(answer["entry"])),
        ("GET", "/fhir/Patient/{resource_id}"): Case("GET", f"/fhir/Patient/{t.marie_chu}", "doc", "dsi"),
        ("PUT", "/fhir/Patient/{resource_id}"): Case(
            "PUT", lambda t, s: f"/fhir/Patient/{s['new_identity']}", "desk", "doc",
            json=lambda t, s: {**_marie_fhir(t, "NEW-1", CH), "id": s["new_identity"], "gender": "female",
                               "telecom": [{"system": "phone", "value": "0241000000"}]}),
        ("DELETE", "/fhir/Patient/{resource_id}"): Case(
            "DELETE", f"/fhir/Patient/{t.marie_chu}", "desk", "doc", status=(405,), traced=0,
            why_untraced="not supported (a merge retires an identity): nothing is accessed"),
        ("GET", "/fhir/Patient/{resource_id}/_history/{version_id}"): Case(
            "GET", f"/fhir/Patient/{t.marie_chu}/_history/1", "doc", "dsi"),
        ("GET", "/fhir/Patient/{resource_id}/_history"): Case("GET", f"/fhir/Patient/{t.marie_chu}/_history", "doc",
                                                              "dsi"),
        # ---- account
        ("GET", "/api/me"): Case("GET", "/api/me", "doc", None, traced=0,
                                 why_untraced="the caller's own account, no patient data"),
        # ---- identity vigilance
        ("GET", "/api/identity/review"): Case("GET", "/api/identity/review", "iv", "doc", traced=_patients_in),
        ("POST", "/api/identity/review/{item_id}"): Case(
            "POST", lambda t, s: f"/api/identity/review/{s['review_item']}", "iv", "doc",
            json={"decision": "distinct"}, traced=_patients_in),
        ("GET", "/api/identity/patients/{patient_id}"): Case("GET", f"/api/identity/patients/{t.marie}", "iv", "doc"),
        ("POST", "/api/identity/identities/{identity_id}/link"): Case(
            "POST", lambda t, s: f"/api/identity/identities/{s['other_identity']}/link", "iv", "doc",
            json=lambda t, s: {"patient_id": s["kept_patient"], "reason": "même personne"}, traced=2),
        ("POST", "/api/identity/identities/{identity_id}/unlink"): Case(
            "POST", lambda t, s: f"/api/identity/identities/{s['other_identity']}/unlink", "iv", "doc",
            json={"reason": "vérification"}, traced=2),
        ("POST", "/api/identity/patients/{patient_id}/merge"): Case(
            "POST", lambda t, s: f"/api/identity/patients/{s['kept_patient']}/merge", "iv", "doc",
            json=lambda t, s: {"absorbed": s["unlinked_patient"], "reason": "doublon"}, traced=2),
        ("POST", "/api/identity/merges/{event_id}/unmerge"): Case(
            "POST", lambda t, s: f"/api/identity/merges/{s['merge_event']}/unmerge", "iv", "doc",
            json={"reason": "erreur"}, traced=2),
        ("GET", "/api/identity/collisions"): Case("GET", "/api/identity/collisions", "iv", "doc", traced=_patients_in),
        ("GET", "/api/identity/reports/duplicates/{finess}"): Case(
            "GET", f"/api/identity/reports/duplicates/{CHU}", "iv", "doc", traced=_patients_in),
        # ---- access
        # Anyone may ask why they may or may not see a record (the answer is about themselves).
        ("GET", "/api/patients/{patient}/access"): Case("GET", f"/api/patients/{t.marie}/access", "doc", None),
        ("GET", "/api/patients/{patient}/will"): Case("GET", f"/api/patients/{t.marie}/will", "doc", "outsider"),
        ("POST", "/api/patients/{patient}/will"): Case("POST", f"/api/patients/{t.marie}/will", "doc", "gp.expired",
                                                       json={"kind": "consent", "practitioners": ["10000000013"]}),
        ("GET", "/api/patients/{patient}/access-log"): Case("GET", f"/api/patients/{t.marie}/access-log", "doc",
                                                            "outsider"),
        ("POST", "/api/access/break-glass"): Case("POST", "/api/access/break-glass", "outsider", "dsi",
                                                  json={"patient": t.paul, "reason": "détresse respiratoire aiguë"}),
        ("GET", "/api/access/break-glass"): Case("GET", "/api/access/break-glass", "dpo", "doc"),
        ("POST", "/api/access/break-glass/{declaration_id}/review"): Case(
            "POST", lambda t, s: f"/api/access/break-glass/{s['declaration']}/review", "dpo", "doc",
            json={"verdict": "justified"}),
        ("GET", "/api/access/grants"): Case("GET", "/api/access/grants", "dpo", "doc"),
        ("POST", "/api/access/grants"): Case("POST", "/api/access/grants", "dpo", "doc",
                                             json={"username": "nurse.ch", "kind": "sensitive", "days": 1,
                                                   "reason": "suivi"}),
        ("DELETE", "/api/access/grants/{grant_id}"): Case(
            "DELETE", lambda t, s: f"/api/access/grants/{s['grant']}", "dpo", "doc", status=(204,)),
        # ---- the web pages (ght.web.patients): a session cookie, forms with their CSRF token
        ("GET", "/patients"): Case("GET", "/patients", "doc", "dsi", params={"nom": "Lefèvre"}, web=True),
        ("GET", "/patients/{patient_id}"): Case("GET", f"/patients/{t.marie}", "doc", "outsider", web=True,
                                                 status=(200,)),
        ("POST", "/patients/{patient_id}/bris-de-glace"): Case(
            "POST", f"/patients/{t.marie}/bris-de-glace", "outsider", "dsi", form={"motif": "patient inconscient au SAU"},
            status=(303,)),
        ("GET", "/patients/{patient_id}/documents/{document_id}"): Case(
            "GET", lambda t, s: f"/patients/{t.marie}/documents/{s['document']}", "doc", "outsider", web=True),
        ("GET", "/patients/{patient_id}/acces"): Case("GET", f"/patients/{t.marie}/acces", "doc", "outsider", web=True),
        # ---- the identity-vigilance workspace (ght.web.vigilance)
        ("GET", "/identitovigilance"): Case("GET", "/identitovigilance", "iv", "doc", web=True, traced=_patients_on_page),
        ("GET", "/identitovigilance/revue/{item_id}"): Case(
            "GET", lambda t, s: f"/identitovigilance/revue/{s['web_review_item']}", "iv", "doc", web=True, traced=2),
        ("POST", "/identitovigilance/revue/{item_id}"): Case(
            "POST", lambda t, s: f"/identitovigilance/revue/{s['web_review_item']}", "iv", "doc",
            form={"decision": "distinct", "confirmation": "oui"}, status=(303,), traced=2),
        ("GET", "/identitovigilance/decisions"): Case("GET", "/identitovigilance/decisions", "iv", "doc", web=True,
                                                      traced=_patients_on_page),
        ("GET", "/identitovigilance/doublons"): Case("GET", "/identitovigilance/doublons", "iv", "doc", web=True,
                                                     params={"finess": CHU}, traced=_patients_on_page),
        ("GET", "/identitovigilance/patients/{patient_id}"): Case(
            "GET", f"/identitovigilance/patients/{t.marie}", "iv", "doc", web=True),
        ("POST", "/identitovigilance/identites/{identity_id}/detachement"): Case(
            "POST", lambda t, s: f"/identitovigilance/identites/{s['web_identity']}/detachement", "iv", "doc",
            form={"motif": "IPP d'un homonyme", "confirmation": "oui"}, status=(303,), traced=2),
        ("POST", "/identitovigilance/identites/{identity_id}/rattachement"): Case(
            "POST", lambda t, s: f"/identitovigilance/identites/{s['web_identity']}/rattachement", "iv", "doc",
            form=lambda t, s: {"patient": s["web_patient"], "motif": "même personne", "confirmation": "oui"},
            status=(303,), traced=2),
        ("POST", "/identitovigilance/patients/{patient_id}/fusion"): Case(
            "POST", lambda t, s: f"/identitovigilance/patients/{s['web_patient']}/fusion", "iv", "doc",
            form=lambda t, s: {"absorbe": s["web_unlinked"], "motif": "doublon", "confirmation": "oui"},
            status=(303,), traced=2),
        ("POST", "/identitovigilance/fusions/{event_id}/annulation"): Case(
            "POST", lambda t, s: f"/identitovigilance/fusions/{s['web_merge']}/annulation", "iv", "doc",
            form={"motif": "erreur de fusion", "confirmation": "oui"}, status=(303,), traced=2),
        # ---- DIM: every role sees the masked aggregates, the nominative report only the DIM physician
        ("GET", "/dim"): Case("GET", "/dim", "dim", "doc", params={"nominatif": "true"}, web=True),
    }


def _operations(app) -> set[tuple[str, str]]:
    schema = app.openapi()
    found = {(method.upper(), path) for path, operations in schema["paths"].items() for method in operations}
    for route in (*pages.router.routes, *web_oidc.router.routes, *web_patients.router.routes,
                  *web_vigilance.router.routes, *web_dim.router.routes):
        found |= {(method, route.path) for method in route.methods if method != "HEAD"}
    return found


def _prepare(t, db) -> dict:
    """What some routes need: a resource to delete, an export job and its file, a review pair, a
    merge, a break-the-glass declaration, a grant."""
    from datetime import date, timedelta

    from sqlalchemy import select

    from ght.access.models import AccessGrant, BreakGlass
    from ght.db.base import utcnow
    from ght.directory.models import Account
    from ght.identity.models import ReviewItem
    from ght.identity.service import IdentityInput, record_identity
    from ght.record import store

    state = {}
    state["spare"] = store.create(db, {**_observation(t.marie_chu)}, store.WriteContext(actor="test")).body["id"]
    state["document"] = store.create(db, {
        "resourceType": "DocumentReference", "status": "current", "meta": {"source": f"urn:finess:{CH}"},
        "subject": {"reference": f"Patient/{t.marie_ch}"}, "description": "Compte rendu",
        "content": [{"attachment": {"contentType": "application/pdf", "data": "JVBERi0xLjQKJSVFT0YK"}}]},
        store.WriteContext(actor="test")).body["id"]
    twins = dict(finess=CHU, ipp="T1", birth_name="Bernard", given_names="Luc", birth_date=date(1970, 5, 5),
                 sex="M", birth_place="49099", postcode="49300", city="Cholet")
    record_identity(db, IdentityInput(**twins), actor="test", channel="api")
    twin = record_identity(db, IdentityInput(**{**twins, "finess": CH, "ipp": "T2", "given_names": "Marc"}),
                           actor="test", channel="api")
    assert twin.decision == "review"  # a doubtful pair for the review queue
    others = dict(finess=CHU, ipp="T3", birth_name="Roux", given_names="Anne", birth_date=date(1990, 1, 1),
                  sex="F", birth_place="44109", postcode="44000", city="Nantes")
    kept = record_identity(db, IdentityInput(**others), actor="test", channel="api")
    other = record_identity(db, IdentityInput(**{**others, "finess": CH, "ipp": "T4", "birth_date": date(1991, 7, 9),
                                                 "given_names": "Jeanne"}), actor="test", channel="api")
    assert other.patient_id != kept.patient_id
    state.update(kept_patient=kept.patient_id, other_identity=other.identity_id)
    # The web workspace's own: a second doubtful pair, and a patient known in two establishments.
    cousins = dict(finess=CHU, ipp="T5", birth_name="Moreau", given_names="Paul", birth_date=date(1962, 2, 2),
                   sex="M", birth_place="49007", postcode="49100", city="Angers")
    record_identity(db, IdentityInput(**cousins), actor="test", channel="api")
    cousin = record_identity(db, IdentityInput(**{**cousins, "finess": CH, "ipp": "T6", "given_names": "Pierre"}),
                             actor="test", channel="api")
    assert cousin.decision == "review"
    state["web_review_item"] = db.scalar(select(ReviewItem.id).where(ReviewItem.identity_a == cousin.identity_id))
    known = dict(finess=CHU, ipp="T7", birth_name="Garnier", given_names="Lucie", birth_date=date(1978, 8, 8),
                 sex="F", birth_place="49328", postcode="49400", city="Saumur", ins="278084932812352", status="QUAL")
    first = record_identity(db, IdentityInput(**known), actor="test", channel="api")
    second = record_identity(db, IdentityInput(**{**known, "finess": CH, "ipp": "T8"}), actor="test", channel="api")
    assert second.patient_id == first.patient_id, second.decision
    state.update(web_patient=first.patient_id, web_identity=second.identity_id)
    accounts = {a.username: a.id for a in db.scalars(select(Account))}
    now = utcnow()
    db.add(AccessGrant(account_id=accounts["dim"], granted_by=accounts["dpo"], kind="record", reason="analyse",
                       starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=1)))
    glass = BreakGlass(account_id=accounts["outsider"], ght_patient_id=t.marie, reason="urgence vitale au SAU",
                       started_at=now - timedelta(hours=10), expires_at=now - timedelta(hours=6))
    grant = AccessGrant(account_id=accounts["nurse.ch"], granted_by=accounts["dpo"], kind="sensitive", reason="x",
                        starts_at=now, ends_at=now + timedelta(days=1))
    db.add_all([glass, grant])
    db.commit()
    state.update(declaration=glass.id, grant=grant.id)
    return state


def _latest_event(db, action: str):
    from sqlalchemy import select

    from ght.identity.models import LinkEvent

    db.commit()  # a fresh snapshot: the server wrote it
    return db.scalars(select(LinkEvent).where(LinkEvent.action == action).order_by(LinkEvent.id.desc())).first()


def _export_job(t, state) -> None:
    dim = t.client("dim")
    kicked = dim.get("/fhir/$export", params={"_type": "Encounter"},
                     headers={"Prefer": "respond-async", "Accept": "application/fhir+json"})
    assert kicked.status_code == 202, kicked.text
    status = kicked.headers["content-location"].split("/fhir", 1)[1]
    deadline = time.monotonic() + 60
    while (answer := dim.get(f"/fhir{status}")).status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert answer.status_code == 200, answer.text
    state["job_status"] = f"/fhir{status}"
    state["job_file"] = answer.json()["output"][0]["url"].split(t.server.url, 1)[1]


def _of_the_request(entries: list) -> list:
    """Without the entries an export job writes meanwhile (door export, patient by patient)."""
    return [e for e in entries if not (e.door == "export" and e.ght_patient_id is not None)]


def test_every_route_is_gated_and_traced(territory, db):
    t = territory
    state = _prepare(t, db)
    table = cases(t, state)
    operations = _operations(t.server.app)
    assert operations - PUBLIC == set(table), (
        f"routes without a case: {sorted(operations - PUBLIC - set(table))}; "
        f"cases without a route: {sorted(set(table) - (operations - PUBLIC))}")
    for (method, path) in sorted(PUBLIC):
        assert (method, path) in operations, f"public route {method} {path} is gone"

    def url_of(case):
        return case.url(t, state) if callable(case.url) else case.url

    def body_of(case):
        return case.json(t, state) if callable(case.json) else case.json

    # The cases in the table's order, but those that change identities or end the export job in
    # the order their state needs.
    last = [("GET", "/api/identity/review"), ("POST", "/api/identity/review/{item_id}"),
            ("POST", "/api/identity/identities/{identity_id}/link"),
            ("POST", "/api/identity/identities/{identity_id}/unlink"),
            ("POST", "/api/identity/patients/{patient_id}/merge"), ("POST", "/api/identity/merges/{event_id}/unmerge"),
            ("GET", "/fhir/$export-status/{job_id}"), ("GET", "/fhir/$export-file/{job_id}/{name}"),
            ("DELETE", "/fhir/$export-status/{job_id}"),
            ("POST", "/identitovigilance/identites/{identity_id}/detachement"),
            ("POST", "/identitovigilance/identites/{identity_id}/rattachement"),
            ("POST", "/identitovigilance/patients/{patient_id}/fusion"),
            ("POST", "/identitovigilance/fusions/{event_id}/annulation"),
            # Last of all: it opens Marie's record to `outsider`, the outsider of most cases.
            ("POST", "/patients/{patient_id}/bris-de-glace")]
    order = [key for key in table if key not in last] + last
    for key in order:
        case = table[key]
        if key[1].startswith("/fhir/$export-") and "job_status" not in state:
            _export_job(t, state)
        if key[1].endswith("/review/{item_id}") and "review_item" not in state:
            state["review_item"] = t.client("iv").get("/api/identity/review").json()[0]["id"]
        request = dict(params=case.params, json=body_of(case), headers=case.headers)
        web = case.web or case.form is not None
        client = t.browser if web else t.client
        if web:

            def with_csrf(http, case=case):
                if case.form is None:
                    return {}
                form = case.form(t, state) if callable(case.form) else case.form
                return {"data": {**form, "csrf_token": http.csrf}}
        anonymous_client = client(None)
        if web:
            request = dict(params=case.params, **with_csrf(anonymous_client))
        anonymous = anonymous_client.request(case.method, url_of(case), **request)
        if web:  # a page sends the browser to the login form
            assert anonymous.status_code == 303 and anonymous.headers["location"] == "/", (key, anonymous.status_code)
        else:
            assert anonymous.status_code == 401, (key, anonymous.status_code, anonymous.text[:200])
        if case.outsider is not None:
            before = trace_count(db)
            outsider = client(case.outsider)
            if web:
                request = dict(params=case.params, **with_csrf(outsider))
            refused = outsider.request(case.method, url_of(case), **request)
            assert refused.status_code in (403, 404), (key, case.outsider, refused.status_code, refused.text[:300])
            if refused.status_code == 403:
                denied = _of_the_request(last_entries(db, trace_count(db) - before))
                assert denied and all(e.outcome == "denied" for e in denied), (key, [e.outcome for e in denied])
        before = trace_count(db)
        allowed = client(case.allowed)
        if web:
            request = dict(params=case.params, **with_csrf(allowed))
        answer = allowed.request(case.method, url_of(case), **request)
        assert answer.status_code in case.status, (key, case.allowed, answer.status_code, answer.text[:300])
        entries = _of_the_request(last_entries(db, trace_count(db) - before))
        expected = (case.traced(answer.text if web else answer.json()) if callable(case.traced)
                    else case.traced)
        assert len(entries) == expected, (key, expected, [(e.action, e.ght_patient_id, e.resources) for e in entries])
        assert all(e.outcome == "allowed" and e.account == case.allowed for e in entries), key
        if expected == 0:
            assert case.why_untraced, f"{key}: a route that leaves no trace must say why"
        if key == ("POST", "/api/identity/patients/{patient_id}/merge"):
            state["merge_event"] = answer.json()["id"]
        if key == ("POST", "/api/identity/identities/{identity_id}/unlink"):
            state["unlinked_patient"] = answer.json()["to_patient"]
        if key == ("POST", "/identitovigilance/identites/{identity_id}/detachement"):
            state["web_unlinked"] = _latest_event(db, "unlink").to_patient
        if key == ("POST", "/identitovigilance/patients/{patient_id}/fusion"):
            state["web_merge"] = _latest_event(db, "merge").id
        if key == ("POST", "/fhir/Patient"):
            state["new_identity"] = answer.json()["id"]
