"""The demo web app as a person uses it: cookie mode where the browser sends the API's
cookie to another site, the token handoff where it does not, and a same-site deployment."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    FRESH_PROFILE,
    THIRD_PARTY_COOKIES_ALLOWED,
    choose_demo_user,
    fetch_status,
    log_in_by_token_handoff,
    log_in_with_cookie,
)

pytestmark = pytest.mark.browser


def expect_alice(page):
    expect(page.locator("#user-name")).to_have_text("Alice Acme")
    expect(page.locator("#user-email")).to_have_text("alice@acme.example")
    expect(page.locator("#user-role")).to_have_text("admin")
    expect(page.locator("#org-name")).to_have_text("Acme Analytics")
    expect(page.locator("#applications li").first).to_be_visible()
    expect(page.locator("#features li", has_text="new_dashboard")).to_have_text("new_dashboard: on")
    expect(page.locator("#features li", has_text="ai_insights")).to_have_text("ai_insights: off")


def test_cookie_mode_across_sites_where_third_party_cookies_are_allowed(
    launch, steps, cross_site, idp_server
):
    context = launch(THIRD_PARTY_COOKIES_ALLOWED)
    page = context.pages[0]
    me = cross_site.api + "/api/v1/auth/me"

    log_in_with_cookie(page, cross_site, steps)
    expect(page.locator("#message")).to_contain_text("Logged in with the API's session cookie")
    expect_alice(page)
    steps.shot(page, "logged-in-cookie-mode")
    assert fetch_status(page, me, credentials="include") == 200

    page.click("#get-token")
    expect(page.locator("#message")).to_contain_text("Got an app access token")
    expect(page.locator("#token-expiry")).not_to_be_empty()
    first_token = page.locator("#token-id").inner_text()
    steps.shot(page, "app-token")

    page.click("#refresh")
    expect(page.locator("#message")).to_contain_text("Token refreshed")
    expect(page.locator("#token-id")).not_to_have_text(first_token)
    expect(page.locator("#error")).to_be_hidden()
    steps.shot(page, "refreshed")

    page.click("#logout")
    expect(page.locator("#status")).to_have_text("Logged out")
    expect(page.locator("#message")).to_contain_text("/api/v1/auth/me now answers 401")
    expect(page.locator("#profile")).to_be_hidden()
    expect(page.locator("#provider-logout")).to_have_attribute(
        "href", re.compile("^" + re.escape(idp_server.url + "oidc/logout?"))
    )
    steps.shot(page, "logged-out")
    assert fetch_status(page, me, credentials="include") == 401


def test_token_handoff_across_sites_where_third_party_cookies_are_blocked(
    launch, steps, cross_site
):
    """Chromium's default (a fresh profile) blocks third-party cookies: the app notices
    the 401 right after the cookie login, says why, and logs in again by token handoff."""
    context = launch(FRESH_PROFILE)
    page = context.pages[0]

    log_in_by_token_handoff(page, cross_site, steps)
    explanation = page.locator("#message")
    expect(explanation).to_contain_text("third-party cookies")
    expect(explanation).to_contain_text("Done: you are logged in by token handoff.")
    expect_alice(page)
    expect(page.locator("#token-expiry")).not_to_be_empty()
    steps.shot(page, "logged-in-token-mode")

    # The one-time code left the address bar at once, the verifier left storage, and no
    # access token was written there (what a reload may keep: test_demo_dpop.py).
    assert "login_code" not in page.url
    stored = page.evaluate(
        "() => JSON.stringify({local: {...localStorage}, session: {...sessionStorage}})"
    )
    assert "eyJ" not in stored
    assert "demo.handoff" not in page.evaluate("() => Object.keys(sessionStorage)")
    assert page.evaluate("() => localStorage.length") == 0
    # The API's session cookie exists, but the browser does not send it from this site.
    assert "sessionid" in {c["name"] for c in context.cookies(cross_site.api)}
    assert fetch_status(page, cross_site.api + "/api/v1/auth/me", credentials="include") == 401

    first_token = page.locator("#token-id").inner_text()
    page.click("#refresh")
    expect(page.locator("#message")).to_contain_text("Token refreshed")
    expect(page.locator("#token-id")).not_to_have_text(first_token)
    expect(page.locator("#token-expiry")).not_to_be_empty()
    steps.shot(page, "refreshed")

    page.click("#logout")
    expect(page.locator("#status")).to_have_text("Logged out")
    expect(page.locator("#message")).to_contain_text(
        "the old access token is refused (401 invalid_token)"
    )
    expect(page.locator("#message")).to_contain_text("so is the old refresh token (401")
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#provider-logout")).to_be_visible()
    steps.shot(page, "logged-out")


def test_logging_out_in_token_mode_also_ends_the_apis_own_session(launch, steps, cross_site):
    """The callback of a token-handoff login also starts a cookie session at the API (a
    first-party cookie of the API's site, which the web app cannot send). Logging out of
    the web app must end it too: otherwise the person, having logged out, is still
    logged in to the API (and, being staff, to its admin) in this browser for the whole
    idle timeout."""
    context = launch(FRESH_PROFILE)
    page = context.pages[0]

    log_in_by_token_handoff(page, cross_site, steps)
    page.click("#logout")
    expect(page.locator("#status")).to_have_text("Logged out")
    steps.shot(page, "logged-out")

    response = page.goto(cross_site.api + "/api/v1/auth/me")
    steps.shot(page, "api-me-opened-directly")
    assert response.status == 401, page.content()


def test_cookie_mode_same_site_where_third_party_cookies_are_blocked(launch, steps, same_site):
    """App and API on 127.0.0.1 (different ports, one site) with SameSite=Lax: the
    cookie is first-party, so blocking third-party cookies changes nothing."""
    context = launch(FRESH_PROFILE)
    page = context.pages[0]

    log_in_with_cookie(page, same_site, steps)
    expect_alice(page)
    steps.shot(page, "logged-in-cookie-mode")
    assert fetch_status(page, same_site.api + "/api/v1/auth/me", credentials="include") == 200

    page.click("#logout")
    expect(page.locator("#status")).to_have_text("Logged out")
    steps.shot(page, "logged-out")


@pytest.mark.parametrize("hostile", ["//evil.example", "https://evil.example/"])
def test_login_with_a_hostile_next_lands_on_the_default_page(launch, steps, cross_site, hostile):
    context = launch(THIRD_PARTY_COOKIES_ALLOWED)
    page = context.pages[0]

    page.goto(f"{cross_site.api}/auth/login?next={hostile}")
    choose_demo_user(page, steps)
    expect(page.locator("#status")).to_have_text("Logged in")
    assert page.url.startswith(cross_site.app + "/")
    assert "evil" not in page.url
    expect(page.locator("#user-name")).to_have_text("Alice Acme")
    steps.shot(page, "landed-on-demo-app")
