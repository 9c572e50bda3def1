"""The patient's territorial record in a real Chromium, on the demo territory: search a patient
known in three establishments, see items of all three on the page, be refused outside the care
team, break the glass and find it in the access tab."""

from __future__ import annotations

import re

from playwright.sync_api import expect


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
