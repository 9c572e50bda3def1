"""A small territory for the access tests, on a real server: a CHU and a CH, Marie known at
both (one GHT patient), Paul at the CHU; professionals with their RPPS; Marie's record holds a
stay at the CH where `doc` took care of her, results of both establishments, and a CareTeam
where the GP `gp` is a member with dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from ght.directory.accounts import create_account
from ght.directory.models import Professional
from ght.directory.vocab import Role
from ght.identity import service
from ght.identity.ins import nir_with_key
from ght.record import store
from support import PASSWORD, add_establishments, marie, paul

CHU, CH = "490000031", "490000049"
FHIR = {"Content-Type": "application/fhir+json"}

# username: (role, RPPS, establishment: "chu", "ch" or None, external)
PEOPLE = {
    "doc": (Role.CLINICIAN, "10000000011", "chu", False),
    "outsider": (Role.CLINICIAN, "10000000012", "chu", False),
    "nurse.ch": (Role.NURSE, "10000000013", "ch", False),
    "desk": (Role.SECRETARY, None, "chu", False),
    "iv": (Role.IDENTITY_VIGILANCE, None, "chu", False),
    "dim": (Role.DIM_PHYSICIAN, "10000000014", "chu", False),
    "dsi": (Role.DSI_ADMIN, None, "chu", False),
    "dpo": (Role.DPO, None, "chu", False),
    "gp": (Role.EXTERNAL, "10000000015", None, True),
    "gp.expired": (Role.EXTERNAL, "10000000016", None, True),
}


def observation(patient: str, source: str, code: str = "2345-7") -> dict:
    return {"resourceType": "Observation", "status": "final", "meta": {"source": f"urn:finess:{source}"},
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": f"Patient/{patient}"}, "effectiveDateTime": "2026-11-02T08:30:00+01:00",
            "valueQuantity": {"value": 5.4, "unit": "mmol/L"}}


@dataclass
class Territory:
    http: object  # the live server's base client (no token)
    server: object
    marie_chu: int
    marie_ch: int
    marie: str  # GHT id
    paul: str
    paul_chu: int
    stay_ch: str  # Encounter at the CH with doc
    result_ch: str  # Observation of the CH
    result_chu: str  # Observation of the CHU
    tokens: dict

    def client(self, username: str | None):
        """A client of the live server with `username`'s token (None: anonymous)."""
        client = self.server.client()
        if username is not None:
            if username not in self.tokens:
                answer = client.post("/auth/token", data={"username": username, "password": PASSWORD})
                assert answer.status_code == 200, answer.text
                self.tokens[username] = answer.json()["access_token"]
            client.headers["Authorization"] = f"Bearer {self.tokens[username]}"
        client.headers.update(FHIR)
        return client

    def browser(self, username: str | None):
        """A client of the live server as a browser: `username`'s session cookie from the login
        form (None: anonymous) and the form's CSRF token, as `client.csrf`."""
        import re

        client = self.server.client()
        client.csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
        if username is not None:
            answer = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": client.csrf})
            assert answer.status_code == 303, answer.text
        return client


@pytest.fixture
def territory(live_server, db) -> Territory:
    chu, ch = add_establishments(db, CHU, CH)
    places = {"chu": chu, "ch": ch, None: None}
    for username, (role, rpps, where, external) in PEOPLE.items():
        professional = Professional(rpps=rpps, adeli=None, family_name=username.upper(), given_name="Test",
                                    profession="medecin" if rpps else "secretaire_medicale", external=external)
        db.add(professional)
        create_account(db, username, PASSWORD, professional, places[where], [role])
    db.commit()
    ins = nir_with_key("2850349007123")
    at_chu = service.record_identity(db, marie(CHU, ins=ins, status="QUAL"), actor="t", channel="api")
    at_ch = service.record_identity(db, marie(CH, ipp="M-9", ins=ins, status="QUAL"), actor="t", channel="api")
    other = service.record_identity(db, paul(CHU), actor="t", channel="api")
    db.commit()
    system = store.WriteContext(actor="test")  # a system door: the fixture writes what hospitals sent
    now = datetime.now(UTC)
    stay = store.create(db, {
        "resourceType": "Encounter", "status": "finished", "meta": {"source": f"urn:finess:{CH}"},
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": f"Patient/{at_ch.identity_id}"},
        "participant": [{"individual": {"reference": "Practitioner/pr-10000000011"}}],
        "period": {"start": (now - timedelta(days=20)).isoformat(), "end": (now - timedelta(days=15)).isoformat()}},
        system)
    result_ch = store.create(db, observation(str(at_ch.identity_id), CH), system)
    result_chu = store.create(db, observation(str(at_chu.identity_id), CHU, "2823-3"), system)
    store.create(db, {
        "resourceType": "CareTeam", "status": "active", "meta": {"source": f"urn:finess:{CHU}"},
        "subject": {"reference": f"Patient/{at_chu.patient_id}"},
        "participant": [
            {"member": {"reference": "Practitioner/pr-10000000015"},
             "period": {"start": (now - timedelta(days=10)).isoformat(), "end": (now + timedelta(days=90)).isoformat()}},
            {"member": {"reference": "Practitioner/pr-10000000016"},
             "period": {"start": (now - timedelta(days=90)).isoformat(), "end": (now - timedelta(days=1)).isoformat()}},
        ]}, system)
    db.commit()
    with live_server.client() as http:
        yield Territory(http, live_server, at_chu.identity_id, at_ch.identity_id, at_chu.patient_id, other.patient_id,
                        other.identity_id, stay.body["id"], result_ch.body["id"], result_chu.body["id"], {})
