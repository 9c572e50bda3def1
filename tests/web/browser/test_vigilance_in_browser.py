"""The identity-vigilance workspace in a real Chromium, on the demo territory: the review queue
(the day's mistyped arrivals wait there), a pair side by side with what differs and each
field's score, the decision "same person" (confirmation required) and the patient's
establishments updated; then the merge undone from the patient's history."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def test_resolve_a_review_pair_and_see_the_establishments_update(open_as, screenshot):
    page = open_as("identitovigilance")
    page.get_by_role("link", name="Identitovigilance").click()
    expect(page.get_by_role("heading", name=re.compile("Paires à examiner"))).to_be_visible()
    rows = page.locator("tr.risk-doubtful_pair")
    expect(rows.first).to_be_visible()
    screenshot(page, "file-de-revue")

    rows.first.get_by_role("link", name=re.compile("Examiner")).click()
    expect(page.get_by_role("heading", name=re.compile("Paire douteuse n° "))).to_be_visible()
    # The arrival was typed with the wrong day of birth and its first given name only.
    differing = page.locator("table.side-by-side tr.differs th")
    expect(differing.filter(has_text="Date de naissance")).to_have_count(1)
    expect(differing.filter(has_text="Prénoms")).to_have_count(1)
    expect(page.locator("table.scores tbody tr")).not_to_have_count(0)
    known = page.locator("table.side-by-side").get_by_text(re.compile("^connu dans"))
    before = {name for text in known.all_inner_texts() for name in text.removeprefix("connu dans : ").split(", ")}
    assert len(before) == 2, before  # the arrival's establishment, and the one that knew the person
    screenshot(page, "paire-a-examiner")

    merge = page.get_by_role("button", name="Fusionner : même personne")
    merge.click()  # without the confirmation the browser does not send the form
    expect(page.get_by_role("heading", name=re.compile("Paire douteuse n° "))).to_be_visible()
    page.get_by_label("Je confirme qu'il s'agit de la même personne").check()
    merge.click()

    expect(page.get_by_role("status")).to_contain_text("Fusion enregistrée")
    after = set(page.locator(".establishments").inner_text().split(", "))
    assert after == before, (before, after)
    expect(page.locator(".known-in")).to_have_text("2 établissements")
    history = page.get_by_role("region", name="Historique des liens")
    expect(history.get_by_role("cell", name="Fusion", exact=True)).to_have_count(1)
    screenshot(page, "patient-identitovigilance")

    # The decision is in the cell's history; then undone, the patient is known in one place again.
    page.get_by_role("link", name="Historique des décisions").click()
    expect(page.get_by_role("link", name="Même personne (fusion)").first).to_be_visible()
    page.go_back()
    history = page.get_by_role("region", name="Historique des liens")
    history.locator("summary", has_text="Annuler la fusion").click()
    history.get_by_label("Motif").fill("fusion à tort : vérification de la pièce d'identité")
    history.get_by_label(re.compile("Je confirme l'annulation")).check()
    history.get_by_role("button", name="Annuler la fusion").click()
    expect(page.get_by_role("status")).to_contain_text("Fusion annulée")
    expect(page.locator(".known-in")).to_have_text("1 établissement")


def test_the_workspace_is_reserved_to_the_identity_vigilance_cell(open_as):
    page = open_as("medecin")
    expect(page.get_by_role("link", name="Identitovigilance")).to_have_count(0)
    answer = page.goto("/identitovigilance")
    assert answer.status == 403
    expect(page.get_by_role("alert")).to_contain_text("réservé au rôle")
