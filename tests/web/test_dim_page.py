"""The /dim page on a real server when the pseudonym key is unusable: the DIM physician's
pseudonymised view is not shown (503, the French reason, the access still traced); the views
that need no key (nominative, masked aggregates) are."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from dim.dim_fixture import CHU_RUMS, CORRESPONDENCE_CHU, accounts, rss_file, territory
from ght.audit.models import AuditEntry
from ght.dim.importer import Sources, import_file
from support import PASSWORD


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"dim_pseudonym_key": "v1:court"})


def _login(http, username: str):
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/").text).group(1)
    answer = http.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf})
    assert answer.status_code == 303, answer.text


def test_unusable_key_withholds_the_pseudonymised_view_only(settings, engine, db, live_server):
    territory(db)
    accounts(db)
    import_file(engine, rss_file(CHU_RUMS), "chu.txt", 2026, 3, actor="t", var_dir=settings.var_dir,
                sources=Sources(correspondence=CORRESPONDENCE_CHU.encode()))
    with live_server.client() as http:
        _login(http, "dim")
        withheld = http.get("/dim")
        assert withheld.status_code == 503
        assert "Clé du pseudonyme inutilisable : GHT_DIM_PSEUDONYM_KEY : secret de 5 caractères, 32 au moins" \
            in withheld.text
        assert "Activité par établissement" not in withheld.text
        named = http.get("/dim", params={"nominatif": "true"})
        assert named.status_code == 200 and "Patient (identifiant GHT)" in named.text
    with live_server.client() as http:
        _login(http, "doc")
        masked = http.get("/dim")
        assert masked.status_code == 200 and "&lt; 10" in masked.text and "Patient (" not in masked.text
    db.expire_all()
    reasons = [e.reason for e in db.scalars(select(AuditEntry).where(AuditEntry.account == "dim"))]
    assert "médecin DIM du GHT : patients pseudonymisés" in reasons
