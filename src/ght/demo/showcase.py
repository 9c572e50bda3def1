"""The demo territory's showcase patients, as the browser tests and the page benchmark choose
them: one known in three establishments, with stays from all three, whose record a demo account
may open; and one that account may not open (outside its care teams)."""

from __future__ import annotations

from sqlalchemy import func, select

from ght.access.facts import AccessRules
from ght.access.gate import Gate
from ght.access.policy import ANY_SOURCE, Target
from ght.access.subject import subject_of_account
from ght.audit.trail import Action, Door
from ght.db.engine import session_factory
from ght.directory.models import Account
from ght.identity.models import LocalIdentity
from ght.record.models import Resource


def may_read(engine, db, username: str, patient: str) -> bool:
    """Whether the account may read the patient's record (a decision, not traced)."""
    account = db.scalar(select(Account).where(Account.username == username))
    gate = Gate(engine, db, subject_of_account(account), Door.WEB, rules=AccessRules())
    return gate.decide(Action.READ, Target("Observation", patient, ANY_SOURCE)).allowed


def known_in_three(engine, username: str = "medecin") -> str | None:
    with session_factory(engine)() as db:
        several = db.execute(select(LocalIdentity.patient_id).where(LocalIdentity.active.is_(True))
                             .group_by(LocalIdentity.patient_id)
                             .having(func.count(func.distinct(LocalIdentity.establishment_id)) >= 3)).scalars().all()
        for patient in several:
            sources = set(db.scalars(select(Resource.source_establishment_id).where(
                Resource.ght_patient_id == patient, Resource.resource_type == "Encounter")))
            if len(sources) >= 3 and may_read(engine, db, username, patient):
                return patient
    return None


def outside_care_team(engine, username: str = "medecin") -> str | None:
    with session_factory(engine)() as db:
        return next((p for p in db.scalars(select(LocalIdentity.patient_id).distinct().limit(300))
                     if not may_read(engine, db, username, p)), None)
