"""The Django admin as people reach it: through "Continue with …" on /admin/login/ and the
identity provider, with a multi-factor login (the servers run with DEBUG off, so
ADMIN_MFA_REQUIRED is on). A super admin sees every organisation; an organisation admin
(Alice, of Acme) sees only Acme's people, and another organisation's person is not there
even when typed into the address bar; a viewer is told the admin is not for them; a login
to the web app without MFA is stepped up before the admin opens, and a step-up without
MFA is refused."""

import re

import pytest
from playwright.sync_api import expect

from accounts.devidp.demo import DEMO_OPERATOR
from tests.browser.conftest import FRESH_PROFILE, choose_demo_user

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("demo_people")]

ACME = ["alice@acme.example", "anna@acme.example", "victor@acme.example"]
GLOBEX = ["gina@globex.example", "gus@globex.example"]
OPERATORS = ["sam@operators.example", DEMO_OPERATOR["email"]]

# The provider's names: tests/idp.py's Alice, and accounts/devidp/demo.py's people (demo_people).
ALICE, SAM, VICTOR = "Alice Acme", "Sam Super", "Victor Viewer"


def choose_at_provider(page, steps, name, *, mfa_asked, mfa, step):
    """At the provider's chooser: its "Sign in with MFA" box is ticked exactly when the
    login asked for a multi-factor login; leave it or change it to `mfa`, then pick `name`."""
    expect(page.get_by_role("heading", name="Choose a demo user")).to_be_visible()
    box = page.get_by_role("checkbox", name=re.compile("^Sign in with MFA"))
    expect(box).to_be_checked(checked=mfa_asked)
    box.set_checked(mfa)
    choose_demo_user(page, steps, name, step=step)


