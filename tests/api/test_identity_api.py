"""Identity-vigilance API on a real server: role gate, review queue with per-field scores,
decisions, merge and exact unmerge, link/unlink, collisions, duplicate report."""

from datetime import date

import pytest

from ght.directory.models import Establishment
from ght.directory.vocab import Role
from ght.identity.ins import nir_with_key
from ght.identity.service import IdentityInput, record_identity
from support import PASSWORD

CHU, CH = "490000031", "490000049"


def token(http, username):
    return {"Authorization": "Bearer " + http.post("/auth/token", data={"username": username, "password": PASSWORD}).json()["access_token"]}


@pytest.fixture
def territory(db, make_account):
    make_account("iv", roles=(Role.IDENTITY_VIGILANCE,))
    make_account("doc", roles=(Role.CLINICIAN,))
    db.add_all([Establishment(finess_ej=CHU, name="CHU d'Angers", short_name="CHU", role="support"),
                Establishment(finess_ej=CH, name="CH de Cholet", short_name="CH", role="partie")])
    db.commit()

    def add(**changes):
        base = dict(finess=CHU, ipp="1", birth_name="Durand", given_names="Paul", birth_date=date(1962, 11, 2),
                    sex="M", birth_place="49007", postcode="49000", city="Angers")
        base.update(changes)
        result = record_identity(db, IdentityInput(**base), actor="test", channel="api")
        db.commit()
        return result

    return add


def test_only_identity_vigilance_may_use_it(live_server, territory):
    with live_server.client() as http:
        assert http.get("/api/identity/review").status_code == 401
        assert http.get("/api/identity/review", headers=token(http, "doc")).status_code == 403
        assert http.get("/api/identity/review", headers=token(http, "iv")).status_code == 200


def test_twins_go_to_review_and_a_decision_merges_then_unmerge_restores(live_server, territory, db):
    first = territory(ipp="1")
    twin = territory(finess=CH, ipp="2", given_names="Pierre")  # same everything but the given name
    assert twin.decision == "review" and twin.patient_id != first.patient_id
    with live_server.client() as http:
        headers = token(http, "iv")
        queue = http.get("/api/identity/review", headers=headers).json()
        assert len(queue) == 1
        item = queue[0]
        assert item["kind"] == "doubtful_pair" and item["differing"] == ["given_names"]
        fields = {f["comparison"]: f for f in item["fields"]}
        assert fields["given_names"]["level"] == "différent" and fields["given_names"]["weight"] < 0
        assert fields["birth_date"]["level"] == "identique" and fields["birth_date"]["weight"] > 0
        assert {item["a"]["ipp"], item["b"]["ipp"]} == {"1", "2"}

        decided = http.post(f"/api/identity/review/{item['id']}", json={"decision": "same", "note": "vérifié"}, headers=headers)
        assert decided.status_code == 200 and decided.json()["status"] == "linked"
        merged = http.get(f"/api/identity/patients/{first.patient_id}", headers=headers).json()
        assert sorted(i["ipp"] for i in merged["identities"]) == ["1", "2"]
        merge_event = next(e for e in merged["events"] if e["action"] == "merge")

        again = http.post(f"/api/identity/review/{item['id']}", json={"decision": "distinct"}, headers=headers)
        assert again.status_code == 422 and "déjà traité" in again.json()["detail"]["message"]

        undone = http.post(f"/api/identity/merges/{merge_event['id']}/unmerge", json={"reason": "erreur de fusion"}, headers=headers)
        assert undone.status_code == 200
        restored = http.get(f"/api/identity/patients/{twin.patient_id}", headers=headers).json()
        assert restored["merged_into"] is None and [i["ipp"] for i in restored["identities"]] == ["2"]


def test_unlink_and_link_back(live_server, territory):
    first = territory(ipp="1")
    second = territory(finess=CH, ipp="9")
    assert second.decision == "linked"
    with live_server.client() as http:
        headers = token(http, "iv")
        unlinked = http.post(f"/api/identity/identities/{second.identity_id}/unlink", json={"reason": "homonyme"}, headers=headers)
        assert unlinked.status_code == 200
        new_patient = unlinked.json()["to_patient"]
        assert new_patient != first.patient_id
        relinked = http.post(f"/api/identity/identities/{second.identity_id}/link",
                             json={"patient_id": first.patient_id, "reason": "vérifié"}, headers=headers)
        assert relinked.status_code == 200 and relinked.json()["to_patient"] == first.patient_id
        refused = http.post(f"/api/identity/identities/{second.identity_id}/link",
                            json={"patient_id": first.patient_id, "reason": "encore"}, headers=headers)
        assert refused.status_code == 422 and refused.json()["detail"]["field"] == "patient_id"


def test_collisions_and_duplicate_report(live_server, territory):
    nir = nir_with_key("1621149007123")
    first = territory(ipp="1", ins=nir, status="RECUP")
    territory(ipp="1b")  # the CHU's own doublon of the same person, linked by score
    other = territory(finess=CH, ipp="7", ins=nir_with_key("1621149007124"), status="RECUP")
    with live_server.client() as http:
        headers = token(http, "iv")
        # Different valid INS: not linked, an ins_conflict item instead.
        queue = http.get("/api/identity/review", headers=headers).json()
        assert [i["kind"] for i in queue] == ["ins_conflict"]
        # Force them together: the patient now carries two INS, a collision.
        http.post(f"/api/identity/patients/{first.patient_id}/merge",
                  json={"absorbed": other.patient_id, "reason": "test de collision"}, headers=headers)
        collisions = http.get("/api/identity/collisions", headers=headers).json()
        assert [c["patient_id"] for c in collisions] == [first.patient_id]
        report = http.get(f"/api/identity/reports/duplicates/{CHU}", headers=headers).json()
        assert [sorted(i["ipp"] for i in group) for group in report["linked_duplicates"].values()] == [["1", "1b"]]
        assert http.get("/api/identity/reports/duplicates/000000000", headers=headers).status_code == 404


def test_ids_and_offsets_beyond_the_database_integer_are_refused(live_server, territory):
    # Found by tests/api/test_fuzz_openapi.py: ids beyond INTEGER (PostgreSQL) or BIGINT (SQLite)
    # reached the database and answered 500.
    too_big, reason = str(2**31), {"reason": "vérification"}
    with live_server.client() as http:
        headers = token(http, "iv")
        for path, body in ((f"/api/identity/review/{too_big}", {"decision": "same"}),
                           (f"/api/identity/review/{2**63}", {"decision": "same"}),
                           (f"/api/identity/identities/{too_big}/unlink", reason),
                           (f"/api/identity/identities/{too_big}/link", {**reason, "patient_id": "X"}),
                           (f"/api/identity/merges/{2**70}/unmerge", reason)):
            answer = http.post(path, json=body, headers=headers)
            assert answer.status_code == 422 and answer.json()["detail"][0]["loc"][0] == "path", (path, answer.text)
        answer = http.get("/api/identity/review", params={"offset": 2**80}, headers=headers)
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["query", "offset"]
        assert http.post("/api/identity/identities/2147483647/unlink", json=reason, headers=headers).status_code == 422
        # The schema documents both forms of 422: a refusal of the identity server and invalid fields.
        documented = http.get("/openapi.json").json()["paths"]["/api/identity/identities/{identity_id}/unlink"]
        assert "RefusalOrInvalid" in str(documented["post"]["responses"]["422"])
