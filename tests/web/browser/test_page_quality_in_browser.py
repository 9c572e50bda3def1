"""What makes the pages usable between two patients, in a real Chromium on the demo territory:
a document opens in the browser as a PDF, imaging links to the producing site's viewer, a user
can log in and find a patient with the keyboard alone, every form control has a label, and the
main pages fit a 13-inch laptop's screen (no horizontal scrolling at 1280 x 800)."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from ght.db.engine import session_factory
from ght.directory.seed import DEMO_PASSWORD
from ght.identity.models import LocalIdentity
from ght.record.models import Resource


def _with(demo_engine, patient: str, resource_type: str) -> bool:
    with session_factory(demo_engine)() as db:
        return db.scalar(select(Resource.id).where(Resource.ght_patient_id == patient,
                                                   Resource.resource_type == resource_type).limit(1)) is not None


def test_a_document_opens_in_the_browser_and_imaging_links_to_its_viewer(open_as, patients, demo_engine):
    assert _with(demo_engine, patients["known"], "DocumentReference"), "the demo patient has no document"
    page = open_as("medecin")
    page.goto(f"/patients/{patients['known']}")
    document = page.locator(".item-documentreference .title a").first
    with page.expect_response(lambda r: "/documents/" in r.url) as answer:
        document.click()
    response = answer.value
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("inline")
    # Chromium shows it in its own PDF viewer (what the page's response body then holds): the
    # bytes the server sent are those of a PDF.
    assert page.url == response.url  # opened in the browser, not downloaded
    assert page.request.get(response.url).body().startswith(b"%PDF-")
    if _with(demo_engine, patients["known"], "ImagingStudy"):
        page.goto(f"/patients/{patients['known']}?type=ImagingStudy")
        viewer = page.locator(".item-imagingstudy .title a").first
        assert viewer.get_attribute("href").startswith("http") and "/studies/" in viewer.get_attribute("href")
        assert viewer.get_attribute("target") == "_blank" and viewer.get_attribute("rel") == "noopener"


def test_log_in_and_find_a_patient_with_the_keyboard_alone(browser, demo_server, patients):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="fr-FR", base_url=demo_server.url)
    try:
        page = context.new_page()
        page.goto("/")
        # The login field has the focus (autofocus) or the Tab order reaches it.
        for _ in range(15):
            if page.evaluate("document.activeElement.id") == "username":
                break
            page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "username"
        page.keyboard.type("medecin")
        page.keyboard.press("Tab")
        page.keyboard.type(DEMO_PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_label("Utilisateur connecté")).to_contain_text("Médecin")
        page.get_by_role("link", name="Patients").focus()
        page.keyboard.press("Enter")
        page.get_by_label("Nom (de naissance ou utilisé)").focus()
        page.keyboard.type(patients["birth_name"])
        page.keyboard.press("Tab")
        page.keyboard.type(patients["given"])
        page.keyboard.press("Enter")
        line = page.get_by_role("row").filter(has_text=patients["known"])
        line.get_by_role("link").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Parcours dans le GHT")).to_be_visible()
        # Focus is visible where the keyboard is.
        page.keyboard.press("Tab")
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    finally:
        context.close()


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(e => e.type !== 'hidden' && e.type !== 'submit')
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
    .map(e => e.name || e.id || e.outerHTML)"""
OVERFLOW = "() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"


def test_every_form_control_is_labelled_and_the_pages_fit_a_13_inch_screen(open_as, patients, demo_engine):
    with session_factory(demo_engine)() as db:
        identity = db.scalars(select(LocalIdentity).where(LocalIdentity.patient_id == patients["known"])).first()
    pages = {
        "medecin": ["/", "/patients", f"/patients?nom={identity.birth_name}", f"/patients/{patients['known']}",
                    f"/patients/{patients['known']}/acces", f"/patients/{patients['outside']}"],
        "identitovigilance": ["/identitovigilance", "/identitovigilance/decisions",
                              f"/identitovigilance/patients/{patients['known']}"],
        "dim": ["/dim"],
    }
    for account, paths in pages.items():
        page = open_as(account)
        for path in paths:
            page.goto(path)
            assert page.evaluate(UNLABELLED) == [], f"{path}: controls without a label"
            assert page.evaluate(OVERFLOW) <= 0, f"{path}: wider than a 1280-pixel screen"