def continue_to_admin_as(page, deployment, steps, name):
    """From a browser signed in nowhere: /admin/ sends to /admin/login/, whose "Continue
    with …" asks the provider for a multi-factor login; `name` is picked with MFA."""
    page.goto(deployment.api + "/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    expect(page.locator("#id_password")).to_have_count(0)
    continue_link = page.get_by_role("link", name=re.compile("^Continue with "))
    expect(continue_link).to_have_attribute("href", re.compile(r"^/auth/login\?.*step_up=mfa"))
    steps.shot(page, "admin-login")
    continue_link.click()
    choose_at_provider(page, steps, name, mfa_asked=True, mfa=True, step="idp-chooser-mfa")


def log_in_to_admin(page, deployment, steps, name):
    """`continue_to_admin_as`, ending on the admin's index."""
    continue_to_admin_as(page, deployment, steps, name)
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    steps.shot(page, "admin-index")


def log_in_to_web_app_without_mfa(page, deployment, steps, idp_server):
    """The demo web app's own login (cookie mode, same site), Alice picked with the MFA
    box left unticked: the API's session is a login without MFA."""
    page.goto(deployment.app_url)
    expect(page.locator("#status")).to_have_text("Logged out")
    page.click("#login")
    choose_at_provider(page, steps, ALICE, mfa_asked=False, mfa=False, step="idp-chooser-no-mfa")
    expect(page.locator("#status")).to_have_text("Logged in")
    expect(page.locator("#user-email")).to_have_text("alice@acme.example")
    steps.shot(page, "web-app-logged-in-without-mfa")
    assert [login["mfa"] for login in idp_server.provider.logins] == [False]


def record_logins(page, deployment):
    """The /auth/login URLs the page navigates to, in order."""
    starts = []
    page.on(
        "request",
        lambda request: (
            starts.append(request.url)
            if request.is_navigation_request()
            and request.url.startswith(deployment.api + "/auth/login?")
            else None
        ),
    )
    return starts


def user_list(page, deployment):
    page.goto(deployment.api + "/admin/accounts/user/")
    return page.locator("#result_list")


def change_url(deployment, database, email):
    return f"{deployment.api}/admin/accounts/user/{database.user_ids[email]}/change/"


def test_super_admin_signs_in_with_mfa_and_sees_every_organisation(
    launch, steps, same_site, idp_server
):
    page = launch(FRESH_PROFILE).pages[0]
    log_in_to_admin(page, same_site, steps, SAM)
    assert [login["mfa"] for login in idp_server.provider.logins] == [True]

    users = user_list(page, same_site)
    for email in [*ACME, *GLOBEX, *OPERATORS]:
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


def test_organisation_admin_signs_in_with_mfa_and_sees_only_their_organisation(
    launch, steps, same_site, browser_database
):
    page = launch(FRESH_PROFILE).pages[0]
    log_in_to_admin(page, same_site, steps, ALICE)

    users = user_list(page, same_site)
    for email in ACME:
        expect(users).to_contain_text(email)
    for email in [*GLOBEX, *OPERATORS]:
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


def test_viewer_is_told_the_admin_is_not_for_them_and_led_back_to_the_web_app(
    launch, steps, same_site
):
    page = launch(FRESH_PROFILE).pages[0]
    continue_to_admin_as(page, same_site, steps, VICTOR)
    expect(page.get_by_role("heading", name="You cannot use the admin")).to_be_visible()
    expect(page.locator("#content-main")).to_contain_text(
        "The admin is for organisation admins and super admins"
    )
    expect(page.locator("#content-main")).to_contain_text("victor@acme.example")
    steps.shot(page, "admin-refuses-viewer")

    # Typed into the address bar, an admin page says the same, with a 403.
    response = page.goto(same_site.api + "/admin/accounts/user/")
    assert response.status == 403
    expect(page.locator("#result_list")).to_have_count(0)
    expect(page.get_by_role("heading", name="You cannot use the admin")).to_be_visible()

    page.get_by_role("link", name="Back to the web app").click()
    expect(page).to_have_url(same_site.app_url)
    expect(page.locator("#status")).to_have_text("Logged in")
    expect(page.locator("#user-email")).to_have_text("victor@acme.example")
    expect(page.locator("#user-role")).to_have_text("viewer")
    steps.shot(page, "back-in-the-web-app")


def test_admin_asks_for_mfa_after_a_web_app_login_without_it(launch, steps, same_site, idp_server):
    page = launch(FRESH_PROFILE).pages[0]
    log_in_to_web_app_without_mfa(page, same_site, steps, idp_server)
    logins = record_logins(page, same_site)

    page.goto(same_site.api + "/admin/")
    # Sent through the provider again, which asks for MFA instead of reusing the login.
    expect(page.get_by_text("The application asks for a multi-factor login.")).to_be_visible()
    choose_at_provider(page, steps, ALICE, mfa_asked=True, mfa=True, step="idp-step-up")
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    steps.shot(page, "admin-index")
    assert len(logins) == 1 and "step_up=mfa" in logins[0], logins
    assert "next=%2Fadmin%2F" in logins[0], logins
    assert [login["mfa"] for login in idp_server.provider.logins] == [False, True]

    users = user_list(page, same_site)
    expect(users).to_contain_text("anna@acme.example")
    expect(users).not_to_contain_text("gus@globex.example")
    steps.shot(page, "users-of-acme-only")


def test_admin_stays_shut_when_the_step_up_skips_mfa(launch, steps, same_site, idp_server):
    page = launch(FRESH_PROFILE).pages[0]
    log_in_to_web_app_without_mfa(page, same_site, steps, idp_server)

    page.goto(same_site.api + "/admin/")
    choose_at_provider(page, steps, ALICE, mfa_asked=True, mfa=False, step="idp-step-up-unticked")
    expect(page.get_by_role("heading", name="We could not log you in")).to_be_visible()
    expect(page.locator("#error-code")).to_have_text("mfa_required")
    assert page.url.startswith(same_site.api + "/auth/callback"), page.url
    steps.shot(page, "login-error-mfa-required")
    assert [login["mfa"] for login in idp_server.provider.logins] == [False, False]

    # Still not in the admin: it sends her to the provider for MFA again.
    page.goto(same_site.api + "/admin/accounts/user/")
    expect(page.get_by_role("heading", name="Choose a demo user")).to_be_visible()
    expect(page.get_by_role("checkbox", name=re.compile("^Sign in with MFA"))).to_be_checked()
    steps.shot(page, "admin-asks-for-mfa-again")
