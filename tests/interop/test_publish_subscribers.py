"""`ght publish subscribe` and `ght publish subscribers`: registering the systems to notify."""

import os
import subprocess
import sys

from sqlalchemy import select

from ght.directory.models import Establishment
from ght.identity.models import Subscriber


def ght(database_url, *args):
    env = {**os.environ, "GHT_DATABASE_URL": database_url, "GHT_LOG_JSON": "false"}
    return subprocess.run([sys.executable, "-m", "ght", "publish", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_subscribe_then_list(db, database_url):
    db.add(Establishment(finess_ej="490000049", name="CH de Cholet", short_name="CH", role="partie"))
    db.commit()
    added = ght(database_url, "subscribe", "490000049", "--name", "GAM du CH", "--kind", "mllp", "--endpoint", "gam.ch.local:2575")
    assert added.returncode == 0, added.stderr
    assert "« GAM du CH » (mllp gam.ch.local:2575)" in added.stdout
    stored = db.scalars(select(Subscriber)).one()
    assert (stored.kind, stored.endpoint, stored.active) == ("mllp", "gam.ch.local:2575", True)
    listed = ght(database_url, "subscribers")
    assert listed.returncode == 0 and "490000049\tGAM du CH\tmllp\tgam.ch.local:2575\tactif\t0 en attente" in listed.stdout


def test_bad_subscriptions_are_refused_in_one_sentence(tmp_path):
    database_url = f"sqlite:///{tmp_path}/ght.db"
    for args, message in (
        (["999999999", "--kind", "mllp", "--endpoint", "h:1"], "établissement inconnu du GHT : FINESS 999999999"),
    ):
        result = ght(database_url, "subscribe", *args, "--name", "X")
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_endpoint_and_kind_are_checked(db):
    import pytest

    from ght.identity.publication import add_subscriber
    from ght.identity.service import IdentityRejected

    db.add(Establishment(finess_ej="490000049", name="CH de Cholet", short_name="CH", role="partie"))
    db.commit()
    for kind, endpoint, field in (("mllp", "gam.ch.local", "endpoint"), ("mllp", "gam:99999", "endpoint"),
                                  ("fhir", "ftp://x/hook", "endpoint"), ("soap", "h:1", "kind")):
        with pytest.raises(IdentityRejected) as refused:
            add_subscriber(db, "490000049", "X", kind, endpoint)
        assert refused.value.field == field
    assert add_subscriber(db, "490000049", "DPI", "fhir", "https://dpi.ch.local/ght-hook").id
