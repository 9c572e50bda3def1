"""The patient's territorial record in a real Chromium, on the demo territory: search a patient
known in three establishments, see items of all three on the page, be refused outside the care
team, break the glass and find it in the access tab."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from ght.access.facts import AccessRules
from ght.access.gate import Gate
from ght.access.policy import ANY_SOURCE, Target
from ght.access.subject import subject_of_account
from ght.audit.trail import Action, Door
from ght.db.engine import session_factory
from ght.directory.models import Account, Establishment
from ght.identity.models import LocalIdentity
from ght.record.models import Resource


def _decide(engine, db, username: str, patient: str) -> bool:
    account = db.scalar(select(Account).where(Account.username == username))
    gate = Gate(engine, db, subject_of_account(account), Door.WEB, rules=AccessRules())
    return gate.decide(Action.READ, Target("Observation", patient, ANY_SOURCE)).allowed


@pytest.fixture(scope="module")
def patients(demo_engine):
    """A patient known in three establishments whose record `medecin` may open, with records from
    all three; and a patient `medecin` may not open."""
    with session_factory(demo_engine)() as db:
        several = db.execute(select(LocalIdentity.patient_id).where(LocalIdentity.active.is_(True))
                             .group_by(LocalIdentity.patient_id)
                             .having(func.count(func.distinct(LocalIdentity.establishment_id)) >= 3)).scalars().all()
        chosen = None
        for patient in several:
            sources = set(db.scalars(select(Resource.source_establishment_id).where(
                Resource.ght_patient_id == patient, Resource.resource_type == "Encounter")))
            if len(sources) >= 3 and _decide(demo_engine, db, "medecin", patient):
                chosen = patient
                break
        assert chosen, "the demo territory has no patient known in three establishments in medecin's care team"
        outside = next(p for p in db.scalars(select(LocalIdentity.patient_id).distinct().limit(300))
                       if not _decide(demo_engine, db, "medecin", p))
        identity = db.scalars(select(LocalIdentity).where(LocalIdentity.patient_id == chosen)).first()
        names = sorted(db.scalars(select(Establishment.short_name).join(
            LocalIdentity, LocalIdentity.establishment_id == Establishment.id).where(LocalIdentity.patient_id == chosen)))
        return {"known": chosen, "birth_name": identity.birth_name, "given": identity.first_given_name,
                "establishments": names, "outside": outside}


def test_search_and_open_a_patient_known_in_three_establishments(open_as, patients, screenshot):
    page = open_as("medecin")
    page.get_by_role("link", name="Patients").click()
    page.get_by_label("Nom (de naissance ou utilisé)").fill(patients["birth_name"])
    page.get_by_label("Prénom").fill(patients["given"])
    page.get_by_role("button", name="Rechercher").click()
    line = page.get_by_role("row").filter(has_text=patients["known"])
    for name in patients["establishments"]:
        expect(line).to_contain_text(name)
    expect(line.locator(".status")).to_be_visible()
    screenshot(page, "recherche-patient")
    line.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Parcours dans le GHT")).to_be_visible()
    sources = page.locator(".timeline .source")
    seen = set(sources.all_inner_texts())
    assert set(patients["establishments"]) <= seen, seen
    screenshot(page, "dossier-patient")
    if page.locator("#biologie").count():
        screenshot(page.locator("#biologie"), "resultats-biologie")
    # Filter by one establishment: only its items remain.
    page.get_by_label("Établissement").select_option(label=patients["establishments"][0])
    page.get_by_role("button", name="Filtrer").click()
    assert set(page.locator(".timeline .source").all_inner_texts()) == {patients["establishments"][0]}


def test_refused_outside_the_care_team_then_break_the_glass(open_as, patients, screenshot):
    page = open_as("medecin")
    page.goto(f"/patients/{patients['outside']}")
    expect(page.get_by_role("heading", name="Vous n'avez pas accès au dossier de ce patient")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(re.compile(r"\w"))
    screenshot(page, "hors-equipe-de-soins")
    page.get_by_label("Motif de l'accès en urgence").fill("Patient inconscient aux urgences, antécédents inconnus")
    page.get_by_role("button", name="Accéder en urgence").click()
    expect(page.get_by_role("status")).to_contain_text("bris de glace")
    page.get_by_role("link", name="Qui a consulté ce dossier").click()
    glass = page.locator("tr.glass").filter(has_text="Patient inconscient aux urgences")
    expect(glass.first).to_be_visible()
    screenshot(page, "acces-au-dossier")
