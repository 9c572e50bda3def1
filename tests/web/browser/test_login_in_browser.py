"""Log in and out in a real Chromium: the user's role and establishment are always visible."""

from playwright.sync_api import expect


def test_login_shows_role_and_establishment_then_logout(open_as, screenshot, browser, demo_server):
    anonymous = browser.new_page(base_url=demo_server.url)
    anonymous.goto("/")
    expect(anonymous.get_by_role("heading", name="Connexion")).to_be_visible()
    screenshot(anonymous, "connexion")
    anonymous.close()

    page = open_as("medecin")
    who = page.get_by_label("Utilisateur connecté")
    expect(who).to_contain_text("Médecin")
    expect(who).to_contain_text("CHU")
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("heading", name="Connexion")).to_be_visible()


def test_wrong_password_is_refused_in_french(open_as):
    page = open_as("medecin", password="pas-le-bon")
    expect(page.get_by_role("alert")).to_have_text("Identifiant ou mot de passe incorrect.")
