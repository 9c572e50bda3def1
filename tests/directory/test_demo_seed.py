"""The generated directory loads into the database, and every demo account logs in."""

import pytest
from sqlalchemy import func, select

from ght.demo import GeneratorConfig, generate
from ght.directory.accounts import authenticate
from ght.directory.identifiers import finess_is_valid, rpps_is_valid
from ght.directory.models import Establishment, Exercise, FunctionalUnit, Professional, Site
from ght.directory.seed import DEMO_ACCOUNTS, DEMO_PASSWORD, create_demo_accounts, directory_is_empty, load_directory


@pytest.fixture(scope="module")
def territory(tmp_path_factory):
    return generate(GeneratorConfig(patients=50, seed=7, clinical=False), tmp_path_factory.mktemp("territory"))


def test_directory_loads_whole(db, territory):
    assert directory_is_empty(db)
    counts = load_directory(db, territory)
    db.commit()
    assert not directory_is_empty(db)
    assert db.scalar(select(func.count()).select_from(Establishment)) == counts["établissements"] == 5
    assert db.scalar(select(func.count()).select_from(Site)) == counts["sites"]
    assert db.scalar(select(func.count()).select_from(FunctionalUnit)) == counts["unités fonctionnelles"]
    assert db.scalar(select(func.count()).select_from(Exercise)) == counts["exercices"]
    roles = db.scalars(select(Establishment.role)).all()
    assert sorted(roles) == ["partie"] * 4 + ["support"]
    for establishment in db.scalars(select(Establishment)):
        assert finess_is_valid(establishment.finess_ej)
        assert establishment.main_site is not None and finess_is_valid(establishment.main_site.finess_et)
    professionals = db.scalars(select(Professional)).all()
    assert len(professionals) >= 200
    assert all(rpps_is_valid(p.rpps) for p in professionals if p.rpps)


def test_every_demo_account_logs_in_with_its_role(db, territory):
    load_directory(db, territory)
    create_demo_accounts(db)
    db.commit()
    for spec in DEMO_ACCOUNTS:
        account = authenticate(db, spec.username, DEMO_PASSWORD)
        assert account is not None, spec.username
        assert account.roles == [spec.role.value]
        assert account.professional.profession == spec.profession
        assert account.professional.external == spec.external
        if spec.establishment == "none":
            assert account.establishment is None
        else:
            assert account.establishment.role == spec.establishment
    bound = [authenticate(db, spec.username, DEMO_PASSWORD).professional_id for spec in DEMO_ACCOUNTS]
    assert len(set(bound)) == len(bound)  # one professional per account
