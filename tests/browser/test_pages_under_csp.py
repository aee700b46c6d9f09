"""The server's own pages work under its Content-Security-Policy: the interactive API
docs (Swagger UI from the sidecar, offline) render every operation, and the admin's
pages load without a single policy violation."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import FRESH_PROFILE
from tests.browser.test_admin import log_in_to_admin

pytestmark = pytest.mark.browser


def collect_violations(page):
    violations = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text
            or "Content-Security-Policy" in message.text
            else None
        ),
    )
    return violations


def test_api_docs_render_every_operation_offline(launch, steps, same_site):
    page = launch(FRESH_PROFILE).pages[0]
    violations = collect_violations(page)
    page.goto(same_site.api + "/api/docs/")
    for path in ("/api/v1/auth/me", "/api/v1/auth/token", "/api/v1/applications"):
        expect(page.get_by_text(path, exact=True).first).to_be_visible()
    steps.shot(page, "api-docs")
    assert violations == []


def test_admin_pages_raise_no_policy_violation(launch, steps, same_site, demo_people):
    page = launch(FRESH_PROFILE).pages[0]
    violations = collect_violations(page)
    log_in_to_admin(page, same_site, steps, "Sam Super")
    page.goto(same_site.api + "/admin/accounts/user/")
    expect(page.locator("#result_list")).to_be_visible()
    page.goto(same_site.api + "/admin/organisations/organisation/add/")
    expect(page.locator("#id_name")).to_be_visible()
    steps.shot(page, "admin-add-organisation")
    assert violations == []
