"""The DIM dashboard in a real Chromium, on the demo territory (whose PMSI files `ght demo
start` imported): the DIM physician sees the charts and the readmission list under
pseudonyms, the nominative view on request; a clinician sees the same charts, small counts
masked, no patient-level table and no GHT id."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from ght.db.engine import session_factory
from ght.dim.models import DimRum

CHARTS = ("Activité par établissement", "Activité par mois de sortie", "Pyramide des âges (séjours, âge à l'entrée)",
          "Case-mix par chapitre de la CIM-10 (diagnostic principal)")
LIST = "Réhospitalisations à 30 jours : liste des patients"


def _ght_ids(engine) -> set[str]:
    with session_factory(engine)() as db:
        return set(db.scalars(select(DimRum.ght_patient_id).where(DimRum.ght_patient_id.is_not(None)).distinct()))


def _expect_charts(page) -> None:
    for title in CHARTS:
        chart = page.get_by_role("img", name=title)
        expect(chart).to_be_visible()
        expect(chart.locator("rect")).not_to_have_count(0)


def test_dim_physician_sees_pseudonyms_then_the_nominative_view(open_as, demo_engine, screenshot):
    page = open_as("dim")
    page.get_by_role("navigation", name="Espaces de travail").get_by_role("link", name="DIM").click()
    expect(page.get_by_role("heading", name="Activité PMSI MCO du GHT")).to_be_visible()
    _expect_charts(page)
    expect(page.get_by_text("les patients sont désignés par un pseudonyme")).to_be_visible()
    listed = page.locator("section", has=page.get_by_role("heading", name=LIST))
    cells = listed.locator("tbody tr td:first-child").all_inner_texts()
    assert cells and all(re.fullmatch(r"v1-[0-9a-f]{16}", c) for c in cells), cells
    ght_ids = _ght_ids(demo_engine)
    assert ght_ids and not ght_ids & set(re.findall(r"[\w-]+", page.content()))
    screenshot(page, "dim-tableau-de-bord")

    page.get_by_role("link", name="Afficher les données nominatives").click()
    expect(page.get_by_text("les patients sont désignés par leur identifiant GHT")).to_be_visible()
    named = set(listed.locator("tbody tr td:first-child").all_inner_texts())
    assert named and named <= ght_ids


def test_another_role_sees_masked_aggregates_only(open_as, demo_engine):
    page = open_as("medecin")
    expect(page.get_by_role("navigation", name="Espaces de travail").get_by_role("link", name="DIM")).to_have_count(0)
    page.goto("/dim")
    expect(page.get_by_text("Agrégats : les effectifs inférieurs à 10 sont masqués.")).to_be_visible()
    _expect_charts(page)
    expect(page.get_by_role("cell", name="< 10").first).to_be_visible()
    expect(page.get_by_role("heading", name=LIST)).to_have_count(0)
    assert not _ght_ids(demo_engine) & set(re.findall(r"[\w-]+", page.content()))
    assert "v1-" not in page.content()

    refused = page.goto("/dim?nominatif=true")
    assert refused.status == 403
    expect(page.get_by_role("alert")).to_contain_text("données nominatives du DIM réservées au médecin DIM")
