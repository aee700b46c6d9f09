"""The demo web app's "Where you are signed in": a person sees their sign-ins and ends
another browser's, in cookie mode and in token-handoff mode alike. Alice's sign-ins from
earlier tests on the same servers are ended first, so each test counts its own."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    FRESH_PROFILE,
    THIRD_PARTY_COOKIES_ALLOWED,
    fetch_status,
    log_in_by_token_handoff,
    log_in_with_cookie,
)

pytestmark = pytest.mark.browser


def end_all_others(page):
    page.click("#end-others")
    expect(page.locator("#message")).to_contain_text("other session")
    expect(page.locator("#session-rows tr")).to_have_count(1)
    expect(page.locator("#session-rows tr").first).to_contain_text("This session")


def test_cookie_mode_lists_the_sign_ins_and_ends_another_browser(launch, steps, cross_site):
    mine = launch(THIRD_PARTY_COOKIES_ALLOWED).pages[0]
    log_in_with_cookie(mine, cross_site, steps)
    end_all_others(mine)
    other = launch(THIRD_PARTY_COOKIES_ALLOWED).pages[0]
    log_in_with_cookie(other, cross_site, steps)
    me = cross_site.api + "/api/v1/auth/me"
    assert fetch_status(other, me, credentials="include") == 200

    mine.click("#reload-sessions")
    rows = mine.locator("#session-rows tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="This session")).to_contain_text("127.0.0.1")
    steps.shot(mine, "two-browsers")
    rows.get_by_role("button", name="End").click()

    expect(mine.locator("#message")).to_contain_text("Session ended")
    expect(rows).to_have_count(1)
    steps.shot(mine, "the-other-ended")
    assert fetch_status(other, me, credentials="include") == 401
    assert fetch_status(mine, me, credentials="include") == 200


def test_token_mode_ends_every_other_sign_in_and_keeps_its_own(launch, steps, cross_site):
    other = launch(THIRD_PARTY_COOKIES_ALLOWED).pages[0]
    log_in_with_cookie(other, cross_site, steps)
    mine = launch(FRESH_PROFILE).pages[0]
    log_in_by_token_handoff(mine, cross_site, steps)
    rows = mine.locator("#session-rows tr")
    expect(rows.filter(has_text="This session")).to_have_count(1)
    steps.shot(mine, "token-mode-sessions")

    end_all_others(mine)

    steps.shot(mine, "others-ended")
    me = cross_site.api + "/api/v1/auth/me"
    assert fetch_status(other, me, credentials="include") == 401
    # This tab's own tokens still work.
    mine.click("#get-token")
    expect(mine.locator("#message")).to_contain_text("Got a new token pair")
    expect(mine.locator("#error")).to_be_hidden()
