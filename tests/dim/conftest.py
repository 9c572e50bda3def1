import pytest

from dim.dim_fixture import territory


@pytest.fixture
def dim_territory(db):
    territory(db)
    return db
