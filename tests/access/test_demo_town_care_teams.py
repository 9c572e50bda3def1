"""The demo territory's town care teams (ght.demo.care_teams) give its external accounts, the GP
`medecin.traitant` and the DAC coordinator `coordinateur` (who has no RPPS or ADELI: the GHT
directory names them), the patients they follow and no other; an ended membership gives nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from ght.access.facts import AccessRules
from ght.access.gate import Gate
from ght.access.policy import Target
from ght.access.relation import Basis, period_bounds
from ght.access.subject import subject_of_account
from ght.audit.trail import Action, Door
from ght.config import Settings
from ght.db.engine import session_factory
from ght.demo.bootstrap import generate_and_load, load_identities, load_record
from ght.directory.models import Account, AccountRole, Professional
from ght.record.models import Resource


@pytest.fixture
def demo(engine, database_url, tmp_path):
    """A 400-person demo territory dated from today, loaded as `make demo` loads it."""
    generate_and_load(Settings(database_url=database_url, var_dir=tmp_path), patients=400, seed=2026,
                      out_dir=tmp_path / "territory", load=True, engine=engine, as_of=date.today())
    load_identities(engine, tmp_path / "territory")
    load_record(engine, tmp_path / "territory")
    return session_factory(engine)


def _memberships(db, practitioner_id: str, now) -> tuple[set[str], set[str]]:
    """GHT patients whose town CareTeam lists the practitioner: (current membership, ended one)."""
    current, ended = set(), set()
    for team in db.scalars(select(Resource).where(Resource.resource_type == "CareTeam")):
        for participant in team.body["participant"]:
            if participant["member"]["reference"] == f"Practitioner/{practitioner_id}":
                start, end = period_bounds(participant["period"])
                (current if start <= now <= end else ended).add(team.ght_patient_id)
    return current, ended


def _decisions(engine, db, account, patients) -> dict[str, bool]:
    gate = Gate(engine, db, subject_of_account(account), Door.WEB, rules=AccessRules())
    return {p: gate.decide(Action.READ, Target("Observation", p, None)).allowed for p in patients}


@pytest.mark.parametrize("username", ["medecin.traitant", "coordinateur"])
def test_external_demo_accounts_see_the_patients_of_their_town_care_team_only(demo, engine, username):
    with demo() as db:
        account = db.scalar(select(Account).where(Account.username == username))
        subject = subject_of_account(account)
        (practitioner,) = subject.practitioner_ids
        gate = Gate(engine, db, subject, Door.WEB, rules=AccessRules())
        followed, _ = _memberships(db, practitioner, gate.now)
        assert followed, f"the demo gives {username} no patient to follow"
        others = set(db.scalars(select(Resource.ght_patient_id).where(
            Resource.resource_type == "Patient", Resource.ght_patient_id.not_in(followed)).limit(20)))
        decisions = _decisions(engine, db, account, followed | others)
        assert {p for p, allowed in decisions.items() if allowed} == followed
        relation = gate.facts(sorted(followed)[0]).relations[0]
        assert relation.basis is Basis.CARE_TEAM and relation.end is not None  # an explicit, dated membership
    if username == "coordinateur":
        assert practitioner.startswith("pr-ght-") and subject.rpps is None and subject.adeli is None


def test_an_ended_home_nursing_membership_gives_no_access(demo, engine):
    with demo() as db:
        nurses = db.scalars(select(Professional).where(Professional.external.is_(True),
                                                       Professional.profession == "infirmier")).all()
        now = datetime.now(UTC)
        for nurse in nurses:
            current, ended = _memberships(db, f"pr-{nurse.rpps}", now)
            if ended - current:
                break
        else:
            pytest.fail("the demo has no ended home-nursing membership")
        account = Account(username="infirmiere.ville", password_hash=None, professional=nurse,
                          role_rows=[AccountRole(role="external")])
        db.add(account)
        db.flush()
        decisions = _decisions(engine, db, account, (ended - current) | current)
        assert decisions == {p: p in current for p in decisions}
