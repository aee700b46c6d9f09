"""The cookies as Chromium stores them, and what a page on an untrusted origin can do with
them (nothing: it cannot read the CSRF token, so it can neither log out nor mint tokens)."""

import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    FRESH_PROFILE,
    THIRD_PARTY_COOKIES_ALLOWED,
    fetch_status,
    log_in_with_cookie,
)

pytestmark = pytest.mark.browser

DAY = 24 * 3600


@pytest.mark.parametrize(
    ("deployment_name", "preferences"),
    [
        pytest.param("cross_site", THIRD_PARTY_COOKIES_ALLOWED, id="cross-site-SameSite-None"),
        pytest.param("same_site", FRESH_PROFILE, id="same-site-SameSite-Lax"),
    ],
)
def test_cookie_attributes_in_the_browsers_cookie_store(
    request, launch, steps, deployment_name, preferences
):
    deployment = request.getfixturevalue(deployment_name)
    context = launch(preferences)
    page = context.pages[0]

    log_in_with_cookie(page, deployment, steps)
    page.click("#get-token")
    expect(page.locator("#message")).to_contain_text("Got an app access token")
    steps.shot(page, "app-token")

    # Cookies are per host, not per port: on 127.0.0.1 they are the API's, and the local
    # identity provider's single-sign-on cookie, which is not this project's to shape.
    stored = [cookie for cookie in context.cookies() if cookie["name"] != "devidp_sso"]
    cookies = {cookie["name"]: cookie for cookie in stored if cookie["domain"] == "127.0.0.1"}
    session = cookies["sessionid"]
    assert session["domain"] == "127.0.0.1"
    assert session["path"] == "/"
    assert (session["httpOnly"], session["secure"]) == (True, True)
    assert session["sameSite"] == deployment.samesite
    # Persistent for the idle timeout (14 days), not a browser-session cookie.
    assert session["expires"] > time.time() + 13 * DAY

    refresh = cookies["refresh_token"]
    assert refresh["path"] == "/api/v1/auth/"
    assert (refresh["httpOnly"], refresh["secure"]) == (True, True)
    assert refresh["sameSite"] == deployment.samesite
    assert refresh["expires"] > time.time() + 29 * DAY

    csrf = cookies["csrftoken"]
    assert (csrf["httpOnly"], csrf["secure"]) == (True, True)
    assert csrf["sameSite"] == deployment.samesite

    # Every cookie carries the policy; the demo app sets none of its own, and its
    # script can read none of the API's (same-site, they share the host 127.0.0.1).
    for cookie in stored:
        assert cookie["domain"] == "127.0.0.1", cookie
        assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (
            True,
            True,
            deployment.samesite,
        ), cookie
    assert page.evaluate("() => document.cookie") == ""


@pytest.mark.parametrize(
    "attacker_host",
    [
        pytest.param("localhost", id="cross-site-attacker"),
        pytest.param("127.0.0.1", id="same-site-attacker"),
    ],
)
def test_a_page_without_the_csrf_token_cannot_log_out_or_mint_tokens(
    launch, steps, cross_site, attacker_site, attacker_host
):
    """A logged-in browser with third-party cookies allowed (so the session cookie does
    travel with the attacker's requests) opens a page on an origin the API does not
    trust: on another site, or on the API's own site but another port."""
    context = launch(THIRD_PARTY_COOKIES_ALLOWED)
    app = context.pages[0]
    log_in_with_cookie(app, cross_site, steps)
    steps.shot(app, "logged-in")

    attacker = context.new_page()
    attacker.goto(f"{attacker_site.origin(attacker_host)}/?api={cross_site.api}")
    expect(attacker.locator("#done")).to_be_visible()
    steps.shot(attacker, "attacker-script-attempts")
    outcomes = {
        item.get_attribute("data-attempt"): item.inner_text()
        for item in attacker.locator("#results li").all()
    }
    assert len(outcomes) == 6, outcomes
    for attempt in ("read-csrf-token", "logout", "mint-token"):
        assert "unreadable (TypeError" in outcomes[attempt], outcomes
    for attempt in ("logout-no-cors", "mint-token-no-cors", "refresh-no-cors"):
        assert "answer unreadable (opaque)" in outcomes[attempt], outcomes

    # Plain HTML forms are top-level navigations: the answer is shown to the person.
    for form, step in [("#forged-logout", "forged-logout"), ("#forged-token", "forged-token")]:
        with attacker.expect_navigation() as navigation:
            attacker.click(f"{form} button")
        assert navigation.value.status == 403
        expect(attacker.locator("body")).to_contain_text("csrf_failed")
        expect(attacker.locator("body")).to_contain_text("does not match any trusted origins")
        steps.shot(attacker, f"{step}-form-refused")
        attacker.go_back()

    # Still logged in, and no token was minted: a minted pair would have set the refresh
    # cookie, which the browser stores even when CORS hides the answer from the page.
    app.reload()
    expect(app.locator("#status")).to_have_text("Logged in")
    expect(app.locator("#user-name")).to_have_text("Alice Acme")
    steps.shot(app, "still-logged-in")
    assert fetch_status(app, cross_site.api + "/api/v1/auth/me", credentials="include") == 200
    token_endpoint_cookies = context.cookies(cross_site.api + "/api/v1/auth/token")
    assert "sessionid" in {cookie["name"] for cookie in token_endpoint_cookies}
    assert "refresh_token" not in {cookie["name"] for cookie in token_endpoint_cookies}
