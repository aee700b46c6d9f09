"""The Django admin as its two kinds of operator see it: a super admin sees every
organisation; an organisation admin (Alice, of Acme) sees only Acme's people, and another
organisation's person is not there even when typed into the address bar."""

import re

import pytest
from playwright.sync_api import expect

from accounts.demo import DEMO_OPERATOR
from tests.browser.conftest import FRESH_PROFILE, ORG_ADMIN_PASSWORD

pytestmark = pytest.mark.browser

ACME = ["alice@acme.example", "anna@acme.example", "victor@acme.example"]
GLOBEX = ["gina@globex.example", "gus@globex.example"]


def log_in_to_admin(page, deployment, steps, email, password):
    page.goto(deployment.api + "/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    steps.shot(page, "admin-login")
    page.click("input[type=submit]")
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    steps.shot(page, "admin-index")


def user_list(page, deployment):
    page.goto(deployment.api + "/admin/accounts/user/")
    return page.locator("#result_list")


def change_url(deployment, database, email):
    return f"{deployment.api}/admin/accounts/user/{database.user_ids[email]}/change/"


def test_super_admin_sees_every_organisation(launch, steps, same_site):
    page = launch(FRESH_PROFILE).pages[0]
    log_in_to_admin(page, same_site, steps, DEMO_OPERATOR["email"], DEMO_OPERATOR["password"])

    users = user_list(page, same_site)
    for email in [*ACME, *GLOBEX, "sam@operators.example", DEMO_OPERATOR["email"]]:
        expect(users).to_contain_text(email)
    steps.shot(page, "users-of-every-organisation")

    users.get_by_role("link", name="gus@globex.example").click()
    expect(page.get_by_role("heading", name=re.compile("^Change user"))).to_be_visible()
    expect(page.locator("#id_email")).to_have_value("gus@globex.example")
    steps.shot(page, "change-form-of-globex-user")

    page.goto(same_site.api + "/admin/organisations/organisation/")
    organisations = page.locator("#result_list")
    expect(organisations).to_contain_text("Acme Analytics")
    expect(organisations).to_contain_text("Globex Corporation")
    steps.shot(page, "organisations")


def test_organisation_admin_sees_only_their_organisation(
    launch, steps, same_site, browser_database
):
    page = launch(FRESH_PROFILE).pages[0]
    log_in_to_admin(page, same_site, steps, "alice@acme.example", ORG_ADMIN_PASSWORD)

    users = user_list(page, same_site)
    for email in ACME:
        expect(users).to_contain_text(email)
    for email in [*GLOBEX, "sam@operators.example", DEMO_OPERATOR["email"]]:
        expect(users).not_to_contain_text(email)
    steps.shot(page, "users-of-acme-only")

    users.get_by_role("link", name="anna@acme.example").click()
    expect(page.get_by_role("heading", name=re.compile("^Change user"))).to_be_visible()
    # The email links logins to the account: shown, not editable, for an organisation admin.
    expect(page.locator(".field-email .readonly")).to_have_text("anna@acme.example")
    expect(page.locator("#id_email")).to_have_count(0)
    role_options = page.locator("#id_role option").all_inner_texts()
    assert role_options, "an organisation admin may change roles within Acme"
    assert not any("super" in option.lower() for option in role_options), role_options
    steps.shot(page, "change-form-of-acme-user")

    response = page.goto(change_url(same_site, browser_database, "gus@globex.example"))
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not Found")).to_be_visible()
    steps.shot(page, "globex-user-is-not-found")

    page.goto(same_site.api + "/admin/organisations/organisation/")
    organisations = page.locator("#result_list")
    expect(organisations).to_contain_text("Acme Analytics")
    expect(organisations).not_to_contain_text("Globex Corporation")
    steps.shot(page, "organisations")
