"""Batch and transaction bundles wait their turn (ght.interop.fhir.bundle_limit): at most
GHT_HTTP_BUNDLES of them at work at once in one server process, the others answered after."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ght.directory.vocab import Role
from ght.interop.fhir import bundles
from support import PASSWORD, LiveServer

FHIR = {"Content-Type": "application/fhir+json"}
EMPTY = {"resourceType": "Bundle", "type": "transaction", "entry": []}


@pytest.mark.parametrize("limit", [1, 2])
def test_bundles_at_work_at_once_are_limited(settings, engine, make_account, monkeypatch, limit):
    make_account("doc", roles=(Role.CLINICIAN,))
    lock, at_work, most, done = threading.Lock(), [0], [0], [0]
    original = bundles._transaction

    def slow(*args):
        with lock:
            at_work[0] += 1
            most[0] = max(most[0], at_work[0])
        try:
            time.sleep(0.3)  # long enough for the other requests to arrive meanwhile
            return original(*args)
        finally:
            with lock:
                at_work[0] -= 1
                done[0] += 1

    monkeypatch.setattr(bundles, "_transaction", slow)
    settings.http_bundles = limit
    with LiveServer(settings, engine) as server, server.client() as http:
        token = http.post("/auth/token", data={"username": "doc", "password": PASSWORD}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", **FHIR}
        # A read meanwhile is not held back by the bundles' queue.
        with ThreadPoolExecutor(5) as pool:
            posted = [pool.submit(http.post, "/fhir", headers=headers, json=EMPTY) for _ in range(4)]
            time.sleep(0.1)
            meta = http.get("/fhir/metadata", headers=headers)
            done_at_meta = done[0]
            answers = [future.result() for future in posted]
    assert [a.status_code for a in answers] == [200] * 4
    assert all(a.json()["type"] == "transaction-response" for a in answers)
    assert most[0] == limit
    assert meta.status_code == 200 and done_at_meta < 4
