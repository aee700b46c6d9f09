"""Every admin list fits a 1,366 × 768 screen, the most common laptop size: a super admin
(who sees every column and the navigation sidebar) never scrolls sideways on the seeded
demo.

Self-contained: a server of its own on a database of its own, entered with the password
form (ADMIN_PASSWORD_LOGIN on, ADMIN_MFA_REQUIRED off: a password sign-in has no
multi-factor login to show)."""

import os

import pytest
from playwright.sync_api import expect

from accounts.devidp.demo import DEMO_OPERATOR
from tests.e2e.servers import E2EDatabase, Server

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1366, 768

# What the seeded demo lacks and a real deployment has: a tenant with a long name and an
# Auth0 organisation id, a member with a long address, identities, overrides and audit
# events of every type (with an IPv6 address).
_REALISTIC_ROWS = """
from datetime import timedelta
from django.utils import timezone
from accounts.models import AuditEvent, AuditType, ExternalIdentity, User
from organisations.access import setup_organisation_access
from organisations.models import (
    FeatureFlag, Organisation, OrganisationFeatureOverride, UserFeatureOverride,
)
org = Organisation.objects.create(
    name="Northwind Traders International", slug="northwind-traders-international",
    auth0_org_id="org_9zX8wV7uT6sR5qP4", industry="Wholesale distribution",
    subscription_plan="professional",
)
person = User.objects.create_user(
    "christopher.montgomery@northwind-traders.example", name="Christopher Montgomery",
    role="analyst", organisation=org, email_verified=True,
)
User.objects.filter(pk=person.pk).update(last_login=timezone.now())
setup_organisation_access(org)
for user in User.objects.all():
    ExternalIdentity.objects.create(
        user=user, issuer="https://northwind-production.eu.auth0.com/",
        subject=f"google-oauth2|1098765432109876543{user.pk:02d}",
    )
flag = FeatureFlag.objects.get(key="beta_exports")
in_a_month = timezone.now() + timedelta(days=30)
OrganisationFeatureOverride.objects.create(
    flag=flag, organisation=org, enabled=True, expires_at=in_a_month
)
UserFeatureOverride.objects.create(flag=flag, user=person, enabled=False, expires_at=in_a_month)
for type in AuditType.values:
    AuditEvent.objects.create(
        type=type, user=person, organisation=org, ip="2001:db8:85a3::8a2e:370:7334"
    )
"""


@pytest.fixture(scope="module")
def admin_server():
    database = E2EDatabase(f"authsite_admin_lists_{os.getpid()}")
    database.run_manage("seed_demo", env={"DEBUG": "true"})
    database.run_manage("shell", "-c", _REALISTIC_ROWS)
    server = Server(database, {"ADMIN_PASSWORD_LOGIN": "true", "ADMIN_MFA_REQUIRED": "false"})
    yield server
    server.stop()
    database.drop()
    server.assert_clean_log()


def test_every_list_fits_a_1366_pixel_screen(launch, steps, admin_server):
    context = launch(None)
    page = context.pages[0]
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    page.goto(admin_server.url + "/admin/login/")
    page.fill("#id_username", DEMO_OPERATOR["email"])
    page.fill("#id_password", DEMO_OPERATOR["password"])
    page.click("input[type=submit]")
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()

    lists = page.eval_on_selector_all(
        "#content-main th[scope=row] a", "links => links.map((link) => link.href)"
    )
    assert len(lists) >= 10, lists
    too_wide = {}
    for url in lists:
        page.goto(url)
        expect(page.locator("#changelist")).to_be_visible()
        # The page must not scroll, nor the list inside it (Django's CSS lets the table
        # scroll on its own, hiding its last columns).
        widths = page.evaluate(
            """() => {
                const results = document.querySelector("#changelist .results");
                return {
                    page: document.documentElement.scrollWidth,
                    list: results ? results.scrollWidth - results.clientWidth : 0,
                };
            }"""
        )
        steps.shot(page, url.rstrip("/").rsplit("/", 1)[-1])
        if widths["page"] > WIDTH or widths["list"] > 0:
            too_wide[url.split("/admin/", 1)[1]] = widths["list"] or widths["page"]
    assert not too_wide, too_wide
